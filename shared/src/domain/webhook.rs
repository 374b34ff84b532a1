//! Outbound webhooks: a company's endpoints, the events they want, how deliveries are
//! signed (Standard Webhooks, and the seed's `X-Webhook-Signature`), and which addresses
//! a delivery may never reach.

use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;
use uuid::Uuid;

use super::text::control_free;
use super::{CompanyId, FieldErrors, Timestamp};

/// What an endpoint may subscribe to; `*` is every one of them.
pub const EVENT_TYPES: &[&str] = &[
    "lead.created",
    "lead.updated",
    "lead.status_changed",
    "lead.score_changed",
    "lead.deleted",
    "conversation.started",
    "conversation.closed",
    "conversation.reopened",
    "conversation.handoff",
    "message.received",
    "message.sent",
    "message.status",
];

pub const SECRET_PREFIX: &str = "whsec_";

/// What an endpoint URL may be: http(s), a host name or IPv4 address, an optional port,
/// path and query; no credentials, no fragment. The contract states this very pattern.
pub const URL_PATTERN: &str = concat!(
    r"^https?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*",
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?",
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$"
);
pub const MAX_URL_CHARS: usize = 2048;

/// A company's outbound endpoint. Its secret is kept apart and never answered again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub company_id: CompanyId,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub active: bool,
    /// Why the endpoint was disabled (410, or failing for days), for the admins to see.
    pub disabled_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a request sets on an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointFields {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub active: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointInput {
    url: Option<String>,
    events: Option<Vec<String>>,
    description: Option<String>,
    active: Option<bool>,
    secret: Option<String>,
}

impl EndpointFields {
    /// A new endpoint and its secret, if the request brings one, from a request body.
    /// The address rules (`ssrf`) are checked apart: they need DNS.
    pub fn parse(body: Value) -> Result<(EndpointFields, Option<String>), FieldErrors> {
        let input: EndpointInput = super::parse_body(body)?;
        let mut errors = FieldErrors::new();
        let url = match input.url {
            None => {
                errors.missing("url");
                String::new()
            }
            Some(u) => {
                check_url_syntax(&u, &mut errors);
                u
            }
        };
        let events = match input.events {
            None => {
                errors.missing("events");
                Vec::new()
            }
            Some(list) => check_events(list, &mut errors),
        };
        let description = input.description.filter(|d| !d.trim().is_empty());
        if description
            .as_deref()
            .is_some_and(|d| d.chars().count() > 500 || !control_free(d.trim(), true))
        {
            errors.add(
                "description",
                "must be at most 500 characters, without control characters",
            );
        }
        if let Some(secret) = &input.secret {
            if !valid_secret(secret) {
                errors.add(
                    "secret",
                    "must be 24 to 128 visible ASCII characters (a `whsec_` secret, or your own)",
                );
            }
        }
        errors.into_result()?;
        Ok((
            EndpointFields {
                url,
                events,
                description: description.map(|d| d.trim().to_string()),
                active: input.active.unwrap_or(true),
            },
            input.secret,
        ))
    }

    /// These fields with a JSON Merge Patch applied, checked again as a whole.
    pub fn patched(&self, patch: &Value) -> Result<EndpointFields, FieldErrors> {
        let Value::Object(map) = patch else {
            return Err(FieldErrors::one("body", "must be a JSON object"));
        };
        if map.contains_key("secret") {
            return Err(FieldErrors::one(
                "secret",
                "cannot be changed: create a new endpoint",
            ));
        }
        let mut current = Map::new();
        current.insert("url".into(), Value::from(self.url.clone()));
        current.insert("events".into(), Value::from(self.events.clone()));
        if let Some(d) = &self.description {
            current.insert("description".into(), Value::from(d.clone()));
        }
        current.insert("active".into(), Value::from(self.active));
        let mut merged = Value::Object(current);
        super::merge_patch::apply(&mut merged, patch);
        EndpointFields::parse(merged).map(|(f, _)| f)
    }
}

fn check_url_syntax(url: &str, errors: &mut FieldErrors) {
    static PATTERN: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let pattern = PATTERN.get_or_init(|| regex::Regex::new(URL_PATTERN).ok());
    let ok =
        url.chars().count() <= MAX_URL_CHARS && pattern.as_ref().is_some_and(|p| p.is_match(url));
    if !ok {
        errors.add(
            "url",
            "must be an http(s) URL of at most 2048 characters: a host name or IPv4 address, \
             an optional port, path and query; no credentials or fragment",
        );
    }
}

fn check_events(list: Vec<String>, errors: &mut FieldErrors) -> Vec<String> {
    let mut events: Vec<String> = Vec::new();
    for e in list {
        if e == "*" || EVENT_TYPES.contains(&e.as_str()) {
            if !events.contains(&e) {
                events.push(e);
            }
        } else {
            errors.add(
                "events",
                format!(
                    "{e:?} is not an event: use * or any of {}",
                    EVENT_TYPES.join(", ")
                ),
            );
        }
    }
    if events.is_empty() && errors.is_empty() {
        errors.add("events", "must name at least one event (or *)");
    }
    events
}

pub fn valid_secret(secret: &str) -> bool {
    (24..=128).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_graphic())
}

impl WebhookEndpoint {
    pub fn wants(&self, event: &str) -> bool {
        self.active && self.events.iter().any(|e| e == "*" || e == event)
    }
}

/// The headers that sign a delivery: Standard Webhooks (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`, keyed by the
/// base64 after `whsec_`, or by the secret's bytes when it is not one) and the seed's
/// `X-Webhook-Signature: sha256=<hex HMAC of the body under the secret as written>`.
pub fn signature_headers(
    secret: &str,
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let key = secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b| STANDARD.decode(b).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let standard = match Hmac::<Sha256>::new_from_slice(&key) {
        Ok(mut mac) => {
            mac.update(format!("{message_id}.{timestamp}.").as_bytes());
            mac.update(body);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    };
    vec![
        ("webhook-id", message_id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", standard),
        (
            "x-webhook-signature",
            crate::signature::sign_sha256(secret.as_bytes(), body),
        ),
    ]
}

/// A new endpoint's secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> super::DomainResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| super::DomainError::NoRandomness(e.to_string()))?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// Whether a delivery may go to `ip`: never to loopback, private, link-local, shared,
/// unspecified, broadcast, multicast or documentation addresses (SSRF).
pub fn public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_address(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn private_loopback_and_link_local_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::",
        ] {
            assert!(!public_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2606:4700:4700::1111", "::ffff:1.1.1.1"] {
            assert!(public_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn endpoints_name_known_events_and_a_sane_url() {
        let (f, secret) = EndpointFields::parse(json!({"url": "https://erp.padaria.com.br/hooks",
            "events": ["lead.created", "lead.created", "message.received"]}))
        .unwrap();
        assert_eq!(f.events, ["lead.created", "message.received"]);
        assert_eq!(secret, None);
        let e = EndpointFields::parse(json!({"url": "ftp://x", "events": ["lead.exploded"]}))
            .unwrap_err();
        assert!(e.fields().contains_key("url") && e.fields().contains_key("events"));
        let e = EndpointFields::parse(json!({"url": "https://user:pw@x.com", "events": ["*"]}))
            .unwrap_err();
        assert!(e.fields().contains_key("url"));
    }

    #[test]
    fn standard_webhooks_signs_id_timestamp_and_body() {
        // The Standard Webhooks specification's own example.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let h = signature_headers(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(h[2].1, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(crate::signature::verify_sha256(
            secret.as_bytes(),
            body,
            Some(&h[3].1)
        ));
    }
}

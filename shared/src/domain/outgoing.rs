//! An outgoing channel message, checked against WhatsApp's limits (and Instagram's and
//! Messenger's when it goes there) before anything is recorded or sent.

use chrono::Duration;
use serde_json::{json, Map, Value};

use super::conversation::Conversation;
use super::{FieldErrors, Timestamp};

/// A message to send, checked against WhatsApp's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub(crate) kind: String,
    /// The `type`-named part of the Cloud API payload.
    pub(crate) part: Value,
    pub(crate) reply_to: Option<String>,
    /// What the stored message shows as its content.
    pub(crate) summary: String,
    /// The caller's own `metadata`, kept on the stored message.
    pub(crate) metadata: Option<Map<String, Value>>,
}

fn text_len_ok(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max
}

impl Outgoing {
    pub fn parse(body: &Map<String, Value>) -> Result<Outgoing, FieldErrors> {
        let mut errors = FieldErrors::new();
        for key in body.keys() {
            if ![
                "type",
                "text",
                "template",
                "media",
                "interactive",
                "reply_to",
                "conversation_id",
                "content",
                "metadata",
            ]
            .contains(&key.as_str())
            {
                errors.add(key.clone(), "is not a field of a message");
            }
        }
        let kind = body
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("text")
            .to_string();
        let (part, summary) = match kind.as_str() {
            "text" => {
                // `text` as a string or as WhatsApp's `{"body": …}`, or the seed's `content`.
                let (field, text) = match (body.get("text"), body.get("content")) {
                    (Some(Value::String(t)), None) => ("text", t.as_str()),
                    (Some(Value::Object(t)), None) => (
                        "text",
                        t.get("body").and_then(Value::as_str).unwrap_or_default(),
                    ),
                    (None, Some(Value::String(c))) => ("content", c.as_str()),
                    (Some(_), Some(_)) => {
                        errors.add(
                            "content",
                            "is the text of a message: send `text` or `content`, not both",
                        );
                        ("text", "")
                    }
                    (None, _) | (Some(_), None) => ("text", ""),
                };
                if !text_len_ok(text, 4096) {
                    errors.add(field, "must be 1 to 4096 characters");
                }
                (
                    json!({"preview_url": false, "body": text}),
                    text.to_string(),
                )
            }
            "template" => {
                let t = body.get("template").cloned().unwrap_or(Value::Null);
                let name = t["name"].as_str().unwrap_or_default();
                let language = t["language"]
                    .as_str()
                    .or(t["language"]["code"].as_str())
                    .unwrap_or_default();
                if name.is_empty() || name.chars().count() > 512 {
                    errors.add("template.name", "is required");
                }
                if language.is_empty() {
                    errors.add("template.language", "is required, e.g. pt_BR");
                }
                if !(t["components"].is_null() || t["components"].is_array()) {
                    errors.add("template.components", "must be a list");
                }
                let mut part = json!({"name": name, "language": {"code": language}});
                if t["components"].is_array() {
                    part["components"] = t["components"].clone();
                }
                (part, format!("[template {name}]"))
            }
            "image" | "document" | "audio" | "video" => {
                let m = body.get("media").cloned().unwrap_or(Value::Null);
                // Each part, when present, is text: a null or a number is not "absent".
                let mut text_of = |name: &str| match m.get(name) {
                    None => None,
                    Some(Value::String(v)) => Some(v.clone()),
                    Some(_) => {
                        errors.add(format!("media.{name}"), "must be text");
                        None
                    }
                };
                let (link, id) = (text_of("link"), text_of("id"));
                let (caption, filename) = (text_of("caption"), text_of("filename"));
                let mut part = Map::new();
                match (link, id) {
                    (Some(link), None)
                        if link.starts_with("https://") || link.starts_with("http://") =>
                    {
                        part.insert("link".into(), json!(link));
                    }
                    (None, Some(id)) if !id.is_empty() => {
                        part.insert("id".into(), json!(id));
                    }
                    _ => errors.add(
                        "media",
                        "needs exactly one of an http(s) `link` or a media `id`",
                    ),
                }
                if let Some(caption) = &caption {
                    if kind == "audio" || caption.chars().count() > 1024 {
                        errors.add(
                            "media.caption",
                            "is up to 1024 characters, and not for audio",
                        );
                    }
                    part.insert("caption".into(), json!(caption));
                }
                if let Some(filename) = filename {
                    if kind != "document" || !(1..=240).contains(&filename.chars().count()) {
                        errors.add("media.filename", "is for documents, 1 to 240 characters");
                    }
                    part.insert("filename".into(), json!(filename));
                }
                let summary = caption.unwrap_or_else(|| format!("[{kind}]"));
                (Value::Object(part), summary)
            }
            "interactive" => {
                let i = body.get("interactive").cloned().unwrap_or(Value::Null);
                let text = i["body"]["text"].as_str().unwrap_or_default();
                if !text_len_ok(text, 1024) {
                    errors.add("interactive.body.text", "must be 1 to 1024 characters");
                }
                match i["type"].as_str() {
                    Some("button") => {
                        let buttons = i["action"]["buttons"]
                            .as_array()
                            .map(Vec::as_slice)
                            .unwrap_or_default();
                        if buttons.is_empty() || buttons.len() > 3 {
                            errors.add("interactive.action.buttons", "must be 1 to 3 buttons");
                        }
                        if buttons.iter().any(|b| {
                            !b["reply"]["id"].is_string()
                                || !b["reply"]["title"]
                                    .as_str()
                                    .is_some_and(|t| text_len_ok(t, 20))
                        }) {
                            errors.add(
                                "interactive.action.buttons",
                                "each needs a reply id and a title of 1 to 20 characters",
                            );
                        }
                    }
                    Some("list") => {
                        // WhatsApp allows 10 rows in all; the total is Meta's to check, so
                        // that the contract can state every rule checked here.
                        let sections = i["action"]["sections"]
                            .as_array()
                            .map(Vec::as_slice)
                            .unwrap_or_default();
                        let rows_ok = |s: &Value| {
                            s["rows"].as_array().is_some_and(|rows| {
                                (1..=10).contains(&rows.len())
                                    && rows.iter().all(|r| {
                                        r["id"].is_string()
                                            && r["title"]
                                                .as_str()
                                                .is_some_and(|t| text_len_ok(t, 24))
                                    })
                            })
                        };
                        if sections.is_empty()
                            || sections.len() > 10
                            || !sections.iter().all(rows_ok)
                        {
                            errors.add(
                                "interactive.action.sections",
                                "must be 1 to 10 sections, each of 1 to 10 rows with an id and a title of 1 to 24 characters",
                            );
                        }
                        if !i["action"]["button"]
                            .as_str()
                            .is_some_and(|t| text_len_ok(t, 20))
                        {
                            errors.add("interactive.action.button", "must be 1 to 20 characters");
                        }
                    }
                    _ => errors.add("interactive.type", "must be one of: button, list"),
                }
                let summary = text.to_string();
                (i, summary)
            }
            other => {
                errors.add("type", format!("{other:?} is not one of: text, template, image, document, audio, video, interactive"));
                (Value::Null, String::new())
            }
        };
        let metadata = match body.get("metadata") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                super::check_document("metadata", &Value::Object(m.clone()), &mut errors);
                Some(m.clone())
            }
            Some(_) => {
                errors.add("metadata", "must be a JSON object");
                None
            }
        };
        // A part that does not belong to the type would be dropped unsent: say so.
        for (field, kinds) in [
            ("text", &["text"][..]),
            ("content", &["text"][..]),
            ("template", &["template"][..]),
            ("media", &["image", "document", "audio", "video"][..]),
            ("interactive", &["interactive"][..]),
        ] {
            if body.contains_key(field) && !kinds.contains(&kind.as_str()) {
                errors.add(field, format!("is not a field of a {kind} message"));
            }
        }
        let reply_to = match body.get("reply_to") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
            Some(_) => {
                errors.add("reply_to", "must be the id of a message");
                None
            }
        };
        errors.into_result()?;
        Ok(Outgoing {
            kind,
            part,
            reply_to,
            summary,
            metadata,
        })
    }

    pub fn is_template(&self) -> bool {
        self.kind == "template"
    }

    /// The Send API body (Instagram, Messenger) for a message to a page-scoped `user`:
    /// text, or media by link.
    pub fn messenger_payload(&self, user: &str) -> Result<Value, FieldErrors> {
        let message = match self.kind.as_str() {
            "text" => {
                let text = self.part["body"].as_str().unwrap_or_default();
                if text.chars().count() > 2000 {
                    return Err(FieldErrors::one(
                        "text",
                        "must be at most 2000 characters on Instagram and Messenger",
                    ));
                }
                json!({"text": text})
            }
            "image" | "video" | "audio" | "document" => {
                let Some(url) = self.part["link"].as_str() else {
                    return Err(FieldErrors::one(
                        "media",
                        "Instagram and Messenger take media by link",
                    ));
                };
                let kind = if self.kind == "document" {
                    "file"
                } else {
                    self.kind.as_str()
                };
                json!({"attachment": {"type": kind, "payload": {"url": url, "is_reusable": true}}})
            }
            other => {
                return Err(FieldErrors::one(
                    "type",
                    format!("{other} messages go on WhatsApp only"),
                ));
            }
        };
        let mut payload =
            json!({"recipient": {"id": user}, "messaging_type": "RESPONSE", "message": message});
        if let Some(id) = &self.reply_to {
            payload["message"]["reply_to"] = json!({"mid": id});
        }
        Ok(payload)
    }

    /// The Cloud API request body for a message to `to` (E.164 digits).
    pub fn whatsapp_payload(&self, to: &str) -> Value {
        let mut payload = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": self.kind,
        });
        payload[&self.kind] = self.part.clone();
        if let Some(id) = &self.reply_to {
            payload["context"] = json!({"message_id": id});
        }
        payload
    }
}

/// Free-form messages may go within 24 hours of the customer's last message, unless Meta
/// said the window closed (131047) after that message.
pub fn window_open(conv: &Conversation) -> bool {
    let Some(last_inbound) = conv.last_inbound_at else {
        return false;
    };
    let closed_since = conv.metadata["window_closed_at"]
        .as_str()
        .and_then(Timestamp::parse)
        .is_some_and(|closed| closed > last_inbound);
    !closed_since && Timestamp::now().inner() - last_inbound.inner() <= Duration::hours(24)
}

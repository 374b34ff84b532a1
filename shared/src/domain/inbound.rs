//! What Meta's webhooks carry, as domain events: WhatsApp Cloud API (`whatsapp_business_account`),
//! Instagram (`instagram`) and Messenger (`page`) batches, every entry × change × message/status
//! and every entry × messaging/standby item.
//!
//! Parsing is tolerant: Meta adds fields and types over time; what is not understood becomes
//! an [`Event::Ignored`] with its reason, never an error.

use serde_json::{json, Value};

use super::conversation::Channel;
use super::phone::Phone;
use super::Timestamp;

/// Delivery states of a message, in the only order they may move.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Sent,
    Delivered,
    Read,
    /// Terminal: nothing moves a failed message again.
    Failed,
}

impl DeliveryStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    pub fn rank(&self) -> i64 {
        *self as i64
    }
}

/// Who wrote: a WhatsApp number, or an Instagram/Messenger user by the page-scoped id.
#[derive(Debug, Clone, PartialEq)]
pub enum Contact {
    Phone {
        phone: Phone,
        name: Option<String>,
    },
    Scoped {
        user_id: String,
        name: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    pub channel: Channel,
    /// The phone-number id, Instagram account id or page id it was sent to.
    pub account_id: String,
    pub contact: Contact,
    pub external_id: String,
    pub kind: String,
    pub content: String,
    pub metadata: Value,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusEvent {
    pub channel: Channel,
    pub account_id: String,
    pub external_id: String,
    pub status: DeliveryStatus,
    pub at: Timestamp,
    /// Meta's error: code, title, message, details.
    pub error: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(InboundMessage),
    Status(StatusEvent),
    Ignored {
        account_id: Option<String>,
        reason: String,
    },
}

fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn secs(v: &Value) -> Option<Timestamp> {
    s(v).and_then(|t| t.parse::<i64>().ok())
        .and_then(Timestamp::from_unix_seconds)
}

fn millis(v: &Value) -> Option<Timestamp> {
    v.as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .and_then(|d| Timestamp::parse(&d.to_rfc3339()))
}

/// Every event of one webhook delivery.
pub fn parse(body: &Value) -> Vec<Event> {
    let entries = body["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = Vec::new();
    match body["object"].as_str() {
        Some("whatsapp_business_account") => {
            for entry in entries {
                for change in entry["changes"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    whatsapp_change(&change["value"], &mut out);
                }
            }
        }
        Some(object @ ("instagram" | "page")) => {
            let channel = if object == "instagram" {
                Channel::Instagram
            } else {
                Channel::Facebook
            };
            for entry in entries {
                let account = s(&entry["id"]);
                for list in ["messaging", "standby"] {
                    for item in entry[list]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                    {
                        messaging_item(channel, account.clone(), item, &mut out);
                    }
                }
            }
        }
        other => out.push(Event::Ignored {
            account_id: None,
            reason: format!("object {other:?} is not a channel this service handles"),
        }),
    }
    out
}

fn whatsapp_change(value: &Value, out: &mut Vec<Event>) {
    let Some(account) = s(&value["metadata"]["phone_number_id"]) else {
        out.push(Event::Ignored {
            account_id: None,
            reason: "a change without metadata.phone_number_id".into(),
        });
        return;
    };
    let contacts = value["contacts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let name_of = |wa_id: &str| {
        contacts
            .iter()
            .find(|c| c["wa_id"].as_str() == Some(wa_id))
            .and_then(|c| c["profile"]["name"].as_str())
            .map(str::to_string)
    };
    for m in value["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let (Some(from), Some(id), Some(at)) =
            (m["from"].as_str(), m["id"].as_str(), secs(&m["timestamp"]))
        else {
            out.push(Event::Ignored {
                account_id: Some(account.clone()),
                reason: "a message without from, id or timestamp".into(),
            });
            continue;
        };
        let Ok(phone) = Phone::parse(from) else {
            out.push(Event::Ignored {
                account_id: Some(account.clone()),
                reason: format!("sender {from:?} is not a phone number"),
            });
            continue;
        };
        let kind = m["type"].as_str().unwrap_or("unknown").to_string();
        let Some((content, mut metadata)) = whatsapp_content(&kind, m) else {
            out.push(Event::Ignored {
                account_id: Some(account.clone()),
                reason: format!("message type {kind:?} ({id}) is not stored"),
            });
            continue;
        };
        if let Some(reply_to) = m["context"]["id"].as_str() {
            metadata["reply_to"] = json!(reply_to);
        }
        out.push(Event::Message(InboundMessage {
            channel: Channel::Whatsapp,
            account_id: account.clone(),
            contact: Contact::Phone {
                name: name_of(from),
                phone,
            },
            external_id: id.to_string(),
            kind,
            content,
            metadata,
            at,
        }));
    }
    for st in value["statuses"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let (Some(id), Some(status), Some(at)) = (
            st["id"].as_str(),
            st["status"].as_str().and_then(DeliveryStatus::parse),
            secs(&st["timestamp"]),
        ) else {
            out.push(Event::Ignored {
                account_id: Some(account.clone()),
                reason: "a status without id, known status or timestamp".into(),
            });
            continue;
        };
        let error = st["errors"].as_array().and_then(|e| e.first()).map(|e| {
            json!({
                "code": e["code"],
                "title": e["title"],
                "message": e["message"],
                "details": e["error_data"]["details"],
            })
        });
        out.push(Event::Status(StatusEvent {
            channel: Channel::Whatsapp,
            account_id: account.clone(),
            external_id: id.to_string(),
            status,
            at,
            error,
        }));
    }
}

/// A WhatsApp message's text and what else it carries; `None` for what is not stored
/// (reactions, unsupported types).
fn whatsapp_content(kind: &str, m: &Value) -> Option<(String, Value)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let media = |v: &Value| json!({"media": {"id": v["id"], "mime_type": v["mime_type"], "sha256": v["sha256"], "filename": v["filename"]}});
    Some(match kind {
        "text" => (text(&m["text"]["body"]), json!({})),
        "image" | "video" | "document" | "audio" | "sticker" => {
            (text(&m[kind]["caption"]), media(&m[kind]))
        }
        "location" => {
            let l = &m["location"];
            (
                [l["name"].as_str(), l["address"].as_str()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", "),
                json!({"location": {"latitude": l["latitude"], "longitude": l["longitude"]}}),
            )
        }
        "contacts" => {
            let names: Vec<String> = m["contacts"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c["name"]["formatted_name"].as_str().map(str::to_string))
                .collect();
            (names.join(", "), json!({"contacts": m["contacts"]}))
        }
        "interactive" => {
            let i = &m["interactive"];
            let reply = if i["type"] == "list_reply" {
                &i["list_reply"]
            } else {
                &i["button_reply"]
            };
            (
                text(&reply["title"]),
                json!({"reply": {"type": i["type"], "id": reply["id"], "description": reply["description"]}}),
            )
        }
        "button" => (
            text(&m["button"]["text"]),
            json!({"payload": m["button"]["payload"]}),
        ),
        _ => return None,
    })
}

fn messaging_item(channel: Channel, account: Option<String>, item: &Value, out: &mut Vec<Event>) {
    let Some(account) = account.or_else(|| s(&item["recipient"]["id"])) else {
        out.push(Event::Ignored {
            account_id: None,
            reason: "a messaging item without an account id".into(),
        });
        return;
    };
    let at = millis(&item["timestamp"]).unwrap_or_else(Timestamp::now);
    let ignored = |reason: String| Event::Ignored {
        account_id: Some(account.clone()),
        reason,
    };
    let message = &item["message"];
    if message.is_object() {
        if message["is_echo"] == true {
            out.push(ignored("an echo of the page's own message".into()));
            return;
        }
        if message["is_deleted"] == true {
            out.push(ignored("the customer deleted a message".into()));
            return;
        }
        let (Some(user), Some(mid)) = (s(&item["sender"]["id"]), message["mid"].as_str()) else {
            out.push(ignored("a message without sender or mid".into()));
            return;
        };
        let attachments = message["attachments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let kind = if message["text"].is_string() {
            "text".to_string()
        } else {
            attachments
                .first()
                .and_then(|a| a["type"].as_str())
                .unwrap_or("unknown")
                .to_string()
        };
        let mut metadata = json!({});
        if !attachments.is_empty() {
            metadata["attachments"] = Value::Array(attachments);
        }
        if let Some(reply_to) = message["reply_to"]["mid"].as_str() {
            metadata["reply_to"] = json!(reply_to);
        }
        out.push(Event::Message(InboundMessage {
            channel,
            account_id: account.clone(),
            contact: Contact::Scoped {
                user_id: user,
                name: None,
            },
            external_id: mid.to_string(),
            kind,
            content: message["text"].as_str().unwrap_or_default().to_string(),
            metadata,
            at,
        }));
    } else if item["postback"].is_object() {
        let p = &item["postback"];
        let (Some(user), Some(mid)) = (s(&item["sender"]["id"]), p["mid"].as_str()) else {
            out.push(ignored("a postback without sender or mid".into()));
            return;
        };
        out.push(Event::Message(InboundMessage {
            channel,
            account_id: account.clone(),
            contact: Contact::Scoped {
                user_id: user,
                name: None,
            },
            external_id: mid.to_string(),
            kind: "postback".into(),
            content: p["title"].as_str().unwrap_or_default().to_string(),
            metadata: json!({"payload": p["payload"]}),
            at,
        }));
    } else if let Some(mids) = item["delivery"]["mids"].as_array() {
        for mid in mids.iter().filter_map(Value::as_str) {
            out.push(Event::Status(StatusEvent {
                channel,
                account_id: account.clone(),
                external_id: mid.to_string(),
                status: DeliveryStatus::Delivered,
                at,
                error: None,
            }));
        }
    } else if let Some(mid) = item["read"]["mid"].as_str() {
        out.push(Event::Status(StatusEvent {
            channel,
            account_id: account.clone(),
            external_id: mid.to_string(),
            status: DeliveryStatus::Read,
            at,
            error: None,
        }));
    } else if item["read"].is_object() {
        out.push(ignored("a read watermark (no message id to mark)".into()));
    } else if item["reaction"].is_object() {
        out.push(ignored("a reaction".into()));
    } else {
        out.push(ignored("a messaging item of a kind not handled".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_text_status_and_reaction() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "551130000000", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "João"}, "wa_id": "551187654321"}],
            "messages": [
                {"from": "551187654321", "id": "wamid.A", "timestamp": "1795766400", "type": "text", "text": {"body": "não 🎉"}},
                {"from": "551187654321", "id": "wamid.B", "timestamp": "1795766401", "type": "reaction", "reaction": {"message_id": "wamid.A", "emoji": "👍"}}
            ],
            "statuses": [{"id": "wamid.C", "status": "failed", "timestamp": "1795766402", "recipient_id": "551187654321",
                "errors": [{"code": 131047, "title": "Re-engagement message", "message": "More than 24 hours", "error_data": {"details": "Message failed to send because more than 24 hours have passed"}}]}]
        }}]}]});
        let events = parse(&body);
        assert_eq!(events.len(), 3);
        let Event::Message(m) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(
            (m.content.as_str(), m.external_id.as_str()),
            ("não 🎉", "wamid.A")
        );
        assert_eq!(
            m.contact,
            Contact::Phone {
                phone: Phone::parse("+551187654321").expect("phone"),
                name: Some("João".into())
            }
        );
        assert_eq!(m.at.to_string(), "2026-11-27T08:00:00.000Z");
        assert!(matches!(&events[1], Event::Ignored { .. }));
        let Event::Status(st) = &events[2] else {
            panic!("{events:?}")
        };
        assert_eq!(st.status, DeliveryStatus::Failed);
        assert_eq!(
            st.error.as_ref().map(|e| e["code"].clone()),
            Some(json!(131047))
        );
    }

    #[test]
    fn every_whatsapp_message_type() {
        let m = |kind: &str, extra: Value| {
            let mut v = json!({"from": "5511987654321", "id": format!("wamid.{kind}"), "timestamp": "1795766400", "type": kind});
            if let (Value::Object(o), Value::Object(e)) = (&mut v, extra) {
                o.extend(e);
            }
            v
        };
        let messages = vec![
            m(
                "image",
                json!({"image": {"id": "1", "mime_type": "image/jpeg", "caption": "foto"}}),
            ),
            m(
                "audio",
                json!({"audio": {"id": "2", "mime_type": "audio/ogg"}}),
            ),
            m("video", json!({"video": {"id": "3", "caption": "vídeo"}})),
            m(
                "document",
                json!({"document": {"id": "4", "filename": "orçamento.pdf", "caption": "segue"}}),
            ),
            m(
                "sticker",
                json!({"sticker": {"id": "5", "mime_type": "image/webp"}}),
            ),
            m(
                "location",
                json!({"location": {"latitude": -23.55, "longitude": -46.63, "name": "Padaria", "address": "Av. Paulista, 1000"}}),
            ),
            m(
                "contacts",
                json!({"contacts": [{"name": {"formatted_name": "Maria Conceição"}, "phones": [{"phone": "+5511999990000"}]}]}),
            ),
            m(
                "interactive",
                json!({"interactive": {"type": "list_reply", "list_reply": {"id": "p2", "title": "Pão francês", "description": "10 un"}}}),
            ),
            m(
                "button",
                json!({"button": {"text": "Quero", "payload": "YES"}}),
            ),
            m("unsupported", json!({"errors": [{"code": 131051}]})),
        ];
        let body = json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"metadata": {"phone_number_id": "1"}, "messages": messages}}]}]});
        let events = parse(&body);
        let stored: Vec<(String, String)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some((m.kind.clone(), m.content.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            stored,
            vec![
                ("image".into(), "foto".into()),
                ("audio".into(), "".into()),
                ("video".into(), "vídeo".into()),
                ("document".into(), "segue".into()),
                ("sticker".into(), "".into()),
                ("location".into(), "Padaria, Av. Paulista, 1000".into()),
                ("contacts".into(), "Maria Conceição".into()),
                ("interactive".into(), "Pão francês".into()),
                ("button".into(), "Quero".into()),
            ]
        );
        assert!(matches!(events.last(), Some(Event::Ignored { .. })));
        let Event::Message(doc) = &events[3] else {
            panic!()
        };
        assert_eq!(doc.metadata["media"]["filename"], "orçamento.pdf");
    }

    #[test]
    fn instagram_and_messenger_items() {
        let ig = json!({"object": "instagram", "entry": [{"id": "17841400000000000", "time": 1795766400000i64, "messaging": [
            {"sender": {"id": "IGSID1"}, "recipient": {"id": "17841400000000000"}, "timestamp": 1795766400000i64, "message": {"mid": "m1", "text": "oi"}},
            {"sender": {"id": "17841400000000000"}, "recipient": {"id": "IGSID1"}, "timestamp": 1795766400000i64, "message": {"mid": "m2", "text": "olá", "is_echo": true}},
            {"sender": {"id": "IGSID1"}, "recipient": {"id": "17841400000000000"}, "timestamp": 1795766400000i64, "read": {"mid": "m2"}}
        ]}]});
        let events = parse(&ig);
        assert!(
            matches!(&events[0], Event::Message(m) if m.channel == Channel::Instagram && m.content == "oi")
        );
        assert!(matches!(&events[1], Event::Ignored { .. }));
        assert!(matches!(&events[2], Event::Status(s) if s.status == DeliveryStatus::Read));
        let page = json!({"object": "page", "entry": [{"id": "PAGE1", "messaging": [
            {"sender": {"id": "PSID"}, "recipient": {"id": "PAGE1"}, "timestamp": 1795766400000i64, "postback": {"mid": "p1", "title": "Comprar", "payload": "BUY"}},
            {"sender": {"id": "PSID"}, "recipient": {"id": "PAGE1"}, "delivery": {"mids": ["x1", "x2"], "watermark": 1795766400000i64}}
        ]}]});
        let events = parse(&page);
        assert_eq!(events.len(), 3);
        assert!(
            matches!(&events[0], Event::Message(m) if m.kind == "postback" && m.channel == Channel::Facebook)
        );
    }
}

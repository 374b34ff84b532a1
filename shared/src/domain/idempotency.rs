//! `Idempotency-Key`: the first answer to a create or send is kept for 24 hours and
//! replayed for a retry of the same request.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long an answer is kept for replay.
pub const TTL_SECS: i64 = 24 * 3600;
/// How long a request may hold its key before a retry may take it over (a crashed
/// process must not block the key for a day).
pub const LEASE_SECS: i64 = 60;

/// The answer kept for replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// What a store says when a request claims a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The key is this request's now: run it, then finish or abandon the key.
    Started,
    /// The same request was answered already: answer the same.
    Replay(StoredResponse),
    /// The same request is running elsewhere.
    InProgress,
    /// The key was used for another request.
    Mismatch,
}

/// A key's record as a SQL store keeps it (`idempotency_keys`).
pub struct Held {
    pub fingerprint: String,
    /// `in_progress` or `done`.
    pub state: String,
    pub response: Option<String>,
    pub lease_until: i64,
    pub expires_at: i64,
}

impl Held {
    /// What a claim of the key with `fingerprint` at `now_s` comes to while this record holds
    /// it; `Ok(None)`: the claim takes the key over (the record expired, or its request's
    /// lease lapsed). `Err`: the kept answer cannot be read.
    pub fn answer(&self, fingerprint: &str, now_s: i64) -> Result<Option<Claim>, &'static str> {
        if self.expires_at <= now_s {
            return Ok(None);
        }
        if self.fingerprint != fingerprint {
            return Ok(Some(Claim::Mismatch));
        }
        if self.state == "done" {
            return self
                .response
                .as_deref()
                .and_then(|r| serde_json::from_str::<StoredResponse>(r).ok())
                .map(|stored| Some(Claim::Replay(stored)))
                .ok_or("unreadable idempotent response");
        }
        Ok((self.lease_until > now_s).then_some(Claim::InProgress))
    }
}

/// A client's key, if it is one: 1 to 255 visible ASCII characters.
pub fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// What identifies "the same request": method, path and body.
/// The key an idempotency record is stored under: the client's key bound to its caller,
/// method and route, hashed to a fixed length whatever the caller's id.
pub fn scoped_key(caller: &str, method: &str, route: &str, key: &str) -> String {
    let mut h = Sha256::new();
    for part in [caller, method, route, key] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_key_answers_by_its_record() {
        let held = |state: &str, response: Option<&str>, lease_until, expires_at| Held {
            fingerprint: "fp".into(),
            state: state.into(),
            response: response.map(str::to_string),
            lease_until,
            expires_at,
        };
        let done = r#"{"status":201,"content_type":"application/json","body":"{}"}"#;
        assert_eq!(
            held("done", Some(done), 0, 50).answer("fp", 100),
            Ok(None),
            "expired"
        );
        assert_eq!(
            held("done", Some(done), 0, 500).answer("other", 100),
            Ok(Some(Claim::Mismatch))
        );
        assert!(matches!(
            held("done", Some(done), 0, 500).answer("fp", 100),
            Ok(Some(Claim::Replay(StoredResponse { status: 201, .. })))
        ));
        assert_eq!(
            held("in_progress", None, 160, 500).answer("fp", 100),
            Ok(Some(Claim::InProgress))
        );
        assert_eq!(
            held("in_progress", None, 90, 500).answer("fp", 100),
            Ok(None),
            "lease lapsed"
        );
        assert!(held("done", Some("{"), 0, 500).answer("fp", 100).is_err());
    }
}

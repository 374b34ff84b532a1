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

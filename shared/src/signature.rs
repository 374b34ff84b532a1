//! Webhook signatures: `sha256=<hex>` HMAC-SHA256 of the raw body bytes, checked in
//! constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`.
pub fn verify_sha256(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected).is_ok()
}

/// `sha256=<hex>` for `body` under `secret` (what senders put in the header).
pub fn sign_sha256(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_raw_bytes() {
        let body = "{\"text\":\"não ção 🎉\"}".as_bytes();
        let header = sign_sha256(b"segredo", body);
        assert!(verify_sha256(b"segredo", body, Some(&header)));
        assert!(!verify_sha256(b"outro", body, Some(&header)));
        assert!(!verify_sha256(b"segredo", b"{}", Some(&header)));
        assert!(!verify_sha256(
            b"segredo",
            body,
            Some(&header[..header.len() - 2])
        ));
        assert!(!verify_sha256(b"segredo", body, Some("sha1=abc")));
        assert!(!verify_sha256(b"segredo", body, None));
    }
}

//! Phone numbers in E.164, and the key under which two spellings of one number meet.

use std::fmt;

use serde::{Serialize, Serializer};

/// A phone number in E.164 (`+5511987654321`), parsed from what people type:
/// spaces, dashes, dots and parentheses are tolerated, the `+` is optional.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(input: &str) -> Result<Phone, &'static str> {
        let trimmed = input.trim();
        let rest = trimmed.strip_prefix('+').unwrap_or(trimmed);
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => {
                    return Err(
                        "must be a phone number in international format, e.g. +5511987654321",
                    )
                }
            }
        }
        let valid = (2..=15).contains(&digits.len()) && !digits.starts_with('0');
        if !valid {
            return Err("must be a phone number in international format, e.g. +5511987654321");
        }
        Ok(Phone(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key two leads' phones are compared by. Brazilian mobiles are written with and
    /// without the ninth digit (`+55 DD 9XXXX-XXXX` ≡ `+55 DD XXXX-XXXX` when the 8-digit
    /// subscriber number starts with 6–9), so both spellings share the 8-digit key.
    /// Landlines (subscriber numbers starting 2–5) are never changed.
    pub fn dedupe_key(&self) -> String {
        let digits = &self.0[1..];
        if let Some(national) = digits.strip_prefix("55") {
            let b = national.as_bytes();
            if b.len() == 11 && b[2] == b'9' && (b'6'..=b'9').contains(&b[3]) {
                return format!("+55{}{}", &national[..2], &national[3..]);
            }
        }
        self.0.clone()
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Phone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Phone;

    fn key(s: &str) -> String {
        Phone::parse(s).unwrap().dedupe_key()
    }

    #[test]
    fn normalises_to_e164() {
        assert_eq!(
            Phone::parse("+55 11 9 8765-4321").unwrap().as_str(),
            "+5511987654321"
        );
        assert_eq!(
            Phone::parse("55 (11) 98765.4321").unwrap().as_str(),
            "+5511987654321"
        );
        assert_eq!(
            Phone::parse("+1 415 555 2671").unwrap().as_str(),
            "+14155552671"
        );
    }

    #[test]
    fn rejects_what_is_not_a_phone() {
        for bad in [
            "",
            "+",
            "+0123",
            "abc",
            "+55 11 98765-432a",
            "1234567890123456",
            "+5",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn brazilian_mobiles_match_with_and_without_the_ninth_digit() {
        assert_eq!(key("+55 11 9 8765-4321"), key("+551187654321"));
        assert_eq!(key("+5521996543210"), key("+552196543210"));
    }

    #[test]
    fn landlines_and_other_countries_are_never_padded() {
        // 3xxx-xxxx is a São Paulo landline: no ninth digit to strip or add.
        assert_eq!(key("+551133334444"), "+551133334444");
        assert_ne!(key("+5511933334444"), key("+551133334444"));
        assert_eq!(key("+14155552671"), "+14155552671");
    }
}

//! Text folding for search: `João` and `JOAO` both fold to `joao`.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::FieldErrors;

/// Lower-cases and strips diacritics, so search is case- and accent-insensitive.
pub fn fold(s: &str) -> String {
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `s` holds no control characters; `lines` lets tabs and line breaks through, as
/// free text (notes) has them. Checked after trimming, so surrounding blanks never count.
pub fn control_free(s: &str, lines: bool) -> bool {
    !s.chars()
        .any(|c| c.is_control() && !(lines && matches!(c, '\t' | '\n' | '\r')))
}

/// A name as people type it: at most `max` characters as sent, not blank, no control
/// characters; kept trimmed. What is wrong goes to `errors` under `field`.
pub fn label(field: &str, raw: &str, max: usize, errors: &mut FieldErrors) -> String {
    let trimmed = raw.trim();
    if raw.chars().count() > max {
        errors.add(field, format!("must be at most {max} characters"));
    } else if trimmed.is_empty() {
        errors.add(field, "must not be blank");
    } else if !control_free(trimmed, false) {
        errors.add(field, "must not contain control characters");
    }
    trimmed.to_string()
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_portuguese_accents_and_case() {
        assert_eq!(fold("João Conceição"), "joao conceicao");
        assert_eq!(fold("ÁÉÍÓÚ âêô ãõ à ü"), "aeiou aeo ao a u");
        assert_eq!(fold("não 🎉"), "nao 🎉");
    }
}

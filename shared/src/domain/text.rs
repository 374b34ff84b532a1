//! Text folding for search: `João` and `JOAO` both fold to `joao`.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Lower-cases and strips diacritics, so search is case- and accent-insensitive.
pub fn fold(s: &str) -> String {
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
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

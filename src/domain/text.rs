//! Word-level text helpers shared by the lexical rules (memory, feedback, classification):
//! accent- and case-folding, whole-word phrase matching and word-overlap similarity.
//! Portuguese and English only need Latin letters folded, which `escalation::fold` does.

use std::collections::HashSet;

use super::escalation::fold;

/// Words shorter than this carry no topic ("o", "de", "is", "me").
const MIN_CONTENT_WORD_CHARS: usize = 3;

/// Function words of Portuguese and English (already folded) that would make any two
/// sentences look alike.
const STOPWORDS: &[&str] = &[
    "que",
    "para",
    "com",
    "uma",
    "um",
    "por",
    "mais",
    "como",
    "mas",
    "foi",
    "ele",
    "ela",
    "isso",
    "esse",
    "essa",
    "este",
    "esta",
    "meu",
    "minha",
    "seu",
    "sua",
    "voce",
    "voces",
    "nao",
    "sim",
    "tem",
    "ter",
    "sao",
    "dos",
    "das",
    "nos",
    "nas",
    "aos",
    "pra",
    "pro",
    "ja",
    "ainda",
    "tambem",
    "muito",
    "quando",
    "onde",
    "qual",
    "quais",
    "porque",
    "entao",
    "aqui",
    "ai",
    "the",
    "and",
    "for",
    "you",
    "your",
    "with",
    "this",
    "that",
    "are",
    "was",
    "not",
    "but",
    "have",
    "has",
    "had",
    "can",
    "will",
    "what",
    "how",
    "why",
    "when",
    "where",
    "which",
    "from",
    "they",
    "them",
    "our",
    "its",
    "it's",
    "i'm",
    "don't",
    "please",
    "por favor",
    "favor",
    "ola",
    "oi",
    "hello",
    "bom",
    "dia",
    "tarde",
    "noite",
];

/// Folded text with every non-alphanumeric character turned into a space and a space at
/// both ends, so `contains_term` can match whole words and phrases with `contains`.
pub fn padded(text: &str) -> String {
    let folded: String = fold(text)
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let joined = folded.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(" {joined} ")
}

/// Whether `padded_text` (from [`padded`]) contains `term` as whole words. `term` may be
/// written with accents and punctuation; it is folded the same way.
pub fn contains_term(padded_text: &str, term: &str) -> bool {
    let term = padded(term);
    !term.trim().is_empty() && padded_text.contains(&term)
}

/// How many of `terms` occur in `padded_text` as whole words.
pub fn count_terms(padded_text: &str, terms: &[&str]) -> usize {
    terms
        .iter()
        .filter(|t| contains_term(padded_text, t))
        .count()
}

/// The distinct topic words of a text: folded, at least three characters, no stopwords.
pub fn content_words(text: &str) -> HashSet<String> {
    padded(text)
        .split_whitespace()
        .filter(|w| w.chars().count() >= MIN_CONTENT_WORD_CHARS && !STOPWORDS.contains(w))
        .map(str::to_string)
        .collect()
}

/// Jaccard similarity of two word sets (0 when either is empty).
pub fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(b).count();
    let union = a.union(b).count();
    shared as f64 / union as f64
}

/// Sentences of a message: split on sentence punctuation and line breaks, trimmed, blanks
/// dropped.
pub fn sentences(text: &str) -> Vec<&str> {
    text.split(['.', '!', '?', '\n', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// At most `max` characters, cut at a character boundary.
pub fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_match_whole_words_ignoring_accents_and_case() {
        let text = padded("O sistema CAIU, não funciona!");
        assert!(contains_term(&text, "caiu"));
        assert!(contains_term(&text, "nao funciona"));
        assert!(contains_term(&text, "Não funciona"));
        assert!(!contains_term(&text, "cai"));
        assert!(!contains_term(&text, ""));
        assert_eq!(count_terms(&text, &["sistema", "caiu", "login"]), 2);
    }

    #[test]
    fn similarity_uses_topic_words_only() {
        let a = content_words("Como faço para trocar o produto?");
        let b = content_words("como eu faço pra trocar o produto");
        assert!(jaccard(&a, &b) > 0.6, "{a:?} {b:?}");
        let c = content_words("qual o horário de funcionamento");
        assert!(jaccard(&a, &c) < 0.2);
        assert_eq!(jaccard(&HashSet::new(), &a), 0.0);
    }

    #[test]
    fn sentences_and_clipping() {
        assert_eq!(
            sentences("Oi. Meu pedido veio quebrado!\nQuero trocar"),
            vec!["Oi", "Meu pedido veio quebrado", "Quero trocar"]
        );
        assert_eq!(clip("ação", 2), "aç");
    }
}

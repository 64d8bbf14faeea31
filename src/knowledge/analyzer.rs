//! The text analysis shared by indexing and querying: words (simple tokenizer) → lower case →
//! stop words (Portuguese and English, as written and without accents) → ASCII folding
//! ("trôca" is "troca") → a Snowball stemmer ("trocar", "trocas" and "troca" are one term).
//! Every chunk is indexed twice, once per stemmer, because a tenant's documents and
//! customers mix both languages and a wrong stemmer only costs recall on its own field.

use std::collections::BTreeSet;

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, TokenStream,
};

/// The languages the index stems for; each has its own fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Portuguese,
    English,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Portuguese, Lang::English];

    /// Name of the analyzer registered with the index.
    pub fn analyzer_name(self) -> &'static str {
        match self {
            Lang::Portuguese => "atende_pt",
            Lang::English => "atende_en",
        }
    }

    fn stemmer(self) -> Language {
        match self {
            Lang::Portuguese => Language::Portuguese,
            Lang::English => Language::English,
        }
    }
}

/// Tokens longer than this (in bytes) are noise — base64, hashes — and are dropped.
const MAX_TOKEN_BYTES: usize = 40;

/// Question words and fillers that Snowball's lists leave in but that say nothing about the
/// topic of a contact-center question, written without accents (they are matched after
/// folding, so "faço" and "faco" both go).
const EXTRA_STOP_WORDS: &[&str] = &[
    "como", "faco", "fazer", "faz", "para", "pra", "que", "com", "uma", "um", "por", "meu",
    "minha", "meus", "minhas", "voce", "voces", "qual", "quais", "onde", "quando", "pode", "posso",
    "podem", "esta", "isso", "essa", "esse", "sua", "seu", "dos", "das", "nos", "nas", "aos",
    "ser", "tem", "ter", "gostaria", "queria", "quero", "saber", "preciso", "ola", "oi", "bom",
    "dia", "boa", "tarde", "noite", "obrigado", "obrigada", "the", "and", "for", "you", "your",
    "how", "can", "what", "with", "this", "that", "are", "does", "have", "do", "i", "my", "please",
    "hello", "hi", "want", "would", "like", "know", "need",
];

/// The analyzer for one language (registered with the index and used on queries).
pub fn analyzer(lang: Lang) -> TextAnalyzer {
    let none = || StopWordFilter::remove(Vec::<String>::new());
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        // Snowball's lists are written with accents: they run before folding…
        .filter(StopWordFilter::new(Language::Portuguese).unwrap_or_else(none))
        .filter(StopWordFilter::new(Language::English).unwrap_or_else(none))
        .filter(AsciiFoldingFilter)
        // …and ours, without accents, after it.
        .filter(StopWordFilter::remove(
            EXTRA_STOP_WORDS.iter().map(|w| w.to_string()),
        ))
        .filter(Stemmer::new(lang.stemmer()))
        .build()
}

/// The terms of `text` as `analyzer` indexes them, in order (repeats kept).
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// The distinct terms of `text`.
pub fn distinct_terms(analyzer: &mut TextAnalyzer, text: &str) -> BTreeSet<String> {
    terms(analyzer, text).into_iter().collect()
}

/// Share (0..=1) of the question's distinct terms found in the passage's terms: the
/// relevance that thresholds use, since a BM25 score has no fixed scale.
pub fn coverage(question: &BTreeSet<String>, passage: &BTreeSet<String>) -> f64 {
    if question.is_empty() {
        return 0.0;
    }
    let found = question.iter().filter(|t| passage.contains(*t)).count();
    found as f64 / question.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(text: &str) -> Vec<String> {
        terms(&mut analyzer(Lang::Portuguese), text)
    }

    #[test]
    fn accents_case_and_inflections_meet_on_one_term() {
        let troca = pt("troca");
        assert_eq!(troca.len(), 1);
        for variant in ["trôca", "TROCA", "Trocar", "trocas", "Trôcas"] {
            assert_eq!(pt(variant), troca, "{variant}");
        }
        assert_eq!(pt("produto"), pt("Produtos"));
        assert_eq!(pt("devolução"), pt("devolucao"));
    }

    #[test]
    fn question_words_are_not_terms() {
        let q = pt("Como faço para trocar um produto?");
        assert_eq!(q, [pt("troca"), pt("produto")].concat());
        assert!(pt("Vocês têm o que eu quero? Olá, bom dia").is_empty());
    }

    #[test]
    fn english_is_stemmed_on_its_own_field() {
        let mut en = analyzer(Lang::English);
        assert_eq!(terms(&mut en, "refunds"), terms(&mut en, "refund"));
        assert_eq!(
            terms(&mut en, "How do I return items?"),
            terms(&mut en, "return item")
        );
    }

    #[test]
    fn coverage_is_the_share_of_question_terms() {
        let mut a = analyzer(Lang::Portuguese);
        let q = distinct_terms(&mut a, "trocar produto com defeito");
        let p = distinct_terms(&mut a, "Política de trôca: produtos podem ser trocados.");
        assert!((coverage(&q, &p) - 2.0 / 3.0).abs() < 1e-9, "{q:?} {p:?}");
        assert_eq!(coverage(&BTreeSet::new(), &p), 0.0);
    }
}

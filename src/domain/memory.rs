//! Agent memory (seed 004): durable facts about a contact taken from its conversations —
//! contact details, order numbers, stated preferences, problems it had, promises made to it —
//! so later conversations start from what the customer already told us.
//!
//! Rules always work (Portuguese and English patterns); an LLM may extract instead, answering
//! `{"memories": [{"kind", "content"}]}`, and any answer that does not parse falls back to the
//! rules. Facts are deduplicated by a fingerprint of their normalized text, and the few put in
//! a prompt are chosen by word overlap with the messages being answered, then recency.

use std::sync::OnceLock;

use chrono::NaiveDateTime;
use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::text::{clip, contains_term, content_words, padded, sentences};

/// What kind of fact a memory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryKind {
    Email,
    Phone,
    Order,
    Preference,
    Problem,
    Promise,
    /// Anything else an LLM found worth keeping.
    Fact,
}

impl MemoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryKind::Email => "email",
            MemoryKind::Phone => "phone",
            MemoryKind::Order => "order",
            MemoryKind::Preference => "preference",
            MemoryKind::Problem => "problem",
            MemoryKind::Promise => "promise",
            MemoryKind::Fact => "fact",
        }
    }

    /// Unknown kinds (an LLM inventing one) are plain facts.
    pub fn parse_lenient(raw: &str) -> Self {
        match padded(raw).trim() {
            "email" | "e mail" => MemoryKind::Email,
            "phone" | "telefone" => MemoryKind::Phone,
            "order" | "pedido" => MemoryKind::Order,
            "preference" | "preferencia" => MemoryKind::Preference,
            "problem" | "problema" => MemoryKind::Problem,
            "promise" | "promessa" => MemoryKind::Promise,
            _ => MemoryKind::Fact,
        }
    }
}

/// One fact to remember.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub kind: MemoryKind,
    pub content: String,
}

/// A message the extraction reads.
#[derive(Debug, Clone, Copy)]
pub struct Utterance<'a> {
    /// From the customer; otherwise from the agent (AI or human), whose promises count.
    pub from_customer: bool,
    pub text: &'a str,
}

/// Sentences of the customer that report a problem with a product or service.
const PROBLEM_TERMS: &[&str] = &[
    "defeito",
    "defeituoso",
    "defeituosa",
    "com problema",
    "quebrado",
    "quebrada",
    "quebrou",
    "nao funciona",
    "parou de funcionar",
    "danificado",
    "danificada",
    "veio errado",
    "veio errada",
    "produto errado",
    "nao chegou",
    "atrasado",
    "atrasada",
    "estragado",
    "estragou",
    "rasgado",
    "defective",
    "broken",
    "damaged",
    "doesn t work",
    "does not work",
    "not working",
    "stopped working",
    "never arrived",
    "wrong item",
    "faulty",
];
/// Sentences of the customer that state a preference.
const PREFERENCE_TERMS: &[&str] = &[
    "prefiro",
    "preferencia",
    "gosto de",
    "nao gosto",
    "me chame de",
    "pode me chamar de",
    "melhor horario",
    "prefer",
    "i like",
    "i don t like",
    "i do not like",
    "call me",
    "best time",
];
/// Sentences of the business side that commit to something.
const PROMISE_TERMS: &[&str] = &[
    "vamos enviar",
    "vou enviar",
    "enviaremos",
    "enviamos",
    "vamos trocar",
    "vamos reembolsar",
    "reembolso",
    "estorno",
    "vamos devolver",
    "prometo",
    "garantimos",
    "retornaremos",
    "vamos retornar",
    "entraremos em contato",
    "we will send",
    "we ll send",
    "we sent",
    "we have sent",
    "we will replace",
    "refund",
    "we will call",
    "we ll call",
    "i promise",
    "we will get back",
];

fn email_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b")
            .expect("constant pattern compiles")
    })
}

fn phone_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Optional +country, optional (area), then digits with spaces, dots or dashes.
    RE.get_or_init(|| {
        Regex::new(r"\+?\(?\d{2,3}\)?[\s.-]?\d{4,5}[\s.-]?\d{4}\b")
            .expect("constant pattern compiles")
    })
}

fn order_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // "pedido 12345", "pedido nº 12345", "meu pedido é o 12345", "order #A-1234",
    // "protocolo: 998877": the keyword, a few filler words, then a code with 3+ digits.
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)\b(?:pedido|order|protocolo|ticket|encomenda|compra)(?:\s*(?:n[º°o]\.?|:|#)|\s+(?:número|numero|number|é|e|eh|is|was|o|a|do|da|de))*\s*([a-z]{0,3}-?\d{3,}[a-z0-9-]*)",
        )
        .expect("constant pattern compiles")
    })
}

/// Facts found by the rules in `messages`, in order, without duplicates, each at most
/// `max_chars` characters.
pub fn extract_rules(messages: &[Utterance], max_chars: usize) -> Vec<Fact> {
    let mut facts: Vec<Fact> = Vec::new();
    let mut push = |kind: MemoryKind, content: String| {
        let content = clip(content.trim(), max_chars);
        if content.is_empty() {
            return;
        }
        let key = normalize(&content);
        if !facts
            .iter()
            .any(|f| f.kind == kind && normalize(&f.content) == key)
        {
            facts.push(Fact { kind, content });
        }
    };
    for message in messages {
        if message.from_customer {
            for m in email_re().find_iter(message.text) {
                push(
                    MemoryKind::Email,
                    format!("E-mail: {}", m.as_str().to_lowercase()),
                );
            }
            for m in phone_re().find_iter(message.text) {
                let digits: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
                push(MemoryKind::Phone, format!("Phone: {digits}"));
            }
            for caps in order_re().captures_iter(message.text) {
                if let Some(number) = caps.get(1) {
                    push(
                        MemoryKind::Order,
                        format!("Order number: {}", number.as_str()),
                    );
                }
            }
        }
        for sentence in sentences(message.text) {
            let folded = padded(sentence);
            let has = |terms: &[&str]| terms.iter().any(|t| contains_term(&folded, t));
            if message.from_customer {
                if has(PROBLEM_TERMS) {
                    push(
                        MemoryKind::Problem,
                        format!("Reported a problem: {sentence}"),
                    );
                } else if has(PREFERENCE_TERMS) {
                    push(MemoryKind::Preference, format!("Preference: {sentence}"));
                }
            } else if has(PROMISE_TERMS) {
                push(MemoryKind::Promise, format!("We promised: {sentence}"));
            }
        }
    }
    facts
}

/// Reads an LLM extraction answer: `{"memories": [{"kind": "…", "content": "…"}]}` (or a bare
/// array of such objects or of strings). `None` when it does not parse, so the caller falls
/// back to the rules; `Some(vec![])` when the model found nothing.
pub fn parse_llm(answer: &str, max_chars: usize) -> Option<Vec<Fact>> {
    let items = match super::classification::json_object(answer) {
        Some(map) => match map.get("memories").or_else(|| map.get("facts"))? {
            serde_json::Value::Array(items) => items.clone(),
            _ => return None,
        },
        None => {
            let start = answer.find('[')?;
            let end = answer.rfind(']')?;
            match serde_json::from_str(answer.get(start..=end)?).ok()? {
                serde_json::Value::Array(items) => items,
                _ => return None,
            }
        }
    };
    let mut facts = Vec::new();
    for item in items {
        let (kind, content) = match &item {
            serde_json::Value::String(text) => (MemoryKind::Fact, text.clone()),
            serde_json::Value::Object(map) => (
                map.get("kind")
                    .and_then(|k| k.as_str())
                    .map_or(MemoryKind::Fact, MemoryKind::parse_lenient),
                map.get("content")
                    .or_else(|| map.get("fact"))
                    .and_then(|c| c.as_str())?
                    .to_string(),
            ),
            _ => return None,
        };
        let content = clip(content.trim(), max_chars);
        if !content.is_empty() {
            facts.push(Fact { kind, content });
        }
    }
    Some(facts)
}

/// Folded, punctuation-free, single-spaced text: "E-mail: Ana@X.com" and "e mail ana x com"
/// are the same fact.
pub fn normalize(content: &str) -> String {
    padded(content).trim().to_string()
}

/// The deduplication key of a fact for one contact: the agent that remembers it (memories
/// are per contact and agent; `None` for memories every agent shares) and its normalized
/// text, hashed to a fixed length for the unique index.
pub fn fingerprint(agent: Option<&str>, content: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(agent.unwrap_or("*").as_bytes());
    hasher.update(b"\n");
    hasher.update(normalize(content).as_bytes());
    hex::encode(hasher.finalize())
}

/// A stored memory as the prompt selection sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub content: &'a str,
    pub updated_at: NaiveDateTime,
}

/// Indices of the `limit` memories most relevant to `query`: most topic words in common
/// first, then the most recently confirmed. Memories with nothing in common still fill the
/// remaining places by recency ("is the product we sent working?" after a bare "olá").
pub fn select(candidates: &[Candidate], query: &str, limit: usize) -> Vec<usize> {
    let query = content_words(query);
    let mut ranked: Vec<(usize, usize, NaiveDateTime)> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let overlap = content_words(c.content).intersection(&query).count();
            (i, overlap, c.updated_at)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    ranked.into_iter().take(limit).map(|(i, ..)| i).collect()
}

/// Whether the customer messages numbered `after + 1 ..= upto` include one at which
/// memories are extracted: every `every`-th (`every` = 0 never extracts).
pub fn extraction_due(after: u32, upto: u32, every: u32) -> bool {
    every > 0 && upto > after && upto / every > after / every
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(text: &str) -> Utterance<'_> {
        Utterance {
            from_customer: true,
            text,
        }
    }

    fn kinds(facts: &[Fact]) -> Vec<MemoryKind> {
        facts.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn contact_details_and_order_numbers() {
        let facts = extract_rules(
            &[customer(
                "Meu e-mail é Ana.Souza@Example.com e o telefone (11) 98765-4321. \
                 O pedido nº 123456 não chegou",
            )],
            300,
        );
        let contents: Vec<&str> = facts.iter().map(|f| f.content.as_str()).collect();
        assert!(
            contents.contains(&"E-mail: ana.souza@example.com"),
            "{contents:?}"
        );
        assert!(contents.contains(&"Phone: 11987654321"), "{contents:?}");
        assert!(contents.contains(&"Order number: 123456"), "{contents:?}");
        assert!(kinds(&facts).contains(&MemoryKind::Problem), "{facts:?}");
        let facts = extract_rules(&[customer("my order #A-99812 is late")], 300);
        assert_eq!(facts[0].content, "Order number: A-99812");
        for text in [
            "meu pedido é o 123456",
            "pedido: 123456",
            "o número do pedido é 123456",
        ] {
            let facts = extract_rules(&[customer(text)], 300);
            assert_eq!(
                facts
                    .iter()
                    .filter(|f| f.content == "Order number: 123456")
                    .count(),
                1,
                "{text}"
            );
        }
    }

    #[test]
    fn problems_preferences_and_promises() {
        let facts = extract_rules(
            &[
                customer("Oi! O liquidificador chegou com defeito."),
                customer("Prefiro ser atendido por WhatsApp"),
                Utterance {
                    from_customer: false,
                    text: "Sinto muito. Vamos enviar um produto novo em 5 dias.",
                },
                customer("The blender is broken"),
            ],
            300,
        );
        assert_eq!(
            facts
                .iter()
                .map(|f| (f.kind, f.content.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (
                    MemoryKind::Problem,
                    "Reported a problem: O liquidificador chegou com defeito"
                ),
                (
                    MemoryKind::Preference,
                    "Preference: Prefiro ser atendido por WhatsApp"
                ),
                (
                    MemoryKind::Promise,
                    "We promised: Vamos enviar um produto novo em 5 dias"
                ),
                (
                    MemoryKind::Problem,
                    "Reported a problem: The blender is broken"
                ),
            ]
        );
    }

    #[test]
    fn small_talk_gives_nothing_and_repeats_are_kept_once() {
        assert!(extract_rules(&[customer("oi, tudo bem? obrigado")], 300).is_empty());
        let facts = extract_rules(
            &[
                customer("produto com defeito"),
                customer("Produto com DEFEITO!"),
            ],
            300,
        );
        assert_eq!(facts.len(), 1);
        // Business messages are not mined for contact details.
        let facts = extract_rules(
            &[Utterance {
                from_customer: false,
                text: "escreva para suporte@loja.com",
            }],
            300,
        );
        assert!(facts.is_empty());
    }

    #[test]
    fn long_sentences_are_clipped() {
        let long = format!("o produto veio com defeito {}", "e ".repeat(400));
        let facts = extract_rules(&[customer(&long)], 50);
        assert_eq!(facts[0].content.chars().count(), 50);
    }

    #[test]
    fn llm_answers_parse_or_fall_back() {
        let facts = parse_llm(
            "Here you go:\n```json\n{\"memories\": [{\"kind\": \"problem\", \"content\": \"Blender arrived defective\"}, {\"kind\": \"weird\", \"content\": \"Likes blue\"}, \"Lives in Recife\"]}\n```",
            300,
        )
        .expect("parses");
        assert_eq!(
            facts,
            vec![
                Fact {
                    kind: MemoryKind::Problem,
                    content: "Blender arrived defective".into()
                },
                Fact {
                    kind: MemoryKind::Fact,
                    content: "Likes blue".into()
                },
                Fact {
                    kind: MemoryKind::Fact,
                    content: "Lives in Recife".into()
                },
            ]
        );
        assert_eq!(parse_llm(r#"{"memories": []}"#, 300), Some(vec![]));
        for bad in [
            "",
            "nothing to remember",
            r#"{"memories": "none"}"#,
            r#"{"memories": [{"kind": "x"}]}"#,
            r#"{"memories": [1]}"#,
            r#"{"other": []}"#,
            "{ not json }",
        ] {
            assert_eq!(parse_llm(bad, 300), None, "{bad}");
        }
    }

    #[test]
    fn fingerprints_ignore_case_accents_and_punctuation_per_agent() {
        assert_eq!(
            fingerprint(Some("a"), "Reported a problem: produto com DEFEITO!"),
            fingerprint(Some("a"), "reported a problem produto com defeito")
        );
        assert_ne!(
            fingerprint(Some("a"), "produto com defeito"),
            fingerprint(Some("b"), "produto com defeito")
        );
        assert_ne!(
            fingerprint(None, "produto com defeito"),
            fingerprint(Some("a"), "produto com defeito")
        );
        assert_eq!(fingerprint(None, "x").len(), 64);
    }

    #[test]
    fn selection_prefers_overlap_then_recency() {
        let t = |s: i64| {
            chrono::DateTime::from_timestamp(s, 0)
                .expect("time")
                .naive_utc()
        };
        let memories = [
            Candidate {
                content: "Phone: 11987654321",
                updated_at: t(300),
            },
            Candidate {
                content: "Reported a problem: liquidificador com defeito",
                updated_at: t(100),
            },
            Candidate {
                content: "Preference: prefere WhatsApp",
                updated_at: t(200),
            },
        ];
        assert_eq!(select(&memories, "o liquidificador novo", 2), vec![1, 0]);
        assert_eq!(select(&memories, "olá", 3), vec![0, 2, 1]);
        assert!(select(&memories, "x", 0).is_empty());
    }

    #[test]
    fn extraction_cadence() {
        assert!(!extraction_due(4, 5, 0));
        assert!(!extraction_due(3, 4, 5));
        assert!(extraction_due(4, 5, 5));
        assert!(extraction_due(9, 10, 5));
        // Several messages answered together: the 5th is among them.
        assert!(extraction_due(3, 7, 5));
        assert!(!extraction_due(5, 9, 5));
        assert!(!extraction_due(5, 5, 5));
        assert!(extraction_due(0, 1, 1));
    }

    #[test]
    fn kinds_parse_leniently() {
        assert_eq!(
            MemoryKind::parse_lenient("Preferência"),
            MemoryKind::Preference
        );
        assert_eq!(MemoryKind::parse_lenient("e-mail"), MemoryKind::Email);
        assert_eq!(MemoryKind::parse_lenient("???"), MemoryKind::Fact);
    }
}

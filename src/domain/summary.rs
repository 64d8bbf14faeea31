//! Conversation summaries and quick-reply suggestions without an LLM: an extractive summary
//! (the sentences that carry the conversation's most frequent content words, in order) and
//! suggestions read off the AI's last reply. Used when the conversation's agent has no LLM
//! (the retrieval provider) or the LLM cannot be used for it, and for every suggestion.

use std::collections::HashMap;

use super::conversation::SenderType;
use super::scheduling::{extract_email, extract_phone, fold};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    Customer,
    Human,
    Ai,
    System,
}

impl Speaker {
    pub fn from_sender_type(sender: SenderType) -> Speaker {
        match sender {
            SenderType::Contact => Speaker::Customer,
            SenderType::User => Speaker::Human,
            SenderType::AiAgent => Speaker::Ai,
            SenderType::System => Speaker::System,
        }
    }

    fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Speaker::Customer, Lang::Pt) => "Cliente",
            (Speaker::Customer, Lang::En) => "Customer",
            (Speaker::Human, Lang::Pt) => "Atendente",
            (Speaker::Human, Lang::En) => "Agent",
            (Speaker::Ai, Lang::Pt) => "Assistente",
            (Speaker::Ai, Lang::En) => "Assistant",
            (Speaker::System, Lang::Pt) => "Sistema",
            (Speaker::System, Lang::En) => "System",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Pt,
    En,
}

const PT_WORDS: &[&str] = &[
    "que", "nao", "para", "com", "uma", "um", "voce", "meu", "minha", "por", "isso", "como",
    "mais", "tem", "esta", "sim", "obrigado", "obrigada", "ola", "bom", "dia", "pedido", "quero",
    "preciso", "pode", "fazer", "muito", "ser", "dos", "das", "nos", "seu", "sua", "tudo",
];
const EN_WORDS: &[&str] = &[
    "the", "and", "you", "your", "for", "with", "this", "that", "have", "can", "please", "thanks",
    "thank", "hello", "order", "want", "need", "would", "could", "what", "how", "are", "not",
    "yes", "will", "from", "about",
];
const STOP_EXTRA: &[&str] = &[
    "a", "o", "e", "de", "do", "da", "em", "no", "na", "os", "as", "se", "me", "te", "eu", "ele",
    "ela", "ja", "ai", "la", "aqui", "foi", "sou", "vou", "vai", "estou", "entao", "mas", "ou",
    "quando", "onde", "qual", "quais", "pra", "pro", "ate", "sem", "so", "ok", "oi", "to", "of",
    "in", "on", "it", "is", "be", "an", "or", "my", "me", "we", "our", "was", "do", "so", "at",
    "hi", "ha", "tambem", "sobre", "ter", "isso", "essa", "esse", "este", "esta",
];

/// Portuguese unless English words clearly dominate (the seed market is Brazil).
pub fn detect_lang<'a>(texts: impl IntoIterator<Item = &'a str>) -> Lang {
    let (mut pt, mut en) = (0usize, 0usize);
    for text in texts {
        for word in words(&fold(text)) {
            if PT_WORDS.contains(&word.as_str()) {
                pt += 1;
            }
            if EN_WORDS.contains(&word.as_str()) {
                en += 1;
            }
        }
    }
    if en > pt {
        Lang::En
    } else {
        Lang::Pt
    }
}

fn words(folded: &str) -> Vec<String> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn is_stopword(word: &str) -> bool {
    word.chars().count() < 3
        || PT_WORDS.contains(&word)
        || EN_WORDS.contains(&word)
        || STOP_EXTRA.contains(&word)
        || word.chars().all(|c| c.is_ascii_digit())
}

fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            push_sentence(&mut out, &mut current);
            continue;
        }
        current.push(c);
        if matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|n| n.is_whitespace()) {
            push_sentence(&mut out, &mut current);
        }
    }
    push_sentence(&mut out, &mut current);
    out
}

fn push_sentence(out: &mut Vec<String>, current: &mut String) {
    let trimmed = current.trim();
    if trimmed.chars().any(char::is_alphanumeric) {
        out.push(trimmed.to_string());
    }
    current.clear();
}

fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// `lines` as a labelled transcript ("Cliente: …"), oldest first, system lines left out, for
/// an LLM to summarize; with the language the labels (and the summary) should use.
pub fn transcript(lines: &[(Speaker, &str)]) -> (String, Lang) {
    let lang = detect_lang(lines.iter().map(|(_, t)| *t));
    let text = lines
        .iter()
        .filter(|(s, t)| *s != Speaker::System && !t.trim().is_empty())
        .map(|(s, t)| format!("{}: {}", s.label(lang), t.trim()))
        .collect::<Vec<_>>()
        .join("\n");
    (text, lang)
}

/// An extractive summary of `lines` (oldest first) with at most `max_points` points.
pub fn extractive(lines: &[(Speaker, &str)], max_points: usize) -> String {
    let lang = detect_lang(lines.iter().map(|(_, t)| *t));
    if lines.is_empty() {
        return match lang {
            Lang::Pt => "Nenhuma mensagem ainda.".into(),
            Lang::En => "No messages yet.".into(),
        };
    }
    struct Candidate {
        order: usize,
        speaker: Speaker,
        text: String,
        terms: Vec<String>,
    }
    let mut candidates = Vec::new();
    let mut frequency: HashMap<String, f64> = HashMap::new();
    for (speaker, text) in lines.iter().filter(|(s, _)| *s != Speaker::System) {
        for sentence in sentences(text) {
            let terms: Vec<String> = words(&fold(&sentence))
                .into_iter()
                .filter(|w| !is_stopword(w))
                .collect();
            for term in &terms {
                *frequency.entry(term.clone()).or_default() += 1.0;
            }
            candidates.push(Candidate {
                order: candidates.len(),
                speaker: *speaker,
                text: sentence,
                terms,
            });
        }
    }
    let first_customer = candidates
        .iter()
        .find(|c| c.speaker == Speaker::Customer && !c.terms.is_empty())
        .map(|c| c.order);
    let mut scored: Vec<(f64, usize)> = candidates
        .iter()
        .map(|c| {
            let weight: f64 = c.terms.iter().filter_map(|t| frequency.get(t)).sum();
            let mut score = weight / (1.0 + c.terms.len() as f64).sqrt();
            // What the customer came for, and what the customer says, matter most.
            if Some(c.order) == first_customer {
                score *= 2.0;
            } else if c.speaker == Speaker::Customer {
                score *= 1.25;
            }
            (score, c.order)
        })
        .filter(|(score, _)| *score > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut chosen: Vec<usize> = scored
        .into_iter()
        .take(max_points.max(1))
        .map(|(_, i)| i)
        .collect();
    chosen.sort_unstable();

    let customer_messages = lines
        .iter()
        .filter(|(s, _)| *s == Speaker::Customer)
        .count();
    let mut out = match lang {
        Lang::Pt => format!(
            "Conversa com {} mensagens ({} do cliente).",
            lines.len(),
            customer_messages
        ),
        Lang::En => format!(
            "Conversation of {} messages ({} from the customer).",
            lines.len(),
            customer_messages
        ),
    };
    for index in chosen {
        if let Some(c) = candidates.get(index) {
            out.push_str(&format!(
                "\n- {}: {}",
                c.speaker.label(lang),
                clip(&c.text, 200)
            ));
        }
    }
    let customer_text: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| *s == Speaker::Customer)
        .map(|(_, t)| *t)
        .collect();
    let email = customer_text.iter().rev().find_map(|t| extract_email(t));
    let phone = customer_text.iter().rev().find_map(|t| extract_phone(t));
    let contact: Vec<String> = email.into_iter().chain(phone).collect();
    if !contact.is_empty() {
        let label = match lang {
            Lang::Pt => "Contato",
            Lang::En => "Contact",
        };
        out.push_str(&format!("\n{label}: {}", contact.join(", ")));
    }
    out
}

/// Quick replies for the customer after an AI reply: booking answers when the customer asked
/// for a meeting, the options the reply listed, or yes/no for a question.
pub fn suggestions(ai_reply: &str, customer_wants_meeting: bool, lang: Lang) -> Vec<String> {
    if customer_wants_meeting {
        return match lang {
            Lang::Pt => vec![
                "Gostaria de agendar para amanhã".into(),
                "Prefiro pela manhã".into(),
                "Tem disponibilidade na próxima semana?".into(),
            ],
            Lang::En => vec![
                "Tomorrow works for me".into(),
                "I prefer mornings".into(),
                "Any time next week?".into(),
            ],
        };
    }
    let options: Vec<String> = ai_reply
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("- ")
                .or_else(|| line.strip_prefix("• "))
                .or_else(|| line.strip_prefix("* "))
                .or_else(|| {
                    let digits = line.chars().take_while(char::is_ascii_digit).count();
                    (1..=2)
                        .contains(&digits)
                        .then(|| &line[digits..])
                        .and_then(|r| r.strip_prefix(". ").or_else(|| r.strip_prefix(") ")))
                })?;
            let rest = rest.trim().trim_end_matches([';', ',', '.']);
            (!rest.is_empty()).then(|| clip(rest, 60))
        })
        .collect();
    if (2..=5).contains(&options.len()) {
        return options;
    }
    if ai_reply.contains('?') {
        return match lang {
            Lang::Pt => vec![
                "Sim".into(),
                "Não".into(),
                "Preciso de mais informações".into(),
            ],
            Lang::En => vec!["Yes".into(), "No".into(), "I need more information".into()],
        };
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_labels_speakers_in_the_conversations_language_and_skips_system_lines() {
        let lines = [
            (Speaker::Customer, "Olá, meu pedido não chegou"),
            (Speaker::System, "Conversa transferida"),
            (Speaker::Ai, "Vou verificar o seu pedido."),
            (Speaker::Human, "  "),
        ];
        let (text, lang) = transcript(&lines);
        assert_eq!(lang, Lang::Pt);
        assert_eq!(
            text,
            "Cliente: Olá, meu pedido não chegou\nAssistente: Vou verificar o seu pedido."
        );
    }

    #[test]
    fn summarizes_the_need_in_order_with_contact_details() {
        let lines = [
            (Speaker::Customer, "Olá, bom dia"),
            (
                Speaker::Customer,
                "Quero trocar um produto que veio com defeito. O pedido é 12345.",
            ),
            (
                Speaker::Ai,
                "Sinto muito! Posso ajudar com a troca do produto. Qual o defeito?",
            ),
            (Speaker::Customer, "A tela do produto chegou trincada."),
            (
                Speaker::System,
                "Vou transferir você para um atendente humano.",
            ),
            (
                Speaker::Human,
                "Olá, sou a Ana. Vou abrir a troca do produto com defeito agora.",
            ),
            (Speaker::Customer, "Ótimo, meu email é joao@ex.com"),
        ];
        let summary = extractive(&lines, 3);
        assert!(
            summary.starts_with("Conversa com 7 mensagens (4 do cliente)."),
            "{summary}"
        );
        let points: Vec<&str> = summary.lines().filter(|l| l.starts_with("- ")).collect();
        assert_eq!(points.len(), 3, "{summary}");
        assert!(
            points[0].starts_with("- Cliente: Quero trocar um produto"),
            "{summary}"
        );
        assert!(summary.contains("Contato: joao@ex.com"), "{summary}");
        assert!(!summary.contains("Sistema"), "{summary}");
    }

    #[test]
    fn english_and_empty_conversations() {
        let lines = [
            (
                Speaker::Customer,
                "Hello, I want to cancel my order please.",
            ),
            (
                Speaker::Ai,
                "I can help you cancel the order. What is the order number?",
            ),
        ];
        let summary = extractive(&lines, 2);
        assert!(
            summary.starts_with("Conversation of 2 messages"),
            "{summary}"
        );
        assert!(summary.contains("- Customer: Hello, I want to cancel my order please."));
        assert_eq!(extractive(&[], 3), "Nenhuma mensagem ainda.");
    }

    #[test]
    fn long_sentences_are_clipped() {
        let long = "palavra ".repeat(100);
        let summary = extractive(&[(Speaker::Customer, long.as_str())], 1);
        let point = summary.lines().nth(1).expect("one point");
        assert!(point.chars().count() < 220, "{point}");
        assert!(point.ends_with('…'));
    }

    #[test]
    fn suggestions_follow_the_reply() {
        assert_eq!(
            suggestions("Claro!", true, Lang::Pt)[0],
            "Gostaria de agendar para amanhã"
        );
        assert_eq!(
            suggestions(
                "Temos três planos:\n1. Básico;\n2) Pro\n3. Empresa.",
                false,
                Lang::Pt
            ),
            vec!["Básico", "Pro", "Empresa"]
        );
        assert_eq!(
            suggestions("Posso ajudar em algo mais?", false, Lang::Pt),
            vec!["Sim", "Não", "Preciso de mais informações"]
        );
        assert_eq!(suggestions("Anything else?", false, Lang::En)[0], "Yes");
        assert!(suggestions("Pedido enviado.", false, Lang::Pt).is_empty());
        assert_eq!(detect_lang(["Hello, I need help with my order"]), Lang::En);
        assert_eq!(
            detect_lang(["Olá, preciso de ajuda com meu pedido"]),
            Lang::Pt
        );
    }
}

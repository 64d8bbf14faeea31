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
            let rest = list_item(line.trim())?;
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

/// The text of a list line ("- a", "• a", "* a", "1. a", "2) a"); `None` for other lines.
fn list_item(line: &str) -> Option<&str> {
    line.strip_prefix("- ")
        .or_else(|| line.strip_prefix("• "))
        .or_else(|| line.strip_prefix("* "))
        .or_else(|| {
            let digits = line.chars().take_while(char::is_ascii_digit).count();
            (1..=2)
                .contains(&digits)
                .then(|| &line[digits..])
                .and_then(|r| r.strip_prefix(". ").or_else(|| r.strip_prefix(") ")))
        })
}

/// At most this many reply suggestions for a human agent.
pub const MAX_STAFF_REPLIES: usize = 3;
const MAX_STAFF_REPLY_CHARS: usize = 300;

/// Replies a human agent could send next, by rules (when no LLM writes them): booking answers
/// when the customer asked for a meeting, a hello when no person has written yet, a closing
/// for thanks, a holding answer for a question; nothing otherwise.
pub fn staff_replies(
    last_customer: Option<&str>,
    human_spoke: bool,
    customer_wants_meeting: bool,
    lang: Lang,
) -> Vec<String> {
    let pick = |pt: &[&str], en: &[&str]| -> Vec<String> {
        match lang {
            Lang::Pt => pt,
            Lang::En => en,
        }
        .iter()
        .map(|s| (*s).to_string())
        .collect()
    };
    if customer_wants_meeting {
        return pick(
            &[
                "Claro! Vou ver os horários livres para você.",
                "Qual dia e horário ficam melhor para você?",
                "Pode me passar seu e-mail para eu enviar o convite?",
            ],
            &[
                "Sure! Let me check the free times for you.",
                "Which day and time suit you best?",
                "Could you give me your e-mail for the invitation?",
            ],
        );
    }
    let Some(text) = last_customer.map(fold) else {
        return Vec::new();
    };
    let said = words(&text);
    let thanks = said.iter().any(|w| {
        w.starts_with("obrigad") || ["valeu", "thanks", "thank", "brigado"].contains(&w.as_str())
    });
    let question = text.contains('?');
    let mut out = Vec::new();
    if !human_spoke {
        out.extend(pick(
            &["Olá! Vou continuar o seu atendimento a partir daqui."],
            &["Hello! I will take it from here."],
        ));
    }
    if thanks {
        out.extend(pick(
            &[
                "Por nada! Posso ajudar em algo mais?",
                "Fico feliz em ajudar. Tenha um ótimo dia!",
            ],
            &[
                "You are welcome! Anything else I can help with?",
                "Glad to help. Have a great day!",
            ],
        ));
    } else if question {
        out.extend(pick(
            &[
                "Um momento, vou verificar isso para você.",
                "Pode me dar mais detalhes?",
            ],
            &[
                "One moment, let me check that for you.",
                "Could you give me a few more details?",
            ],
        ));
    }
    out.truncate(MAX_STAFF_REPLIES);
    out
}

/// The replies in a model's answer to the suggestions request: a JSON array of strings, or
/// one reply per line (list markers and quotes removed); at most [`MAX_STAFF_REPLIES`],
/// each clipped, without repeats.
pub fn parse_staff_replies(answer: &str) -> Vec<String> {
    let answer = answer.trim();
    let from_json = answer
        .find('[')
        .zip(answer.rfind(']'))
        .filter(|(start, end)| start < end)
        .and_then(|(start, end)| serde_json::from_str::<Vec<String>>(&answer[start..=end]).ok());
    let candidates: Vec<String> = match from_json {
        Some(list) => list,
        None => answer
            .lines()
            .map(|line| {
                let line = line.trim();
                list_item(line).unwrap_or(line).to_string()
            })
            .collect(),
    };
    let mut out: Vec<String> = Vec::new();
    for candidate in candidates {
        let text = candidate
            .trim()
            .trim_matches(|c| matches!(c, '"' | '“' | '”' | '\''))
            .trim();
        if text.is_empty() || text.ends_with(':') {
            continue;
        }
        let text = clip(text, MAX_STAFF_REPLY_CHARS);
        if !out.contains(&text) {
            out.push(text);
        }
        if out.len() == MAX_STAFF_REPLIES {
            break;
        }
    }
    out
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
    fn staff_replies_by_rules() {
        let booking = staff_replies(Some("Quero marcar uma reunião"), true, true, Lang::Pt);
        assert_eq!(booking[0], "Claro! Vou ver os horários livres para você.");
        let first = staff_replies(Some("Qual o prazo de entrega?"), false, false, Lang::Pt);
        assert_eq!(
            first,
            vec![
                "Olá! Vou continuar o seu atendimento a partir daqui.",
                "Um momento, vou verificar isso para você.",
                "Pode me dar mais detalhes?",
            ]
        );
        assert_eq!(
            staff_replies(Some("Muito obrigada!"), true, false, Lang::Pt)[0],
            "Por nada! Posso ajudar em algo mais?"
        );
        assert_eq!(
            staff_replies(Some("Thanks a lot"), true, false, Lang::En)[0],
            "You are welcome! Anything else I can help with?"
        );
        assert!(staff_replies(Some("Ok, combinado."), true, false, Lang::Pt).is_empty());
        assert!(staff_replies(None, false, false, Lang::Pt).is_empty());
    }

    #[test]
    fn staff_replies_are_read_off_the_models_answer() {
        assert_eq!(
            parse_staff_replies(
                "1. Olá, Rita!\n2) \"Já vejo isso.\"\n- Já vejo isso.\n* Mais uma\n* E outra"
            ),
            vec!["Olá, Rita!", "Já vejo isso.", "Mais uma"]
        );
        assert_eq!(
            parse_staff_replies("Aqui vão:\n[\"Sim, claro.\", \"Amanhã às 10h?\"]"),
            vec!["Sim, claro.", "Amanhã às 10h?"]
        );
        assert_eq!(parse_staff_replies("Sugestões:\nOk"), vec!["Ok"]);
        assert!(parse_staff_replies("  \n ").is_empty());
        let long = "a".repeat(400);
        assert_eq!(parse_staff_replies(&long)[0].chars().count(), 300);
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

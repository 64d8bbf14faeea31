//! Feedback detection (seed 004): the customer's next message after an AI reply tells whether
//! the reply helped. Signals, each with a weight: a complaint about the answer ("não
//! resolveu", "that didn't help"), a request for a human, the same question asked again, and
//! negative sentiment words, in Portuguese and English. Pure: the conversation actor records
//! the result, raises `feedback_detected` and escalates when configured.

use serde::{Deserialize, Serialize};

use super::escalation::asks_for_human;
use super::text::{contains_term, content_words, count_terms, jaccard, padded};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    /// The customer says the answer did not help.
    Complaint,
    /// The customer asks for a person.
    HumanRequest,
    /// The customer asks the same thing again: the answer missed it.
    RepeatedQuestion,
    /// Angry, frustrated or disappointed words without an explicit complaint.
    NegativeSentiment,
}

impl FeedbackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Complaint => "complaint",
            FeedbackKind::HumanRequest => "human_request",
            FeedbackKind::RepeatedQuestion => "repeated_question",
            FeedbackKind::NegativeSentiment => "negative_sentiment",
        }
    }
}

/// Weights of the signals (0..1). An explicit complaint about the answer is the clearest
/// sign; asking for a person is often just a preference; a repeat scales with similarity;
/// sentiment words are the weakest, more so alone.
pub const COMPLAINT_SCORE: f64 = 0.8;
pub const HUMAN_REQUEST_SCORE: f64 = 0.7;
pub const REPEAT_WEIGHT: f64 = 0.7;
pub const SENTIMENT_SCORE_PER_WORD: f64 = 0.3;
pub const MAX_SENTIMENT_SCORE: f64 = 0.6;

/// Phrases about the answer itself.
const COMPLAINT_TERMS: &[&str] = &[
    "nao resolveu",
    "nao resolve",
    "nao ajudou",
    "nao ajuda",
    "nao adiantou",
    "nao serviu",
    "nao funcionou",
    "nao entendeu",
    "voce nao entendeu",
    "nao foi isso",
    "nao e isso",
    "nao era isso",
    "nao respondeu",
    "resposta errada",
    "resposta inutil",
    "nada a ver",
    "inutil",
    "nao me ajudou",
    "continua sem funcionar",
    "continua o mesmo problema",
    "didn t help",
    "did not help",
    "doesn t help",
    "does not help",
    "not helpful",
    "unhelpful",
    "useless",
    "that s not what i asked",
    "not what i asked",
    "you didn t understand",
    "you don t understand",
    "wrong answer",
    "didn t solve",
    "did not solve",
    "still not working",
    "still doesn t work",
    "that s wrong",
    "makes no sense",
];
/// Words of a frustrated customer.
const NEGATIVE_TERMS: &[&str] = &[
    "pessimo",
    "pessima",
    "horrivel",
    "ruim",
    "lixo",
    "absurdo",
    "ridiculo",
    "irritado",
    "irritada",
    "chateado",
    "chateada",
    "frustrado",
    "frustrada",
    "decepcionado",
    "decepcionada",
    "insatisfeito",
    "insatisfeita",
    "raiva",
    "vergonha",
    "descaso",
    "porcaria",
    "terrible",
    "awful",
    "horrible",
    "bad",
    "worst",
    "angry",
    "annoyed",
    "frustrated",
    "frustrating",
    "disappointed",
    "hate",
    "ridiculous",
    "upset",
    "unacceptable",
    "garbage",
];

/// One signal found in the message.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub kind: FeedbackKind,
    pub score: f64,
}

/// Negative feedback on an AI reply: the strongest signal's kind and the combined score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub kind: FeedbackKind,
    /// 1 − Π(1 − sᵢ) over the signals: several weak signs add up, never past 1.
    pub score: f64,
    pub signals: Vec<Signal>,
}

/// What the detector needs besides the message.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The engine's human-request phrases (`engine.human_request_phrases`).
    pub human_phrases: &'a [String],
    /// Word overlap (Jaccard, 0..1) from which a message repeats the previous question.
    pub repeat_similarity: f64,
}

/// Checks the customer's `message` that followed an AI reply to `previous_question` (the
/// customer messages that reply answered). `None` when nothing negative was found.
pub fn detect(message: &str, previous_question: Option<&str>, rules: Rules) -> Option<Detection> {
    let text = padded(message);
    let mut signals = Vec::new();
    if COMPLAINT_TERMS.iter().any(|t| contains_term(&text, t)) {
        signals.push(Signal {
            kind: FeedbackKind::Complaint,
            score: COMPLAINT_SCORE,
        });
    }
    if asks_for_human(message, rules.human_phrases) {
        signals.push(Signal {
            kind: FeedbackKind::HumanRequest,
            score: HUMAN_REQUEST_SCORE,
        });
    }
    if let Some(previous) = previous_question {
        let similarity = jaccard(&content_words(message), &content_words(previous));
        if similarity >= rules.repeat_similarity && similarity > 0.0 {
            signals.push(Signal {
                kind: FeedbackKind::RepeatedQuestion,
                score: (REPEAT_WEIGHT * similarity).min(REPEAT_WEIGHT),
            });
        }
    }
    let negative = count_terms(&text, NEGATIVE_TERMS);
    if negative > 0 {
        signals.push(Signal {
            kind: FeedbackKind::NegativeSentiment,
            score: (SENTIMENT_SCORE_PER_WORD * negative as f64).min(MAX_SENTIMENT_SCORE),
        });
    }
    let strongest = signals
        .iter()
        .copied()
        .reduce(|best, s| if s.score > best.score { s } else { best })?;
    let score = 1.0 - signals.iter().map(|s| 1.0 - s.score).product::<f64>();
    Some(Detection {
        kind: strongest.kind,
        score: score.clamp(0.0, 1.0),
        signals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrases() -> Vec<String> {
        vec!["falar com um atendente".into(), "talk to a human".into()]
    }

    fn check(message: &str, previous: Option<&str>) -> Option<Detection> {
        let phrases = phrases();
        detect(
            message,
            previous,
            Rules {
                human_phrases: &phrases,
                repeat_similarity: 0.6,
            },
        )
    }

    #[test]
    fn a_complaint_with_a_human_request_is_both() {
        let d = check(
            "isso não resolveu nada, quero falar com um atendente",
            Some("como troco o produto?"),
        )
        .expect("negative");
        assert_eq!(d.kind, FeedbackKind::Complaint);
        let kinds: Vec<_> = d.signals.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            vec![FeedbackKind::Complaint, FeedbackKind::HumanRequest]
        );
        assert!((d.score - (1.0 - 0.2 * 0.3)).abs() < 1e-9, "{}", d.score);
    }

    #[test]
    fn complaints_in_both_languages() {
        for message in [
            "Não ajudou",
            "isso foi péssimo",
            "That didn't help at all",
            "useless answer",
            "você não entendeu",
        ] {
            assert!(check(message, None).is_some(), "{message}");
        }
        assert_eq!(
            check("That didn't help", None).expect("found").kind,
            FeedbackKind::Complaint
        );
    }

    #[test]
    fn a_repeated_question_is_found_by_similarity() {
        let d = check(
            "como eu faço pra trocar o produto",
            Some("Como faço para trocar o produto?"),
        )
        .expect("repeat");
        assert_eq!(d.kind, FeedbackKind::RepeatedQuestion);
        assert!(d.score > 0.4 && d.score <= REPEAT_WEIGHT, "{}", d.score);
        assert!(check(
            "e o prazo de entrega?",
            Some("Como faço para trocar o produto?")
        )
        .is_none());
    }

    #[test]
    fn sentiment_words_alone_are_weak_and_add_up() {
        let one = check("estou chateado", None).expect("negative");
        assert_eq!(one.kind, FeedbackKind::NegativeSentiment);
        assert!((one.score - SENTIMENT_SCORE_PER_WORD).abs() < 1e-9);
        let many = check("frustrated, angry and disappointed", None).expect("negative");
        assert!((many.score - MAX_SENTIMENT_SCORE).abs() < 1e-9);
    }

    #[test]
    fn satisfied_customers_give_nothing() {
        for message in [
            "obrigado, resolveu!",
            "perfeito, era isso",
            "thanks, that helped",
            "ok",
            "",
        ] {
            assert_eq!(
                check(message, Some("como troco o produto?")),
                None,
                "{message}"
            );
        }
    }

    #[test]
    fn kinds_have_stable_names() {
        assert_eq!(FeedbackKind::HumanRequest.as_str(), "human_request");
        assert_eq!(
            serde_json::to_value(FeedbackKind::RepeatedQuestion).expect("json"),
            "repeated_question"
        );
    }
}

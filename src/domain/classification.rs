//! Conversation classification (seed 001): a category and a priority with a confidence, from
//! keyword rules over the customer's first message (Portuguese and English), optionally
//! refined by an LLM answering in JSON. The LLM answer is untrusted text: anything that does
//! not parse into known values reads as "no answer" and the rules' result stands (seed 001's
//! safe fallback for malformed JSON).
//!
//! API values are stable ASCII words: categories `technical, commercial, support, complaint,
//! praise` (técnico, comercial, suporte, reclamação, elogio) and priorities `critical, high,
//! medium, low` (crítica, alta, média, baixa), the values of `conversations.priority`.

use serde::{Deserialize, Serialize};

use super::distribution::Priority;
use super::escalation::EscalationReason;
use super::text::{count_terms, padded};

/// What the conversation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Technical,
    Commercial,
    Support,
    Complaint,
    Praise,
}

impl Category {
    /// Tie-break order when two categories match as many keywords: the one that needs a
    /// person soonest first.
    pub const ALL: [Category; 5] = [
        Category::Complaint,
        Category::Technical,
        Category::Commercial,
        Category::Support,
        Category::Praise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Technical => "technical",
            Category::Commercial => "commercial",
            Category::Support => "support",
            Category::Complaint => "complaint",
            Category::Praise => "praise",
        }
    }

    /// The API value or its Portuguese name (seed 001 spells them `tecnico`, `comercial`,
    /// `suporte`, `reclamacao`, `elogio`), any case or accents.
    pub fn parse(raw: &str) -> Option<Self> {
        match padded(raw).trim() {
            "technical" | "tecnico" | "tecnica" => Some(Category::Technical),
            "commercial" | "comercial" | "sales" | "vendas" => Some(Category::Commercial),
            "support" | "suporte" => Some(Category::Support),
            "complaint" | "reclamacao" => Some(Category::Complaint),
            "praise" | "elogio" => Some(Category::Praise),
            _ => None,
        }
    }

    fn keywords(self) -> &'static [&'static str] {
        match self {
            Category::Technical => &[
                "erro",
                "error",
                "bug",
                "falha",
                "login",
                "senha",
                "sistema",
                "caiu",
                "nao funciona",
                "nada funciona",
                "parou de funcionar",
                "travou",
                "travando",
                "lento",
                "instalar",
                "instalacao",
                "configurar",
                "aplicativo",
                "app",
                "site",
                "servidor",
                "conexao",
                "internet",
                "defeito",
                "nao consigo acessar",
                "crash",
                "password",
                "server",
                "not working",
                "doesn t work",
                "does not work",
                "nothing works",
                "broken",
                "down",
                "outage",
                "install",
                "configure",
                "defect",
            ],
            Category::Commercial => &[
                "preco",
                "precos",
                "plano",
                "planos",
                "comprar",
                "compra",
                "orcamento",
                "quanto custa",
                "valor",
                "desconto",
                "pagamento",
                "pagar",
                "boleto",
                "fatura",
                "cobranca",
                "assinatura",
                "contratar",
                "proposta",
                "vendas",
                "price",
                "pricing",
                "plan",
                "plans",
                "buy",
                "purchase",
                "quote",
                "discount",
                "invoice",
                "billing",
                "payment",
                "subscription",
                "upgrade",
            ],
            Category::Support => &[
                "duvida",
                "como faco",
                "como posso",
                "como funciona",
                "ajuda",
                "informacao",
                "tutorial",
                "onde encontro",
                "onde fica",
                "how do i",
                "how to",
                "help",
                "question",
                "where can i",
                "information",
            ],
            Category::Complaint => &[
                "reclamacao",
                "reclamar",
                "insatisfeito",
                "insatisfeita",
                "pessimo",
                "pessima",
                "absurdo",
                "horrivel",
                "descaso",
                "procon",
                "decepcionado",
                "decepcionada",
                "inaceitavel",
                "complaint",
                "unhappy",
                "dissatisfied",
                "terrible",
                "awful",
                "disappointed",
                "unacceptable",
                "worst",
            ],
            Category::Praise => &[
                "parabens",
                "excelente",
                "otimo atendimento",
                "adorei",
                "amei",
                "elogio",
                "muito bom",
                "perfeito",
                "maravilhoso",
                "great job",
                "excellent",
                "love it",
                "awesome",
                "amazing",
                "thank you so much",
                "well done",
            ],
        }
    }
}

/// Words that mean the service is down for the customer: critical.
const OUTAGE_TERMS: &[&str] = &[
    "caiu",
    "fora do ar",
    "nada funciona",
    "nao funciona nada",
    "sistema parado",
    "tudo parado",
    "parou tudo",
    "down",
    "outage",
    "nothing works",
    "nothing is working",
    "site is down",
];
/// Words that ask for speed: high, or critical together with an outage.
const URGENCY_TERMS: &[&str] = &[
    "urgente",
    "urgencia",
    "emergencia",
    "imediatamente",
    "agora mesmo",
    "critico",
    "critica",
    "urgent",
    "urgently",
    "emergency",
    "asap",
    "immediately",
    "critical",
];

/// Confidence of a rules result with no keyword at all (the category is a guess).
const NO_MATCH_CONFIDENCE: f64 = 0.3;
/// Confidence of a rules result with one matching keyword, and what each further keyword
/// (beyond the runner-up's count) adds, up to the cap: rules never claim certainty.
const BASE_CONFIDENCE: f64 = 0.5;
const CONFIDENCE_PER_MARGIN: f64 = 0.1;
const MAX_RULES_CONFIDENCE: f64 = 0.9;

/// Where a classification came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Rules,
    Llm,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub category: Category,
    pub priority: Priority,
    /// 0..=1.
    pub confidence: f64,
    pub source: Source,
}

impl Classification {
    /// The object kept in `conversations.metadata.classification`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "category": self.category.as_str(),
            "priority": self.priority.as_str(),
            "confidence": self.confidence,
            "source": self.source,
        })
    }
}

/// One priority level up (a VIP customer's request is served before an equal one).
pub fn raise(priority: Priority) -> Priority {
    match priority {
        Priority::Low => Priority::Medium,
        Priority::Medium => Priority::High,
        Priority::High | Priority::Critical => Priority::Critical,
    }
}

/// Classifies the customer's text by keywords. `vip` raises the priority one level.
pub fn classify(text: &str, vip: bool) -> Classification {
    let text = padded(text);
    let mut scored: Vec<(Category, usize)> = Category::ALL
        .iter()
        .map(|c| (*c, count_terms(&text, c.keywords())))
        .collect();
    // Stable sort: equal counts keep the tie-break order of `Category::ALL`.
    scored.sort_by_key(|s| std::cmp::Reverse(s.1));
    let (best, hits) = scored.first().copied().unwrap_or((Category::Support, 0));
    let runner_up = scored.get(1).map_or(0, |s| s.1);
    let (category, confidence) = if hits == 0 {
        (Category::Support, NO_MATCH_CONFIDENCE)
    } else {
        let margin = (hits - runner_up) as f64;
        (
            best,
            (BASE_CONFIDENCE + CONFIDENCE_PER_MARGIN * margin).min(MAX_RULES_CONFIDENCE),
        )
    };

    let outage = count_terms(&text, OUTAGE_TERMS) > 0;
    let urgent = count_terms(&text, URGENCY_TERMS) > 0;
    let mut priority = match (outage, urgent) {
        (true, _) => Priority::Critical,
        (false, true) => Priority::High,
        // Seed 001: complaints are handled ahead of ordinary work; general questions and
        // praise can wait.
        _ => match category {
            Category::Complaint => Priority::High,
            Category::Praise => Priority::Low,
            Category::Support if hits > 0 => Priority::Low,
            _ => Priority::Medium,
        },
    };
    if vip {
        priority = raise(priority);
    }
    Classification {
        category,
        priority,
        confidence,
        source: Source::Rules,
    }
}

/// A VIP: the contact's flag, or one of `vip_tags` (any case) among its tags (the contact's
/// JSON array; unreadable tags count as none).
pub fn is_vip(flag: bool, tags_json: &str, vip_tags: &[String]) -> bool {
    if flag {
        return true;
    }
    let tags: Vec<String> = serde_json::from_str(tags_json).unwrap_or_default();
    tags.iter().any(|t| {
        vip_tags
            .iter()
            .any(|v| v.trim().eq_ignore_ascii_case(t.trim()))
    })
}

/// Why a freshly classified conversation goes to a human at once, when the operator asked
/// for that: a VIP contact (`vip_contact`) or a critical priority (`critical_priority`).
pub fn escalation_reason(
    classification: &Classification,
    vip: bool,
    escalate_vip: bool,
    escalate_critical: bool,
) -> Option<EscalationReason> {
    if escalate_vip && vip {
        Some(EscalationReason::VipContact)
    } else if escalate_critical && classification.priority == Priority::Critical {
        Some(EscalationReason::CriticalPriority)
    } else {
        None
    }
}

/// Reads an LLM answer `{"category": …, "priority": …, "confidence": …}` (Portuguese keys
/// `categoria`, `prioridade`, `confianca` and values are accepted too, and the object may
/// be wrapped in prose or a code fence). Anything unusable is `None`.
pub fn parse_llm(answer: &str) -> Option<Classification> {
    let value = json_object(answer)?;
    let pick = |keys: &[&str]| keys.iter().find_map(|k| value.get(*k));
    let category = Category::parse(pick(&["category", "categoria"])?.as_str()?)?;
    let priority = parse_priority(pick(&["priority", "prioridade"])?.as_str()?)?;
    let confidence = match pick(&["confidence", "confianca", "confiança"]) {
        Some(v) => v.as_f64().filter(|c| c.is_finite())?.clamp(0.0, 1.0),
        None => BASE_CONFIDENCE,
    };
    Some(Classification {
        category,
        priority,
        confidence,
        source: Source::Llm,
    })
}

/// A priority in English or Portuguese (`critica`, `alta`, `media`, `baixa`).
pub fn parse_priority(raw: &str) -> Option<Priority> {
    match padded(raw).trim() {
        "critica" => Some(Priority::Critical),
        "alta" => Some(Priority::High),
        "media" | "normal" => Some(Priority::Medium),
        "baixa" => Some(Priority::Low),
        other => Priority::parse(other),
    }
}

/// The first `{ … }` span of a model's answer parsed as a JSON object.
pub fn json_object(answer: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let start = answer.find('{')?;
    let end = answer.rfind('}')?;
    if end < start {
        return None;
    }
    match serde_json::from_str(answer.get(start..=end)?).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn vips_by_flag_or_configured_tag() {
        let tags = vec!["vip".to_string(), "premium".to_string()];
        assert!(is_vip(true, "[]", &tags));
        assert!(is_vip(false, r#"["cliente", "VIP"]"#, &tags));
        assert!(is_vip(false, r#"[" Premium "]"#, &tags));
        assert!(!is_vip(false, r#"["cliente"]"#, &tags));
        assert!(!is_vip(false, "not json", &tags));
    }

    use super::*;

    #[test]
    fn an_outage_with_urgency_is_technical_and_critical() {
        let c = classify("o sistema caiu, urgente, nada funciona", false);
        assert_eq!(c.category, Category::Technical);
        assert_eq!(c.priority, Priority::Critical);
        assert!(c.confidence >= 0.7, "{c:?}");
        assert_eq!(c.source, Source::Rules);
        let c = classify("The site is down!", false);
        assert_eq!(
            (c.category, c.priority),
            (Category::Technical, Priority::Critical)
        );
    }

    #[test]
    fn categories_from_portuguese_and_english_keywords() {
        for (text, category, priority) in [
            (
                "Quais são os planos disponíveis? Quanto custa?",
                Category::Commercial,
                Priority::Medium,
            ),
            (
                "Não consigo fazer login no sistema",
                Category::Technical,
                Priority::Medium,
            ),
            (
                "Estou muito insatisfeito com o atendimento, péssimo",
                Category::Complaint,
                Priority::High,
            ),
            (
                "Parabéns, atendimento excelente!",
                Category::Praise,
                Priority::Low,
            ),
            (
                "Tenho uma dúvida: como faço para exportar?",
                Category::Support,
                Priority::Low,
            ),
            (
                "I need a quote for the pricing plan",
                Category::Commercial,
                Priority::Medium,
            ),
            (
                "urgente: preciso do boleto",
                Category::Commercial,
                Priority::High,
            ),
        ] {
            let c = classify(text, false);
            assert_eq!((c.category, c.priority), (category, priority), "{text}");
        }
    }

    #[test]
    fn no_keyword_is_a_low_confidence_support_guess() {
        let c = classify("bom dia", false);
        assert_eq!(c.category, Category::Support);
        assert_eq!(c.priority, Priority::Medium);
        assert_eq!(c.confidence, NO_MATCH_CONFIDENCE);
    }

    #[test]
    fn vip_contacts_are_raised_one_level() {
        // Seed 001: a VIP's complaint is critical.
        let c = classify("Estou muito insatisfeito com o atendimento", true);
        assert_eq!(
            (c.category, c.priority),
            (Category::Complaint, Priority::Critical)
        );
        assert_eq!(classify("bom dia", true).priority, Priority::High);
    }

    #[test]
    fn llm_answers_in_either_language_are_read() {
        let c = parse_llm(r#"{"category": "commercial", "priority": "high", "confidence": 0.93}"#)
            .expect("valid");
        assert_eq!(
            (c.category, c.priority, c.confidence, c.source),
            (Category::Commercial, Priority::High, 0.93, Source::Llm)
        );
        let c = parse_llm(
            "```json\n{\"categoria\": \"Técnico\", \"prioridade\": \"crítica\", \"confianca\": 1.7}\n```",
        )
        .expect("valid");
        assert_eq!(
            (c.category, c.priority, c.confidence),
            (Category::Technical, Priority::Critical, 1.0)
        );
        let c = parse_llm(r#"{"category": "support", "priority": "baixa"}"#).expect("valid");
        assert_eq!(c.confidence, BASE_CONFIDENCE);
    }

    #[test]
    fn malformed_llm_answers_are_none() {
        for answer in [
            "",
            "technical",
            r#"{"category": "technical""#,
            r#"{"category": "geral", "priority": "media"}"#,
            r#"{"category": "technical", "priority": "whenever"}"#,
            r#"{"category": 3, "priority": "high"}"#,
            r#"{"priority": "high"}"#,
            r#"{"category": "technical", "priority": "high", "confidence": "very"}"#,
            "} {",
            "[1, 2]",
        ] {
            assert_eq!(parse_llm(answer), None, "{answer}");
        }
    }

    #[test]
    fn escalation_only_when_configured() {
        let critical = classify("o sistema caiu", false);
        let normal = classify("quanto custa o plano?", false);
        assert_eq!(
            escalation_reason(&critical, false, true, true),
            Some(EscalationReason::CriticalPriority)
        );
        assert_eq!(escalation_reason(&critical, false, true, false), None);
        assert_eq!(
            escalation_reason(&normal, true, true, true),
            Some(EscalationReason::VipContact)
        );
        assert_eq!(
            escalation_reason(&critical, true, false, true),
            Some(EscalationReason::CriticalPriority)
        );
        assert_eq!(escalation_reason(&normal, true, false, true), None);
    }

    #[test]
    fn api_values_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
        }
        assert_eq!(Category::parse("Reclamação"), Some(Category::Complaint));
        assert_eq!(parse_priority("Média"), Some(Priority::Medium));
        assert_eq!(parse_priority("critical"), Some(Priority::Critical));
        let json = classify("o sistema caiu", false).to_json();
        assert_eq!(json["category"], "technical");
        assert_eq!(json["priority"], "critical");
        assert_eq!(json["source"], "rules");
    }
}

//! When a conversation leaves the AI for a human (seed 004): the customer asks for one, a
//! tool keeps failing, too many messages without resolution, or a limit with hand-over.

/// Accent- and case-insensitive form used to match phrases.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn asks_for_human(text: &str, phrases: &[String]) -> bool {
    let text = fold(text);
    phrases.iter().any(|p| {
        let p = fold(p);
        !p.is_empty() && text.contains(&p)
    })
}

/// More customer messages than the agent may handle before a human takes over (0 = never).
pub fn too_many_messages(customer_messages: u32, escalate_after: u32) -> bool {
    escalate_after > 0 && customer_messages > escalate_after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_requests_are_found_in_any_case_or_accent() {
        let phrases = vec![
            "falar com atendente".to_string(),
            "talk to a human".to_string(),
        ];
        assert!(asks_for_human(
            "Quero FALAR   com atendênte agora",
            &phrases
        ));
        assert!(asks_for_human("can I talk to a human?", &phrases));
        assert!(!asks_for_human("quero pagar minha fatura", &phrases));
        assert!(!asks_for_human("anything", &[String::new()]));
    }

    #[test]
    fn message_limit() {
        assert!(!too_many_messages(100, 0));
        assert!(!too_many_messages(5, 5));
        assert!(too_many_messages(6, 5));
    }
}

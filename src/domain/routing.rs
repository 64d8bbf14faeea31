//! Sub-agent routing by topic (seed 003): the buffered customer messages go to the sub-agent
//! whose topics they mention, otherwise to the main agent. Pure, so the rules are pinned by
//! unit tests; the LLM classification fallback lives in `llm::classify`.

use super::escalation::fold;

/// Characters two words must share at their start to count as the same word ("fatura" and
/// "faturas", "cobrança" and "cobrar"): a cheap stemmer for Portuguese and English that
/// needs no dictionary.
const STEM_CHARS: usize = 5;

/// How a turn came to a sub-agent: its topics were named in the text, or the model
/// classified the text as one of them (`llm.classify_topics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutedBy {
    Topic,
    Classification,
}

impl RoutedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            RoutedBy::Topic => "topic",
            RoutedBy::Classification => "classification",
        }
    }
}

/// A sub-agent as routing sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub topics: &'a [String],
}

/// Accent- and case-folded words of `text`.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn same_word(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.chars().count() < STEM_CHARS {
        // Short words only match themselves or their plural.
        return long.strip_suffix('s') == Some(short) || long.strip_suffix("es") == Some(short);
    }
    let stem: String = short.chars().take(STEM_CHARS).collect();
    long.starts_with(&stem)
}

/// Whether the words of `phrase` appear, in order and next to each other, in `text`.
pub fn mentions(text: &[String], phrase: &[String]) -> bool {
    if phrase.is_empty() || phrase.len() > text.len() {
        return false;
    }
    text.windows(phrase.len())
        .any(|window| window.iter().zip(phrase).all(|(t, p)| same_word(t, p)))
}

/// The candidate whose topics the text mentions most; ties go to the earlier candidate, so
/// the order the operator created them in decides. `None` sends the turn to the main agent.
pub fn route(text: &str, candidates: &[Candidate]) -> Option<usize> {
    let text = words(text);
    let mut best: Option<(usize, usize)> = None;
    for (index, candidate) in candidates.iter().enumerate() {
        let hits = candidate
            .topics
            .iter()
            .filter(|topic| mentions(&text, &words(topic)))
            .count();
        if hits > 0 && best.is_none_or(|(_, most)| hits > most) {
            best = Some((index, hits));
        }
    }
    best.map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_seed_example_routes_billing_and_leaves_greetings_to_the_main_agent() {
        let billing = topics(&["pagamento", "fatura"]);
        let candidates = [Candidate { topics: &billing }];
        assert_eq!(route("quero pagar minha fatura", &candidates), Some(0));
        assert_eq!(route("bom dia", &candidates), None);
        assert_eq!(route("", &candidates), None);
    }

    #[test]
    fn plurals_accents_and_stems_match() {
        let billing = topics(&["cobrança", "Fatura"]);
        let candidates = [Candidate { topics: &billing }];
        assert_eq!(route("as FATURAS chegaram?", &candidates), Some(0));
        assert_eq!(route("a cobranca veio errada", &candidates), Some(0));
        assert_eq!(route("vão cobrar de novo?", &candidates), Some(0));
    }

    #[test]
    fn short_words_do_not_match_by_prefix() {
        let tv = topics(&["tv"]);
        let candidates = [Candidate { topics: &tv }];
        assert_eq!(route("minhas tvs", &candidates), Some(0));
        assert_eq!(route("a tvbox travou", &candidates), None);
    }

    #[test]
    fn multi_word_topics_need_their_words_together() {
        let delivery = topics(&["prazo de entrega"]);
        let candidates = [Candidate { topics: &delivery }];
        assert_eq!(route("qual o prazo de entrega?", &candidates), Some(0));
        assert_eq!(route("o prazo venceu e a entrega?", &candidates), None);
    }

    #[test]
    fn most_topics_win_and_ties_keep_creation_order() {
        let sales = topics(&["preço", "plano"]);
        let billing = topics(&["fatura", "preço", "pagamento"]);
        let candidates = [Candidate { topics: &sales }, Candidate { topics: &billing }];
        assert_eq!(route("o preço da fatura", &candidates), Some(1));
        assert_eq!(route("qual o preço?", &candidates), Some(0));
        assert_eq!(route("qual o plano?", &[]), None);
    }
}

//! Customer satisfaction: reading a rating out of the customer's reply.

/// The 1–5 rating a reply gives, if it is one: the digit alone, give or take spaces, a
/// trailing full stop or exclamation mark, or the web chat widget's `csat:N`. Anything else
/// ("5 dias de atraso", "10") is an ordinary message.
pub fn parse_rating(text: &str) -> Option<u8> {
    let trimmed = text.trim();
    let bare = trimmed.strip_prefix("csat:").unwrap_or(trimmed);
    let bare = bare.trim_end_matches(['.', '!']).trim();
    match bare.as_bytes() {
        [digit @ b'1'..=b'5'] => Some(digit - b'0'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lone_digit_from_one_to_five_is_a_rating() {
        assert_eq!(parse_rating("5"), Some(5));
        assert_eq!(parse_rating(" 1 "), Some(1));
        assert_eq!(parse_rating("4!"), Some(4));
        assert_eq!(parse_rating("csat:3"), Some(3));
        for other in ["0", "6", "10", "5 dias", "nota 5", "", "cinco", "csat:9"] {
            assert_eq!(parse_rating(other), None, "{other}");
        }
    }
}

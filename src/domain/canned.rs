//! Canned responses (issue 16, item 3): a shortcut and a text, the tenant's or one user's.
//! A staff reply whose first word is `/shortcut` is sent with that word replaced by the
//! text; `//` at the start sends a literal `/`. Pure: the lookup is the caller's.

/// Longest shortcut, in characters.
pub const MAX_SHORTCUT_CHARS: usize = 32;
/// Longest canned text, in characters (a message's own limit applies after expansion).
pub const MAX_CONTENT_CHARS: usize = 4000;

/// What a staff reply asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<'a> {
    /// Send as written.
    Literal(std::borrow::Cow<'a, str>),
    /// Replace `/name` with the canned text and keep `rest` after it.
    Shortcut { name: String, rest: &'a str },
}

fn shortcut_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// A shortcut as stored: trimmed, lower case, 1 to [`MAX_SHORTCUT_CHARS`] of `a-z 0-9 _ -`,
/// with or without its leading `/`.
pub fn normalize_shortcut(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    let name = trimmed
        .strip_prefix('/')
        .unwrap_or(trimmed)
        .to_ascii_lowercase();
    if name.is_empty()
        || name.chars().count() > MAX_SHORTCUT_CHARS
        || !name.chars().all(shortcut_char)
    {
        return Err(format!(
            "must be 1 to {MAX_SHORTCUT_CHARS} of the characters a-z, 0-9, _ and -"
        ));
    }
    Ok(name)
}

/// Reads a staff reply: a first word `/name` (leading spaces allowed) made only of shortcut
/// characters asks for a canned response; `//…` is a literal `/…`; anything else (a path
/// such as `/home/x`, a lone `/`) is sent as written.
pub fn read(content: &str) -> Reply<'_> {
    let start = content.trim_start();
    if let Some(escaped) = start.strip_prefix("//") {
        return Reply::Literal(format!("/{escaped}").into());
    }
    let Some(after) = start.strip_prefix('/') else {
        return Reply::Literal(content.into());
    };
    let end = after
        .find(|c: char| c.is_whitespace())
        .unwrap_or(after.len());
    let (word, rest) = after.split_at(end);
    if word.is_empty() || !word.chars().all(shortcut_char) {
        return Reply::Literal(content.into());
    }
    Reply::Shortcut {
        name: word.to_ascii_lowercase(),
        rest: rest.trim(),
    }
}

/// The reply to send: the canned text, then (after a space) what followed the shortcut.
pub fn expand(text: &str, rest: &str) -> String {
    if rest.is_empty() {
        text.to_string()
    } else {
        format!("{text} {rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_are_normalized_or_refused() {
        assert_eq!(normalize_shortcut(" /Saudacao ").as_deref(), Ok("saudacao"));
        assert_eq!(normalize_shortcut("preço").map_err(|_| ()), Err(()));
        assert!(normalize_shortcut("").is_err());
        assert!(normalize_shortcut("/").is_err());
        assert!(normalize_shortcut(&"a".repeat(MAX_SHORTCUT_CHARS + 1)).is_err());
        assert_eq!(
            normalize_shortcut("fim-de_semana2").as_deref(),
            Ok("fim-de_semana2")
        );
    }

    #[test]
    fn a_first_word_with_a_slash_asks_for_a_canned_response() {
        assert_eq!(
            read("/Ola Maria, tudo bem?"),
            Reply::Shortcut {
                name: "ola".into(),
                rest: "Maria, tudo bem?"
            }
        );
        assert_eq!(
            read("  /prazo"),
            Reply::Shortcut {
                name: "prazo".into(),
                rest: ""
            }
        );
        assert_eq!(read("//prazo"), Reply::Literal("/prazo".into()));
        assert_eq!(read("/home/user"), Reply::Literal("/home/user".into()));
        assert_eq!(read("/"), Reply::Literal("/".into()));
        assert_eq!(read("olá /prazo"), Reply::Literal("olá /prazo".into()));
    }

    #[test]
    fn the_text_replaces_the_shortcut_and_keeps_what_follows() {
        assert_eq!(expand("Bom dia!", ""), "Bom dia!");
        assert_eq!(expand("Bom dia!", "Maria"), "Bom dia! Maria");
    }
}

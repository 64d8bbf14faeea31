//! Input rules shared by the REST API and the CLI.

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_EMAIL_LEN: usize = 254;

/// A pragmatic e-mail check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(raw: &str) -> bool {
    if raw.len() > MAX_EMAIL_LEN || raw.chars().any(char::is_whitespace) {
        return false;
    }
    match raw.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

pub fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Returns the reason a field is invalid, or `None`.
pub fn check_name(raw: &str) -> Option<&'static str> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        Some("must not be empty")
    } else if trimmed.chars().count() > MAX_NAME_LEN {
        Some("is too long")
    } else {
        None
    }
}

pub fn check_password(raw: &str) -> Option<&'static str> {
    if raw.chars().count() < MIN_PASSWORD_LEN {
        Some("must be at least 8 characters")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_email("ana@example.com"));
        assert!(is_email("a.b+c@sub.example.com.br"));
        assert!(!is_email("ana"));
        assert!(!is_email("ana@localhost"));
        assert!(!is_email("@example.com"));
        assert!(!is_email("a b@example.com"));
        assert!(!is_email("a@b@example.com"));
        assert_eq!(normalize_email("  Ana@Example.COM "), "ana@example.com");
    }

    #[test]
    fn names_and_passwords() {
        assert_eq!(check_name("  "), Some("must not be empty"));
        assert_eq!(check_name("Ana"), None);
        assert!(check_name(&"x".repeat(201)).is_some());
        assert!(check_password("short").is_some());
        assert!(check_password("long enough").is_none());
    }
}

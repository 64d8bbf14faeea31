//! Every key of `config/default.toml` is documented in `docs/configuration.md`: a key added to
//! the defaults without its line there fails this test.

use std::path::Path;

/// `section.key` for every key of a TOML file with plain `[section]` tables (a dotted section
/// such as `[llm.prices]` gives `llm.prices.key`).
fn keys(toml: &str) -> Vec<String> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in toml.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            continue;
        }
        // Continuation lines of a multi-line array hold no `key =`.
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || key.starts_with('"') && !key.ends_with('"') || key.contains(' ') {
            continue;
        }
        keys.push(if section.is_empty() {
            key.to_string()
        } else {
            format!("{section}.{key}")
        });
    }
    keys
}

#[test]
fn every_default_key_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let defaults =
        std::fs::read_to_string(root.join("config/default.toml")).expect("config/default.toml");
    let docs =
        std::fs::read_to_string(root.join("docs/configuration.md")).expect("docs/configuration.md");
    let keys = keys(&defaults);
    assert!(keys.len() > 50, "the defaults were read: {keys:?}");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !docs.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "keys of config/default.toml missing from docs/configuration.md: {missing:?}"
    );
}

#[test]
fn the_key_reader_sees_sections_and_skips_comments() {
    let toml = "# a = 1\n[engine]\nturn_max_attempts = 3\nphrases = [\"a = b\",\n  \"c\"]\n[llm.prices]\n\"gpt-4o\" = { prompt = 1 }\n";
    assert_eq!(
        keys(toml),
        [
            "engine.turn_max_attempts",
            "engine.phrases",
            "llm.prices.\"gpt-4o\""
        ]
    );
}

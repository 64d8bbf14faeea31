//! The `atende` binary: `migrate` and `user create` against a fresh database, and a clear
//! error for a bad configuration.

mod support;

use std::process::Command;

fn atende(db_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atende"));
    cmd.env("ATENDE_ENV", "test")
        .env("ATENDE_CONFIG_DIR", support::config_dir())
        .env("ATENDE__DATABASE__URL", db_url);
    cmd
}

#[test]
fn migrate_and_user_create_work_from_the_command_line() {
    let db = support::TestDb::create();
    let out = atende(&db.url()).arg("migrate").output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Twice is fine.
    let out = atende(&db.url()).arg("migrate").output().expect("runs");
    assert!(out.status.success());

    let out = atende(&db.url())
        .args([
            "user",
            "create",
            "--tenant",
            "acme",
            "--email",
            "boss@acme.test",
            "--role",
            "admin",
        ])
        .env("ATENDE_USER_PASSWORD", "cli-password")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("boss@acme.test") && stdout.contains("acme"),
        "{stdout}"
    );
    assert!(!stdout.contains("cli-password"));

    // Same e-mail in the same tenant again: refused.
    let out = atende(&db.url())
        .args([
            "user",
            "create",
            "--tenant",
            "acme",
            "--email",
            "boss@acme.test",
            "--role",
            "admin",
        ])
        .env("ATENDE_USER_PASSWORD", "cli-password")
        .output()
        .expect("runs");
    assert!(!out.status.success());
}

#[test]
fn bad_configuration_is_named_and_refused() {
    let out = atende("mysql://nowhere/db")
        .arg("migrate")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("database.url"), "{stderr}");

    let out = atende("sqlite://unused.db")
        .arg("migrate")
        .env("ATENDE__DATABASE__POOL_SIZE", "lots")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pool_size"), "{stderr}");

    let out = atende("sqlite://unused.db")
        .arg("migrate")
        .env("ATENDE_ENV", "production")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("auth.jwt_secret"));
}

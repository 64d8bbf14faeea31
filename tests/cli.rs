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

/// Runs `serve`, which must stop at once; a server that starts anyway is killed and fails
/// the test instead of hanging it.
fn serve_refused(cmd: &mut Command) -> (Option<i32>, String) {
    let mut child = cmd
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("waits") {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                use std::io::Read;
                let _ = pipe.read_to_string(&mut stderr);
            }
            return (status.code(), stderr);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started with the development secrets");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Issue 12, finding 8: the public development secrets only serve a development or test
/// server on loopback; anything else stops at start with exit code 2.
#[test]
fn development_secrets_are_refused_outside_a_loopback_development_server() {
    for (env, host) in [("prod", "127.0.0.1"), ("development", "0.0.0.0")] {
        let (code, stderr) = serve_refused(
            atende("sqlite://unused.db")
                .env("ATENDE_ENV", env)
                .env("ATENDE__SERVER__HOST", host)
                .env("ATENDE__SERVER__PORT", "0"),
        );
        assert_eq!(code, Some(2), "{env} on {host}: {stderr}");
        assert!(
            stderr.contains("auth.jwt_secret"),
            "{env} on {host}: {stderr}"
        );
    }
    let (code, stderr) = serve_refused(
        atende("sqlite://unused.db")
            .env("ATENDE_ENV", "development")
            .env("ATENDE__SERVER__HOST", "0.0.0.0")
            .env("ATENDE__SERVER__PORT", "0")
            .env(
                "ATENDE__AUTH__JWT_SECRET",
                "an-operator-chosen-secret-000000000",
            ),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("secrets.encryption_key"), "{stderr}");
}

//! `atende secrets rotate`: values sealed under the old key are sealed again under the new
//! one, so the old key can leave the configuration; a store where a value opens with no
//! configured key is left untouched.

mod support;

use std::process::Command;

use atende::secrets::SecretBox;
use secrecy::SecretString;
use serde_json::json;
use support::app::{config_dir, TestApp};
use support::engine::SECRET;

const OLD_KEY: &str = "old-sealing-key-for-the-rotation-test-0123456789";
const NEW_KEY: &str = "new-sealing-key-for-the-rotation-test-9876543210";

fn rotate(db_url: &str, key: &str, previous: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_atende"))
        .env("ATENDE_ENV", "test")
        .env("ATENDE_CONFIG_DIR", config_dir())
        .env("ATENDE__DATABASE__URL", db_url)
        .env("ATENDE__SECRETS__ENCRYPTION_KEY", key)
        .env("ATENDE__SECRETS__PREVIOUS_ENCRYPTION_KEYS", previous)
        .args(["secrets", "rotate"])
        .output()
        .expect("runs")
}

fn key(raw: &str) -> SecretString {
    SecretString::from(raw.to_string())
}

#[actix_web::test]
async fn rotation_reseals_every_value_under_the_new_key() {
    let app = TestApp::spawn_with(&[("secrets.encryption_key", OLD_KEY)]).await;
    let admin = app.admin().await;
    app.create_integration(
        &admin,
        json!({"kind": "generic", "name": "shop", "secret": SECRET}),
    )
    .await;
    app.create_agent(
        &admin,
        json!({"name": "Keyed", "provider": {"kind": "openai", "api_key": "sk-rotation-test"}}),
    )
    .await;

    // A wrong previous key: the old values open with no configured key, nothing is written.
    let refused = rotate(
        &app.db.url(),
        NEW_KEY,
        "not-the-old-key-at-all-0123456789abcdef",
    );
    assert!(
        !refused.status.success(),
        "rotation without the old key must fail"
    );
    let examine = |secrets: SecretBox| {
        app.store
            .run(move |conn| atende::store::sealed::rotate(conn, &secrets))
    };
    // Still readable with the old key alone (and current under it: nothing to re-seal).
    let report = examine(SecretBox::new(&key(OLD_KEY)))
        .await
        .expect("old key opens");
    assert_eq!(report.resealed, 0);
    assert!(report.examined >= 2, "{report:?}");

    let out = rotate(&app.db.url(), NEW_KEY, OLD_KEY);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("re-sealed {0} of {0}", report.examined)),
        "{stdout}"
    );

    // Every value now opens with the new key alone and is current; the old key opens none.
    let after = examine(SecretBox::new(&key(NEW_KEY)))
        .await
        .expect("new key opens all");
    assert_eq!(after.resealed, 0);
    assert_eq!(after.examined, report.examined);
    assert!(examine(SecretBox::new(&key(OLD_KEY))).await.is_err());

    // Idempotent.
    let again = rotate(&app.db.url(), NEW_KEY, OLD_KEY);
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .contains(&format!("re-sealed 0 of {}", report.examined)),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

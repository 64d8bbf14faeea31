//! Meeting hosts for booking tests: a teammate whose working hours cover every day.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{Session, TestApp};

/// Working hours every day, 08:00–20:00 (the calendar API's body).
pub const ALL_WEEK: &str = r#"{"days": {"mon": [["08:00","20:00"]], "tue": [["08:00","20:00"]],
    "wed": [["08:00","20:00"]], "thu": [["08:00","20:00"]], "fri": [["08:00","20:00"]],
    "sat": [["08:00","20:00"]], "sun": [["08:00","20:00"]]}}"#;

/// `name` (ana@tenant-a.test), an available agent who works every day 08:00–20:00, signed
/// in; the calendar's answer to setting her hours.
pub async fn all_week_agent(app: &TestApp, admin: &Session, name: &str) -> (Session, Value) {
    let (status, body) = app
        .post(
            "/api/v1/users",
            &admin.token,
            &json!({"name": name, "email": "ana@tenant-a.test", "password": "user-password",
                "role": "agent", "available": true, "max_conversations": 50}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let ana = app.login("ana@tenant-a.test", "user-password").await;
    let hours: Value = serde_json::from_str(ALL_WEEK).expect("json");
    let (status, hours) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/calendar/{}/working-hours", ana.user_id),
            Some(&ana.token),
            Some(&hours),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{hours}");
    (ana, hours)
}

/// Ana Souza works every day and is the only one who takes meetings (the admin is not
/// available).
pub async fn sole_meeting_host(app: &TestApp, admin: &Session) -> Session {
    let (ana, _) = all_week_agent(app, admin, "Ana Souza").await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{}", admin.user_id),
            &admin.token,
            &json!({"available": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ana
}

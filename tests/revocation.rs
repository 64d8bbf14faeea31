//! Issue 12, finding 3: a token is only as good as its user is now. Deleted users, demoted
//! admins and changed passwords take effect on the next request, and open WebSocket and SSE
//! sessions of a revoked user are closed.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use support::ws::{Ended, WsClient};
use support::TestApp;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Generous upper bound on "within seconds"; the positive signal (a close) ends the wait.
const WAIT: Duration = Duration::from_secs(8);

/// Opens `/api/v1/events` and returns the live response (first chunk read).
async fn open_sse(app: &TestApp, token: &str) -> reqwest::Response {
    let mut response = app
        .http
        .get(app.url("/api/v1/events"))
        .bearer_auth(token)
        .send()
        .await
        .expect("SSE request");
    assert_eq!(response.status(), StatusCode::OK);
    let first = response.chunk().await.expect("first chunk");
    assert!(first.is_some(), "the stream opens with a comment");
    response
}

/// Reads until the server ends the stream; true if it did within `wait`.
async fn sse_ends(response: &mut reqwest::Response, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return false;
        };
        match tokio::time::timeout(left, response.chunk()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) | Ok(Err(_)) => return true,
            Err(_) => return false,
        }
    }
}

#[actix_web::test]
async fn a_deleted_admins_token_can_no_longer_create_an_admin() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let rogue = app.staff(&admin, "admin", "rogue@tenant-a.test").await;
    let (status, _) = app.get("/api/v1/users", &rogue.token).await;
    assert_eq!(status, StatusCode::OK, "a live admin lists users");

    let (status, _) = app
        .delete(&format!("/api/v1/users/{}", rogue.user_id), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, body) = app
        .post(
            "/api/v1/users",
            &rogue.token,
            &json!({"name": "Backdoor", "email": "backdoor@tenant-a.test",
                "password": "backdoor-password", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "AUTH_ERROR");
    // Nothing was created: the would-be admin cannot log in.
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/token",
            None,
            Some(&json!({"email": "backdoor@tenant-a.test", "password": "backdoor-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The SSE token-in-query path refuses it too.
    let (status, _) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/events?token={}", rogue.token),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_demoted_admin_is_refused_admin_routes_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let demoted = app.staff(&admin, "admin", "demoted@tenant-a.test").await;
    let (status, _) = app.get("/api/v1/users", &demoted.token).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{}", demoted.user_id),
            &admin.token,
            &json!({"role": "agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = app.get("/api/v1/users", &demoted.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "FORBIDDEN");
    let (status, _) = app
        .post(
            "/api/v1/users",
            &demoted.token,
            &json!({"name": "X", "email": "x@tenant-a.test", "password": "x-password-long",
                "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Still a user: its own account reads fine.
    let (status, me) = app
        .get(
            &format!("/api/v1/users/{}", demoted.user_id),
            &demoted.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "agent");
}

#[actix_web::test]
async fn a_password_change_needs_the_current_one_and_ends_old_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.staff(&admin, "agent", "pw@tenant-a.test").await;
    let me = format!("/api/v1/users/{}", user.user_id);

    let (status, body) = app
        .patch(&me, &user.token, &json!({"password": "brand-new-password"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["details"]["field"], "current_password");
    let (status, body) = app
        .patch(
            &me,
            &user.token,
            &json!({"password": "brand-new-password", "current_password": "wrong-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["details"]["field"], "current_password");
    // Refused changes changed nothing: the token still works.
    let (status, _) = app.get(&me, &user.token).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = app
        .patch(
            &me,
            &user.token,
            &json!({"password": "brand-new-password", "current_password": "user-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get(&me, &user.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "AUTH_ERROR");
    let fresh = app.login("pw@tenant-a.test", "brand-new-password").await;
    let (status, _) = app.get(&me, &fresh.token).await;
    assert_eq!(status, StatusCode::OK);

    // An admin resets another user's password without knowing it; the user's tokens end.
    let (status, body) = app
        .patch(&me, &admin.token, &json!({"password": "reset-by-admin-1"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.get(&me, &fresh.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.login("pw@tenant-a.test", "reset-by-admin-1").await;
    // The admin's own token is untouched by resetting someone else.
    let (status, _) = app.get("/api/v1/users", &admin.token).await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn open_sockets_and_streams_of_a_deleted_user_are_closed() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let doomed = app
        .staff(&admin, "supervisor", "doomed@tenant-a.test")
        .await;
    let bystander = app
        .staff(&admin, "supervisor", "bystander@tenant-a.test")
        .await;

    let (mut ws, _) = WsClient::connect(&app, &doomed.token).await;
    ws.barrier().await;
    let mut sse = open_sse(&app, &doomed.token).await;
    let (mut other_ws, _) = WsClient::connect(&app, &bystander.token).await;
    other_ws.barrier().await;

    let (status, _) = app
        .delete(&format!("/api/v1/users/{}", doomed.user_id), &admin.token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    match ws.ended(WAIT).await {
        Some(Ended::Closed(code, reason)) => {
            assert_eq!(code, CloseCode::Policy);
            assert!(reason.contains("no longer exists"), "{reason}");
        }
        other => panic!("the deleted user's socket stays open: {other:?}"),
    }
    assert!(
        sse_ends(&mut sse, WAIT).await,
        "the deleted user's event stream stays open"
    );
    // Someone else's socket is untouched.
    other_ws.barrier().await;
}

#[actix_web::test]
async fn a_demoted_supervisors_socket_and_stream_end_and_a_new_socket_sees_the_new_role() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let sup = app.staff(&admin, "supervisor", "sup@tenant-a.test").await;
    let (mut ws, _) = WsClient::connect(&app, &sup.token).await;
    ws.barrier().await;
    let mut sse = open_sse(&app, &sup.token).await;

    let (status, _) = app
        .patch(
            &format!("/api/v1/users/{}", sup.user_id),
            &admin.token,
            &json!({"role": "agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(
        ws.ended(WAIT).await,
        Some(Ended::Closed(CloseCode::Policy, _))
    ));
    assert!(
        sse_ends(&mut sse, WAIT).await,
        "an agent may not read /events"
    );
    let (status, body) = app.get("/api/v1/events", &sup.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The same token still opens a socket, now as an agent.
    let (mut again, _) = WsClient::connect(&app, &sup.token).await;
    again.barrier().await;
}

#[actix_web::test]
async fn a_password_change_closes_open_sockets() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.staff(&admin, "agent", "rekey@tenant-a.test").await;
    let (mut ws, _) = WsClient::connect(&app, &user.token).await;
    ws.barrier().await;
    let (status, _) = app
        .patch(
            &format!("/api/v1/users/{}", user.user_id),
            &admin.token,
            &json!({"password": "another-password-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    match ws.ended(WAIT).await {
        Some(Ended::Closed(code, reason)) => {
            assert_eq!(code, CloseCode::Policy);
            assert!(reason.contains("revoked"), "{reason}");
        }
        other => panic!("the socket outlived the password: {other:?}"),
    }
    let (status, _) = WsClient::refused(&app, &user.token).await;
    assert_eq!(status, 401);
}

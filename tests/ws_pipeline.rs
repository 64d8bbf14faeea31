//! A busy socket: a colleague's messages sent back to back without waiting are read on while
//! earlier ones wait for their commit (pipelined), yet each is stored once, in the order
//! sent, and acknowledged in that order.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::ws::WsClient;
use support::TestApp;

#[actix_web::test]
async fn messages_sent_back_to_back_are_stored_and_acknowledged_in_order() {
    // A burst above the frames sent, so none is rate-limited.
    let app = TestApp::spawn_with(&[("realtime.frames_burst", "200")]).await;
    let admin = app.admin().await;
    let integration = app.webchat_integration(&admin).await;
    let (_, conversation) = app.webchat_visitor(&integration, "Maria").await;
    let conversation = conversation.as_str();

    let (mut socket, _) = WsClient::connect(&app, &admin.token).await;
    const COUNT: usize = 40;
    for n in 0..COUNT {
        socket
            .send(json!({"type": "message", "conversation_id": conversation,
                "content": format!("reply {n}"), "client_msg_id": format!("k-{n}")}))
            .await;
    }
    // Also a frame that fails at once, in the middle of the stream's answers: it is answered
    // after every message sent before it.
    socket
        .send(json!({"type": "message", "conversation_id": conversation, "content": ""}))
        .await;
    // Answers in the order the frames came: forty acks, then the error.
    let mut answers = Vec::new();
    while answers.len() < COUNT + 1 {
        let frame = socket.next().await;
        if frame["type"] == "message_sent" || frame["type"] == "error" {
            answers.push(frame);
        }
    }
    let mut seqs = Vec::new();
    for (n, ack) in answers.iter().take(COUNT).enumerate() {
        assert_eq!(ack["type"], "message_sent", "answer {n}: {ack}");
        assert_eq!(
            ack["client_msg_id"],
            format!("k-{n}"),
            "acks in the order sent"
        );
        assert_eq!(ack["message"]["content"], format!("reply {n}"));
        seqs.push(ack["message"]["seq"].as_i64().expect("seq"));
    }
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "stored in the order sent: {seqs:?}"
    );
    assert_eq!(answers[COUNT]["type"], "error");
    assert_eq!(answers[COUNT]["code"], "VALIDATION_ERROR");

    let contents = staff_messages(&app, &admin.token, conversation).await;
    let expected: Vec<String> = (0..COUNT).map(|n| format!("reply {n}")).collect();
    assert_eq!(contents, expected, "each stored once, in order");
}

/// A colleague's messages are checked against the conversation's owner at the moment they
/// are sent: once it is another agent's, the next message is refused and nothing is stored.
#[actix_web::test]
async fn an_agent_loses_a_conversation_and_its_next_message_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mut agents = Vec::new();
    for name in ["ana", "bob"] {
        let email = format!("{name}@pipeline.test");
        let (status, body) = app
            .post(
                "/api/v1/users",
                &admin.token,
                &json!({"name": name, "email": email, "password": "user-password",
                        "role": "agent", "max_conversations": 5}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        agents.push(app.login(&email, "user-password").await);
    }
    let (ana, bob) = (&agents[0], &agents[1]);
    let integration = app.webchat_integration(&admin).await;
    let (_, conversation) = app.webchat_visitor(&integration, "Maria").await;
    let conversation = conversation.clone();
    let assign = |user: &str| {
        let body = json!({"user_id": user});
        let path = format!("/api/v1/conversations/{conversation}/assign");
        let app = &app;
        let token = admin.token.clone();
        async move {
            let (status, answer) = app.post(&path, &token, &body).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
        }
    };
    assign(&ana.user_id).await;

    let (mut socket, _) = WsClient::connect(&app, &ana.token).await;
    let mut say = async |content: &str| {
        socket
            .send(json!({"type": "message", "conversation_id": conversation, "content": content}))
            .await;
        loop {
            let frame = socket.next().await;
            if frame["type"] == "message_sent" || frame["type"] == "error" {
                return frame;
            }
        }
    };
    assert_eq!(say("primeira").await["type"], "message_sent");

    assign(&bob.user_id).await;
    let refused = say("segunda").await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "FORBIDDEN", "{refused}");

    assert_eq!(
        staff_messages(&app, &admin.token, &conversation).await,
        ["primeira"],
        "the refused message is not stored"
    );
}

/// What colleagues wrote in the conversation, in its order.
async fn staff_messages(app: &TestApp, token: &str, conversation: &str) -> Vec<String> {
    let (status, history) = app
        .get(
            &format!("/api/v1/conversations/{conversation}/messages?limit=100"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    history["items"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["sender_type"] == "user")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

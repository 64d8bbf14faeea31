//! Booking on any channel: on WhatsApp (Evolution) the AI calls the `schedule_meeting` system
//! tool to list a day's free times and book one; the meeting exists with the team's human, the
//! customer gets the localized confirmation with an `.ics` link through Evolution, and the
//! link serves the meeting (only with its key).

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::evolution::{whatsapp, INSTANCE};
use support::scripted_llm::Step;
use support::tomorrow;

/// Content lines of an RFC 5545 text, unfolded, as (name, value).
fn ics_lines(text: &str) -> Vec<(String, String)> {
    assert!(text.contains("\r\n"), "CRLF line ends");
    let unfolded = text.replace("\r\n ", "");
    unfolded
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, value) = l.split_once(':').expect("name:value");
            (name.to_string(), value.to_string())
        })
        .collect()
}

#[actix_web::test]
async fn the_ai_books_a_meeting_on_whatsapp_and_the_customer_gets_the_confirmation_and_ics() {
    let ch = whatsapp(json!({"context_timer_seconds": 0})).await;
    let ana = support::calendar::sole_meeting_host(&ch.app, &ch.admin).await;

    let tool = support::engine::create(
        &ch.app,
        &ch.admin,
        "/api/v1/tools",
        &json!({"name": "schedule_meeting", "tool_type": "system"}),
    )
    .await;
    let (status, body) = ch
        .app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/agents/{}/tools/{tool}", ch.agent_id),
            Some(&ch.admin.token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let day = tomorrow();
    ch.llm.push(Step::ToolCalls(vec![(
        "schedule_meeting".into(),
        json!({"action": "list_slots", "date": day}),
    )]));
    ch.llm.push(Step::ToolCalls(vec![(
        "schedule_meeting".into(),
        json!({"action": "book", "date": day, "time": "10:00", "language": "pt-BR"}),
    )]));
    ch.llm.push(Step::reply("Pronto, está marcado!"));
    let conversation = ch
        .customer_says("3EB0BOOK0001", "Quero marcar uma reunião amanhã às 10h")
        .await;

    // The free times went back to the model, 10:00 among them.
    let asked = ch.llm.wait_for_requests(3, Duration::from_secs(15)).await;
    assert!(asked >= 3, "the model was asked three times");
    let second = &ch.llm.requests()[1];
    assert!(
        second.body.to_string().contains("10:00"),
        "{:?}",
        second.body
    );

    // The customer gets the AI's words and the engine's confirmation on WhatsApp.
    let texts = support::engine::eventually(Duration::from_secs(15), &mut || async {
        let texts: Vec<Value> = ch
            .evolution
            .received()
            .iter()
            .filter(|r| r.path == format!("/message/sendText/{INSTANCE}"))
            .map(|r| r.json())
            .collect();
        (texts.len() >= 2).then_some(texts)
    })
    .await
    .expect("two texts sent");
    let confirmation = texts
        .iter()
        .filter_map(|t| t["text"].as_str())
        .find(|t| t.starts_with("Reunião agendada para "))
        .unwrap_or_else(|| panic!("confirmation sent: {texts:?}"))
        .to_string();
    let (y, m, d) = (&day[0..4], &day[5..7], &day[8..10]);
    assert!(
        confirmation.contains(&format!("{d}/{m}/{y} às 10:00")),
        "{confirmation}"
    );
    assert!(texts.iter().any(|t| t["text"] == "Pronto, está marcado!"));

    // Stored in the conversation too.
    let (_, page) = ch
        .app
        .get(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &ch.admin.token,
        )
        .await;
    assert!(page["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|m| m["content"] == confirmation.as_str() && m["sender_type"] == "system"));

    // The meeting exists with Ana, and its link serves it.
    let url = confirmation
        .split_whitespace()
        .find(|w| w.contains("/api/v1/meetings/"))
        .expect("link in the confirmation");
    let path = &url[url.find("/api/v1/meetings/").expect("path")..];
    let response = ch.app.http.get(ch.app.url(path)).send().await.expect("ics");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/calendar")));
    let lines = ics_lines(&response.text().await.expect("body"));
    assert_eq!(lines.first().map(|l| l.1.as_str()), Some("VCALENDAR"));
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.0 == "BEGIN" && l.1 == "VEVENT")
            .count(),
        1
    );
    let start = lines
        .iter()
        .find(|l| l.0 == "DTSTART")
        .map(|l| l.1.clone())
        .expect("DTSTART");
    // 10:00 in São Paulo is 13:00 UTC.
    assert_eq!(start, format!("{y}{m}{d}T130000Z"));
    let (_, slots) = ch
        .app
        .get(
            &format!("/api/v1/calendar/available-slots?date={day}&duration_minutes=60"),
            &ana.token,
        )
        .await;
    let times: Vec<&str> = slots["available_slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|s| s["time"].as_str())
        .collect();
    assert!(!times.contains(&"10:00"), "10:00 is booked: {times:?}");
    assert!(times.contains(&"11:00"), "{times:?}");

    // Without the key, or with another meeting's, there is nothing there.
    let (base, _) = path.split_once('?').expect("query");
    for bad in [
        base.to_string(),
        format!("{base}?key=00000000000000000000000000000000"),
        path.replace("/meetings/", "/meetings/0"),
    ] {
        let status = ch
            .app
            .http
            .get(ch.app.url(&bad))
            .send()
            .await
            .expect("ics")
            .status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }
}

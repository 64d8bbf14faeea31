//! A real WebSocket client (tokio-tungstenite over loopback) for the `/ws` endpoint, and an
//! SSE reader, with frame buffering so a test can wait for one frame type without losing
//! the others.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::app::TestApp;

pub const FRAME_WAIT: Duration = Duration::from_secs(10);

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    seen: VecDeque<Value>,
    pub closed: Option<(CloseCode, String)>,
}

/// How a socket ended.
#[derive(Debug, PartialEq)]
pub enum Ended {
    Closed(CloseCode, String),
    Reset,
}

impl WsClient {
    pub fn url(app: &TestApp, token: &str) -> String {
        format!("ws://127.0.0.1:{}/ws?token={token}", app.port)
    }

    /// Connects and returns the client after the `connected` frame.
    pub async fn connect(app: &TestApp, token: &str) -> (WsClient, Value) {
        Self::connect_url(&Self::url(app, token)).await
    }

    /// [`WsClient::connect`] to any server's `/ws?token=…` URL.
    pub async fn connect_url(url: &str) -> (WsClient, Value) {
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("WebSocket handshake");
        let mut client = WsClient {
            stream,
            seen: VecDeque::new(),
            closed: None,
        };
        let connected = client.next_of("connected").await;
        (client, connected)
    }

    /// The HTTP status and body of a refused handshake.
    pub async fn refused(app: &TestApp, token: &str) -> (u16, Value) {
        match tokio_tungstenite::connect_async(Self::url(app, token)).await {
            Ok(_) => panic!("the handshake should have been refused"),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = response
                    .body()
                    .as_ref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                (status, body)
            }
            Err(other) => panic!("unexpected handshake error: {other}"),
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::text(text))
            .await
            .expect("frame sent");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.expect("frame sent");
    }

    /// The next JSON frame from the socket (buffered ones first).
    pub async fn next(&mut self) -> Value {
        if let Some(frame) = self.seen.pop_front() {
            return frame;
        }
        self.read(FRAME_WAIT)
            .await
            .unwrap_or_else(|| panic!("no frame within {FRAME_WAIT:?} (closed: {:?})", self.closed))
    }

    async fn read(&mut self, wait: Duration) -> Option<Value> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let item = match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return None,
                Ok(item) => item,
            };
            match item {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(&text).expect("server frames are JSON"))
                }
                Some(Ok(Message::Close(frame))) => {
                    self.closed = Some(
                        frame
                            .map(|f| (f.code, f.reason.to_string()))
                            .unwrap_or((CloseCode::Status, String::new())),
                    );
                    return None;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    if self.closed.is_none() {
                        self.closed = Some((CloseCode::Abnormal, "reset".into()));
                    }
                    return None;
                }
            }
        }
    }

    /// Waits for a frame of `kind`; frames of other kinds stay buffered, in order.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        self.try_next_of(kind, FRAME_WAIT).await.unwrap_or_else(|| {
            panic!(
                "no `{kind}` frame within {FRAME_WAIT:?}; buffered: {:?}; closed: {:?}",
                self.seen, self.closed
            )
        })
    }

    /// The next live `message` frame with a `seq` above `seq`. A message written just before
    /// the socket subscribed may still be announced live after it: such frames are skipped.
    pub async fn next_message_after(&mut self, seq: i64) -> Value {
        loop {
            let frame = self.next_of("message").await;
            if frame["message"]["seq"].as_i64().is_some_and(|s| s > seq) {
                return frame;
            }
        }
    }

    pub async fn try_next_of(&mut self, kind: &str, wait: Duration) -> Option<Value> {
        if let Some(at) = self.seen.iter().position(|f| f["type"] == kind) {
            return self.seen.remove(at);
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let frame = self.read(left).await?;
            if frame["type"] == kind {
                return Some(frame);
            }
            self.seen.push_back(frame);
        }
    }

    /// Asserts that no frame of `kind` came before a barrier's pong: call it once what would
    /// have caused the frame was seen happening elsewhere (a positive signal), never as a
    /// timed wait.
    pub async fn expect_none(&mut self, kind: &str) {
        self.barrier().await;
        let seen = self.buffered(kind);
        assert!(seen.is_empty(), "unexpected `{kind}` frames: {seen:?}");
    }

    /// Frames are answered in order: once the pong is back, every earlier frame was handled.
    pub async fn barrier(&mut self) {
        self.send(serde_json::json!({"type": "ping"})).await;
        self.next_of("pong").await;
    }

    /// The next `error` frame.
    pub async fn error(&mut self) -> Value {
        self.next_of("error").await
    }

    /// Buffered frames of `kind` (without waiting).
    pub fn buffered(&self, kind: &str) -> Vec<Value> {
        self.seen
            .iter()
            .filter(|f| f["type"] == kind)
            .cloned()
            .collect()
    }

    /// Reads until the server ends the socket (close frame or reset).
    pub async fn ended(&mut self, wait: Duration) -> Option<Ended> {
        let deadline = Instant::now() + wait;
        while self.closed.is_none() {
            let left = deadline.checked_duration_since(Instant::now())?;
            if let Some(frame) = self.read(left).await {
                self.seen.push_back(frame);
            }
        }
        self.closed.clone().map(|(code, reason)| {
            if reason == "reset" {
                Ended::Reset
            } else {
                Ended::Closed(code, reason)
            }
        })
    }

    /// The raw bytes the server sends until it closes the connection, read straight from the
    /// socket: no pong is ever written back (tungstenite would answer pings while reading).
    pub async fn raw_until_closed(&mut self, wait: Duration) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut bytes = Vec::new();
        let MaybeTlsStream::Plain(socket) = self.stream.get_mut() else {
            return bytes;
        };
        let _ = tokio::time::timeout(wait, async {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = socket.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                bytes.extend_from_slice(&chunk[..n]);
            }
        })
        .await;
        bytes
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
        // Drain until the server's close arrives, so its session is gone when this returns.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.stream.next().await {}
        })
        .await;
    }
}

/// Reads Server-Sent Events from `/api/v1/events`.
pub struct SseClient {
    response: reqwest::Response,
    buffer: String,
    pub comments: usize,
}

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

impl SseClient {
    pub async fn open(app: &TestApp, token: &str, last_event_id: Option<&str>) -> SseClient {
        Self::open_url(&app.http, &app.url("/api/v1/events"), token, last_event_id).await
    }

    /// [`SseClient::open`] on any server's `/api/v1/events` URL.
    pub async fn open_url(
        http: &reqwest::Client,
        url: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> SseClient {
        let mut request = http.get(url).bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("SSE request");
        assert_eq!(response.status(), 200, "SSE refused");
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        SseClient {
            response,
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next event (comments are counted and skipped), or None after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut event = None;
                let mut data = String::new();
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if let Some(event) = event {
                    return Some(SseEvent {
                        id,
                        event,
                        data: serde_json::from_str(&data).unwrap_or(Value::Null),
                    });
                }
                continue;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }

    /// Whether the server ended the stream within `wait` (what is left unread is dropped).
    pub async fn ended(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }

    /// The next event of `kind`, skipping others.
    pub async fn next_of(&mut self, kind: &str, wait: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let event = self.next(left).await?;
            if event.event == kind {
                return Some(event);
            }
        }
    }
}

//! A real OpenAI-compatible HTTP server on 127.0.0.1 that answers from a script, so the
//! provider, the engine and the benches exercise the genuine HTTP path (timeouts, retries,
//! concurrency) without a network or a key.
//!
//! Self-contained on purpose: benches include this file by `#[path]`.
//!
//! ```ignore
//! let llm = ScriptedLlm::start().await;          // inside an actix system
//! llm.push(Step::Status { code: 429, body: json!({"error": {"message": "slow down"}}), retry_after: Some(1) });
//! llm.push(Step::reply("Olá!"));
//! // point the provider at llm.base_url
//! ```
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Step {
    /// A normal completion with this text and usage.
    Reply {
        content: String,
        prompt_tokens: u64,
        completion_tokens: u64,
    },
    /// An assistant message asking for these function calls (name, arguments).
    ToolCalls(Vec<(String, Value)>),
    /// Any status with this JSON body, verbatim (a 200 here scripts malformed completions,
    /// e.g. empty `choices` or missing `usage`), with an optional `Retry-After` in seconds.
    Status {
        code: u16,
        body: Value,
        retry_after: Option<u64>,
    },
    /// Wait, then answer with `then`.
    Delay { ms: u64, then: Box<Step> },
    /// Never answer; the client has to time out.
    Hang,
    /// "reply to: <last user message>" with usage 10/5: the initial default.
    Echo,
}

impl Step {
    /// A reply with usage 10/5.
    pub fn reply(content: impl Into<String>) -> Step {
        Step::Reply {
            content: content.into(),
            prompt_tokens: 10,
            completion_tokens: 5,
        }
    }

    /// An OpenAI-shaped error: `{"error": {"message", "type", "param", "code"}}`.
    pub fn error(code: u16, error_type: &str, error_code: Option<&str>, message: &str) -> Step {
        Step::Status {
            code,
            body: json!({"error": {
                "message": message, "type": error_type, "param": null, "code": error_code,
            }}),
            retry_after: None,
        }
    }

    pub fn delayed(ms: u64, then: Step) -> Step {
        Step::Delay {
            ms,
            then: Box::new(then),
        }
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub path: String,
    /// The JSON body; `Value::Null` if it was not JSON.
    pub body: Value,
    pub authorization: Option<String>,
    pub started_at: Instant,
    /// `None` while unanswered (and forever for `Hang`).
    pub finished_at: Option<Instant>,
}

impl LoggedRequest {
    /// Content of the last `user` message (text or text parts).
    pub fn last_user_message(&self) -> Option<String> {
        last_user_message(&self.body)
    }

    pub fn is_stream(&self) -> bool {
        self.body["stream"].as_bool().unwrap_or(false)
    }
}

struct State {
    queue: VecDeque<Step>,
    /// `(needle, step)`: a request whose messages contain `needle` is answered with `step`,
    /// ahead of the queue and without consuming it (see [`ScriptedLlm::answer_when`]).
    matchers: Vec<(String, Step)>,
    default: Step,
    log: Vec<LoggedRequest>,
    in_flight: usize,
    max_in_flight: usize,
    /// Bodies of `/embeddings` requests, apart from `log` so chat-request counts stay exact.
    embeddings: Vec<Value>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A panicking test thread must not turn every later call into a second panic.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct ScriptedLlm {
    /// `http://127.0.0.1:PORT/v1`, the value for a provider's base URL.
    pub base_url: String,
    pub addr: SocketAddr,
    state: Shared,
    _server: Arc<ServerGuard>,
}

struct ServerGuard(actix_web::dev::ServerHandle);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        // `stop` sends its command immediately; the returned future only awaits completion.
        drop(self.0.stop(false));
    }
}

impl ScriptedLlm {
    /// Binds a random port and serves from the current actix system.
    pub async fn start() -> ScriptedLlm {
        let state: Shared = Arc::new(Mutex::new(State {
            queue: VecDeque::new(),
            matchers: Vec::new(),
            default: Step::Echo,
            log: Vec::new(),
            in_flight: 0,
            max_in_flight: 0,
            embeddings: Vec::new(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind scripted LLM port");
        let addr = listener.local_addr().expect("scripted LLM address");
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                // Prompts with long histories exceed actix's 256 kB default.
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .route("/v1/chat/completions", web::post().to(chat_completions))
                .route("/chat/completions", web::post().to(chat_completions))
                .route("/v1/embeddings", web::post().to(embeddings))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen on scripted LLM port")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        ScriptedLlm {
            base_url: format!("http://{addr}/v1"),
            addr,
            state,
            _server: Arc::new(ServerGuard(handle)),
        }
    }

    /// Queue a response; queued steps are consumed in order, one per request.
    pub fn push(&self, step: Step) {
        lock(&self.state).queue.push_back(step);
    }

    /// Answers every request whose messages (any role) contain `needle` with `step`, before
    /// looking at the queue, which such requests leave untouched: side requests (memory
    /// extraction, classification) then do not disturb a script of chat turns. A later call
    /// with the same needle replaces the step.
    pub fn answer_when(&self, needle: impl Into<String>, step: Step) {
        let needle = needle.into();
        let mut state = lock(&self.state);
        state.matchers.retain(|(n, _)| *n != needle);
        state.matchers.push((needle, step));
    }

    /// Logged requests whose messages contain `needle`.
    pub fn requests_containing(&self, needle: &str) -> Vec<LoggedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| messages_contain(&r.body, needle))
            .collect()
    }

    /// The answer once the queue is empty.
    pub fn set_default(&self, step: Step) {
        lock(&self.state).default = step;
    }

    /// Steps pushed but not yet consumed.
    pub fn pending_steps(&self) -> usize {
        lock(&self.state).queue.len()
    }

    /// Bodies of the `/embeddings` requests received, in order.
    pub fn embedding_requests(&self) -> Vec<Value> {
        lock(&self.state).embeddings.clone()
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.state).log.clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.state).log.len()
    }

    pub fn in_flight(&self) -> usize {
        lock(&self.state).in_flight
    }

    /// The highest number of requests being handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        lock(&self.state).max_in_flight
    }

    /// Polls until `count` requests arrived or `timeout` passed; returns the count seen.
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.request_count();
            if seen >= count || Instant::now() >= deadline {
                return seen;
            }
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Keeps `in_flight` and `finished_at` right however the handler ends, including when the
/// client hangs up and the handler future is dropped.
struct InFlight {
    state: Shared,
    index: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        state.in_flight = state.in_flight.saturating_sub(1);
        if let Some(entry) = state.log.get_mut(self.index) {
            entry.finished_at = Some(Instant::now());
        }
    }
}

async fn chat_completions(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Shared>,
) -> HttpResponse {
    let started_at = Instant::now();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let shared: Shared = state.get_ref().clone();
    let (index, step) = {
        let mut state = lock(&shared);
        state.log.push(LoggedRequest {
            path: request.path().to_string(),
            body: parsed.clone().unwrap_or(Value::Null),
            authorization: request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            started_at,
            finished_at: None,
        });
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        let matched = parsed.as_ref().and_then(|body| {
            state
                .matchers
                .iter()
                .find(|(needle, _)| messages_contain(body, needle))
                .map(|(_, step)| step.clone())
        });
        let step = match matched {
            Some(step) => step,
            None => match state.queue.pop_front() {
                Some(step) => step,
                None => state.default.clone(),
            },
        };
        (state.log.len() - 1, step)
    };
    let _in_flight = InFlight {
        state: shared,
        index,
    };

    let Some(body) = parsed else {
        return HttpResponse::BadRequest().json(json!({"error": {
            "message": "We could not parse the JSON body of your request.",
            "type": "invalid_request_error", "param": null, "code": null,
        }}));
    };
    answer(step, &body).await
}

async fn answer(mut step: Step, body: &Value) -> HttpResponse {
    while let Step::Delay { ms, then } = step {
        actix_rt::time::sleep(Duration::from_millis(ms)).await;
        step = *then;
    }
    let model = body["model"]
        .as_str()
        .unwrap_or("scripted-model")
        .to_string();
    let stream = body["stream"].as_bool().unwrap_or(false);
    match step {
        Step::Hang => std::future::pending::<HttpResponse>().await,
        Step::Status {
            code,
            body,
            retry_after,
        } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = HttpResponse::build(status);
            if let Some(seconds) = retry_after {
                response.insert_header(("Retry-After", seconds.to_string()));
            }
            response.json(body)
        }
        Step::Echo => {
            let content = format!("reply to: {}", last_user_message(body).unwrap_or_default());
            completion(&model, stream, Message::Text(content), 10, 5)
        }
        Step::Reply {
            content,
            prompt_tokens,
            completion_tokens,
        } => completion(
            &model,
            stream,
            Message::Text(content),
            prompt_tokens,
            completion_tokens,
        ),
        Step::ToolCalls(calls) => completion(&model, stream, Message::Tools(calls), 10, 5),
        Step::Delay { .. } => HttpResponse::InternalServerError().finish(), // unwound above
    }
}

enum Message {
    Text(String),
    Tools(Vec<(String, Value)>),
}

fn completion(
    model: &str,
    stream: bool,
    message: Message,
    prompt_tokens: u64,
    completion_tokens: u64,
) -> HttpResponse {
    let id = format!("chatcmpl-scripted-{}", next_id());
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    let tool_calls = |calls: &[(String, Value)]| -> Vec<Value> {
        calls
            .iter()
            .enumerate()
            .map(|(i, (name, arguments))| {
                json!({
                    "index": i,
                    "id": format!("call_{}_{i}", next_id()),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments.to_string()},
                })
            })
            .collect()
    };

    if !stream {
        let (message, finish_reason) = match &message {
            Message::Text(content) => (json!({"role": "assistant", "content": content}), "stop"),
            Message::Tools(calls) => {
                let calls: Vec<Value> = tool_calls(calls)
                    .into_iter()
                    .map(|mut c| {
                        if let Some(obj) = c.as_object_mut() {
                            obj.remove("index");
                        }
                        c
                    })
                    .collect();
                (
                    json!({"role": "assistant", "content": null, "tool_calls": calls}),
                    "tool_calls",
                )
            }
        };
        return HttpResponse::Ok().json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": usage,
        }));
    }

    let chunk = |delta: Value, finish_reason: Value, usage: Option<&Value>| -> String {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage.clone();
        }
        format!("data: {chunk}\n\n")
    };
    let mut sse = String::new();
    let finish_reason = match &message {
        Message::Text(content) => {
            // One chunk per word, spaces kept, so the chunks concatenate to the content.
            for (i, word) in content.split_inclusive(' ').enumerate() {
                let delta = if i == 0 {
                    json!({"role": "assistant", "content": word})
                } else {
                    json!({"content": word})
                };
                sse.push_str(&chunk(delta, Value::Null, None));
            }
            "stop"
        }
        Message::Tools(calls) => {
            for call in tool_calls(calls) {
                sse.push_str(&chunk(
                    json!({"role": "assistant", "tool_calls": [call]}),
                    Value::Null,
                    None,
                ));
            }
            "tool_calls"
        }
    };
    sse.push_str(&chunk(json!({}), json!(finish_reason), Some(&usage)));
    sse.push_str("data: [DONE]\n\n");
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .body(sse)
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn last_user_message(body: &Value) -> Option<String> {
    let messages = body["messages"].as_array()?;
    let last = messages.iter().rev().find(|m| m["role"] == "user")?;
    match &last["content"] {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

/// Whether any message of a chat-completions body contains `needle` (text or text parts).
fn messages_contain(body: &Value, needle: &str) -> bool {
    body["messages"].as_array().is_some_and(|messages| {
        messages.iter().any(|m| match &m["content"] {
            Value::String(text) => text.contains(needle),
            Value::Array(parts) => parts
                .iter()
                .any(|p| p["text"].as_str().is_some_and(|t| t.contains(needle))),
            _ => false,
        })
    })
}

/// Dimensions of the scripted embeddings.
const EMBEDDING_DIMENSIONS: usize = 64;

/// `/embeddings`: a deterministic bag-of-words vector per input (words of 3+ letters, lower
/// case, hashed into 64 buckets), so texts sharing words are close, as with a real model.
async fn embeddings(body: web::Json<Value>, state: web::Data<Shared>) -> HttpResponse {
    lock(state.get_ref()).embeddings.push(body.0.clone());
    let inputs: Vec<String> = match &body["input"] {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => Vec::new(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let mut vector = vec![0.0f32; EMBEDDING_DIMENSIONS];
            for word in text
                .to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().count() >= 3)
            {
                let bucket = word
                    .bytes()
                    .fold(5381usize, |h, b| h.wrapping_mul(33) ^ usize::from(b));
                vector[bucket % EMBEDDING_DIMENSIONS] += 1.0;
            }
            json!({"object": "embedding", "index": index, "embedding": vector})
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }))
}

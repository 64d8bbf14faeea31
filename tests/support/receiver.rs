//! A loopback HTTP receiver for what the engine sends out (channel replies, outbound
//! webhooks, HTTP tools): it records every request as it arrived and answers from a script
//! of statuses, then with a fixed one. Each test reads what it needs (signatures, headers,
//! JSON bodies) from the recorded requests.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The answer's body for a request, given the request (with the status it gets).
pub type BodyFor = Arc<dyn Fn(&Received) -> String + Send + Sync>;

struct State {
    script: VecDeque<u16>,
    /// The status once the script is used up.
    then: u16,
    body: BodyFor,
    content_type: &'static str,
    /// Paths answered only after a pause (a slow upstream).
    delays: HashMap<String, Duration>,
    received: Vec<Received>,
}

pub struct ScriptedReceiver {
    state: Arc<Mutex<State>>,
    port: u16,
    _server: actix_web::dev::ServerHandle,
}

impl ScriptedReceiver {
    /// Answers with the statuses of `script` in order, then 200, each with a short text.
    pub async fn start(script: &[u16]) -> ScriptedReceiver {
        let state = State {
            script: script.iter().copied().collect(),
            then: 200,
            body: Arc::new(|r: &Received| format!("receiver answered {}", r.answered)),
            content_type: "text/plain",
            delays: HashMap::new(),
            received: Vec::new(),
        };
        let state = Arc::new(Mutex::new(state));
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("receiver binds");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        ScriptedReceiver {
            state,
            port,
            _server: handle,
        }
    }

    /// Once the script is used up, answer `status` with a JSON body made from the request.
    pub fn answer_json(
        &self,
        status: u16,
        body: impl Fn(&Received) -> Value + Send + Sync + 'static,
    ) {
        let mut state = self.lock();
        state.then = status;
        state.content_type = "application/json";
        state.body = Arc::new(move |r: &Received| body(r).to_string());
    }

    /// Answer every request with a text body made from the request.
    pub fn answer_text(&self, body: impl Fn(&Received) -> String + Send + Sync + 'static) {
        self.lock().body = Arc::new(body);
    }

    /// Answers requests for `path` only after `pause` (they are recorded on arrival).
    pub fn delay(&self, path: &str, pause: Duration) {
        self.lock().delays.insert(path.to_string(), pause);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Waits until `n` requests arrived (or `timeout` passed); what arrived by then.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= n || tokio::time::Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let (answered, content_type, text, pause) = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        let answered = state.script.pop_front().unwrap_or(state.then);
        let received = Received {
            method: req.method().to_string(),
            path: req.path().to_string(),
            headers: req
                .headers()
                .iter()
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
                })
                .collect(),
            body: body.to_vec(),
            answered,
        };
        let text = (state.body)(&received);
        let pause = state.delays.get(&received.path).copied();
        state.received.push(received);
        (answered, state.content_type, text, pause)
    };
    if let Some(pause) = pause {
        tokio::time::sleep(pause).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).expect("scripted status"))
        .content_type(content_type)
        .body(text)
}

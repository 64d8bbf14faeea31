//! A bare HTTP/1.1 listener on loopback for outbound-security tests: records every request
//! (head and body, as text) and answers each with one scripted reply, possibly a huge
//! streamed body whose written byte count the test can read after the client hung up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What every request gets.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete answer.
    Fixed {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// `total` bytes of `fill`, written in 64 KiB pieces until done or the client goes away.
    Huge {
        status: u16,
        content_type: String,
        total: u64,
        fill: u8,
        /// Announce the length up front (a client may refuse at once) or not.
        with_length: bool,
    },
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::Fixed {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn redirect(location: &str) -> Reply {
        Reply::Fixed {
            status: 302,
            headers: vec![("Location".into(), location.to_string())],
            body: String::new(),
        }
    }
}

#[derive(Clone)]
pub struct RawServer {
    pub port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    /// Bytes of body written per finished connection, in order.
    written: Arc<Mutex<Vec<u64>>>,
    finished: Arc<Notify>,
}

impl RawServer {
    pub async fn start(reply: Reply) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = RawServer {
            port,
            requests: Arc::default(),
            written: Arc::default(),
            finished: Arc::new(Notify::new()),
        };
        let state = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let state = state.clone();
                let reply = reply.clone();
                tokio::spawn(async move {
                    let written = state.serve(socket, &reply).await;
                    state.written.lock().expect("lock").push(written);
                    state.finished.notify_waiters();
                });
            }
        });
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far, head and body as text.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }

    /// Waits until `count` connections were answered (or the client hung up on them), then
    /// returns the body bytes written to each.
    pub async fn wait_finished(&self, count: usize, timeout: Duration) -> Vec<u64> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.finished.notified();
            {
                let written = self.written.lock().expect("lock");
                if written.len() >= count {
                    return written.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.written.lock().expect("lock").clone();
            }
        }
    }

    async fn serve(&self, mut socket: TcpStream, reply: &Reply) -> u64 {
        let Some(request) = read_request(&mut socket).await else {
            return 0;
        };
        self.requests.lock().expect("lock").push(request);
        match reply {
            Reply::Fixed {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status} Scripted\r\n");
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str(&format!(
                    "Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                ));
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
                let _ = socket.shutdown().await;
                body.len() as u64
            }
            Reply::Huge {
                status,
                content_type,
                total,
                fill,
                with_length,
            } => {
                let mut head =
                    format!("HTTP/1.1 {status} Scripted\r\nContent-Type: {content_type}\r\n");
                if *with_length {
                    head.push_str(&format!("Content-Length: {total}\r\n"));
                }
                head.push_str("Connection: close\r\n\r\n");
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return 0;
                }
                let piece = vec![*fill; 64 * 1024];
                let mut sent: u64 = 0;
                while sent < *total {
                    let left = *total - sent;
                    let n = usize::try_from(left.min(piece.len() as u64)).unwrap_or(piece.len());
                    // A client that hung up makes the write fail (or stall: bounded).
                    match tokio::time::timeout(
                        Duration::from_secs(5),
                        socket.write_all(&piece[..n]),
                    )
                    .await
                    {
                        Ok(Ok(())) => sent += n as u64,
                        _ => break,
                    }
                }
                let _ = socket.shutdown().await;
                sent
            }
        }
    }
}

/// The request head and its `Content-Length` body, as text; `None` if the client left.
async fn read_request(socket: &mut TcpStream) -> Option<String> {
    let mut buffer: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buffer.len() > 1024 * 1024 {
            return None;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buffer).to_string())
}

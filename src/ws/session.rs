//! `WsSession`: one actor per WebSocket connection, the only place that knows about
//! actix-web-actors (moving to actix-ws is a change of this file alone).
//!
//! The session reads client frames in order: each frame's ordered part (checks, handing a
//! message to its conversation) is done before the next is read; what is left (a message's
//! commit) overlaps the next frames, so one busy socket gets group commit too. Answers keep
//! the order of the questions. It writes what the handler returns, and drains its bounded outbound queue from the hub. The hub drops a
//! socket whose queue overflows; the queue then ends and the session closes with a reason.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use bytestring::ByteString;
use governor::{Quota, RateLimiter};
use tokio::sync::mpsc;

use super::handler::{self, Core, Handled};
use super::hub::{next_session_id, Connect, Disconnect, Idle, SessionId};
use super::protocol::{ClientFrame, ServerFrame};
use super::{principal, Deps, Principal, WsError};
use crate::auth::request::request_token;
use crate::auth::TokenKeys;
use crate::error::ErrorCode;

type Limiter = governor::DefaultDirectRateLimiter;

pub struct WsSession {
    core: Arc<Core>,
    /// The token's `exp`: checked on every frame, not only at the handshake.
    expires_at: i64,
    /// The token's version of its user's credentials: the user must still exist with it
    /// (and with the socket's role) on every frame and every re-check.
    token_version: i64,
    last_heard: Instant,
    last_active: Instant,
    idle_reported: bool,
    limiter: Limiter,
    /// A fragmented text message being reassembled (None after an overflow until its end).
    fragments: Option<Vec<u8>>,
    fragments_dropped: bool,
    /// Answers in the order the frames came, though their commits overlap.
    answers: InOrder,
}

/// Answers held until every earlier frame's answer went out.
#[derive(Default)]
struct InOrder {
    next_ticket: u64,
    next_out: u64,
    ready: std::collections::BTreeMap<u64, Vec<ServerFrame>>,
    /// Frames whose rest (their commit) is still running.
    in_flight: usize,
}

impl InOrder {
    fn ticket(&mut self) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        ticket
    }

    /// Files `frames` as the answer to `ticket`; answers every frame whose turn has come.
    fn answer(&mut self, ticket: u64, frames: Vec<ServerFrame>) -> Vec<ServerFrame> {
        self.ready.insert(ticket, frames);
        let mut out = Vec::new();
        while let Some(frames) = self.ready.remove(&self.next_out) {
            out.extend(frames);
            self.next_out += 1;
        }
        out
    }
}

impl WsSession {
    fn new(
        id: SessionId,
        principal: Principal,
        expires_at: i64,
        token_version: i64,
        deps: Arc<Deps>,
    ) -> Self {
        let realtime = &deps.settings.realtime;
        let rate = std::num::NonZeroU32::new(realtime.frames_per_second)
            .unwrap_or(std::num::NonZeroU32::MIN);
        let burst =
            std::num::NonZeroU32::new(realtime.frames_burst).unwrap_or(std::num::NonZeroU32::MIN);
        WsSession {
            core: Arc::new(Core::new(id, principal, deps)),
            expires_at,
            token_version,
            last_heard: Instant::now(),
            last_active: Instant::now(),
            idle_reported: false,
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            fragments: None,
            fragments_dropped: false,
            answers: InOrder::default(),
        }
    }

    /// Sends `frames` as the answer to the frame holding `ticket`, once every earlier one
    /// was answered.
    fn answer(
        &mut self,
        ticket: u64,
        frames: Vec<ServerFrame>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        for frame in self.answers.answer(ticket, frames) {
            self.send(&frame, ctx);
        }
    }

    /// Answers the frame being read now, in its turn.
    fn answer_now(&mut self, frame: ServerFrame, ctx: &mut ws::WebsocketContext<Self>) {
        let ticket = self.answers.ticket();
        self.answer(ticket, vec![frame], ctx);
    }

    fn settings(&self) -> &crate::config::RealtimeSettings {
        &self.core.deps.settings.realtime
    }

    fn send(&self, frame: &ServerFrame, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.text(frame.encode());
    }

    fn close(&self, code: ws::CloseCode, reason: &str, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.close(Some(ws::CloseReason {
            code,
            description: Some(reason.to_string()),
        }));
        ctx.stop();
    }

    fn mark_active(&mut self) {
        self.last_active = Instant::now();
        if self.idle_reported {
            self.idle_reported = false;
            self.core.deps.hub.do_send(Idle {
                id: self.core.id,
                idle: false,
            });
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let max = self.settings().max_frame_bytes;
        if text.len() > max {
            let error = ServerFrame::error(
                ErrorCode::ValidationError,
                format!("the frame is larger than {max} bytes"),
            );
            self.answer_now(error, ctx);
            return;
        }
        if self.limiter.check().is_err() {
            let error = ServerFrame::error(
                ErrorCode::RateLimited,
                "too many frames; this one was dropped",
            );
            self.answer_now(error, ctx);
            return;
        }
        if chrono::Utc::now().timestamp() >= self.expires_at {
            self.send(
                &ServerFrame::error(ErrorCode::AuthError, "token expired"),
                ctx,
            );
            self.close(ws::CloseCode::Policy, "token expired", ctx);
            return;
        }
        let frame = match ClientFrame::parse(text) {
            Ok(frame) => frame,
            Err(e) => {
                self.answer_now(ServerFrame::error(ErrorCode::ValidationError, e.0), ctx);
                return;
            }
        };
        if frame == ClientFrame::Ping {
            // Keep-alive, not activity: a client pinging on a timer can still be away.
            self.answer_now(ServerFrame::Pong, ctx);
            return;
        }
        self.mark_active();
        let core = self.core.clone();
        let version = self.token_version;
        let ticket = self.answers.ticket();
        // The frame's ordered part runs before the next frame is read. Each is done as the
        // user is now: a deleted, demoted or re-keyed user's frame ends the socket. What
        // is left (a message's commit) overlaps the next frames, up to `pipeline_depth`.
        ctx.wait(
            async move {
                match core.principal.still_valid(&core.deps.access, version).await {
                    Ok(()) => Ok(handler::handle(core, frame).await),
                    Err(e) => Err(e),
                }
            }
            .into_actor(self)
            .map(move |result, act, ctx| match result {
                Ok(Handled::Now(frames)) => act.answer(ticket, frames, ctx),
                Ok(Handled::Later(rest)) => {
                    let finish = rest.into_actor(act).map(move |frames, act, ctx| {
                        act.answers.in_flight -= 1;
                        act.answer(ticket, frames, ctx);
                    });
                    act.answers.in_flight += 1;
                    if act.answers.in_flight >= act.settings().pipeline_depth {
                        // Deep enough: stop reading until this one is done.
                        ctx.wait(finish);
                    } else {
                        ctx.spawn(finish);
                    }
                }
                Err(e) => {
                    let reason = e.message.clone();
                    let ends = e.code == ErrorCode::AuthError;
                    act.answer(ticket, vec![ServerFrame::error(e.code, e.message)], ctx);
                    if ends {
                        act.close(ws::CloseCode::Policy, &reason, ctx);
                    }
                }
            }),
        );
    }

    /// The user's access check failed: an auth failure ends the socket; anything else (the
    /// store is down) is reported and the socket stays.
    fn refused(&self, e: WsError, ctx: &mut ws::WebsocketContext<Self>) {
        self.send(&ServerFrame::error(e.code, e.message.clone()), ctx);
        if e.code == ErrorCode::AuthError {
            self.close(ws::CloseCode::Policy, &e.message, ctx);
        }
    }

    /// Re-checks the user between frames (on a tick, and when told of a change).
    fn recheck(&self, ctx: &mut ws::WebsocketContext<Self>) {
        if !matches!(self.core.principal, Principal::Staff { .. }) {
            return;
        }
        let core = self.core.clone();
        let version = self.token_version;
        ctx.spawn(
            async move { core.principal.still_valid(&core.deps.access, version).await }
                .into_actor(self)
                .map(|result, act, ctx| {
                    if let Err(e) = result {
                        if e.code == ErrorCode::AuthError {
                            act.refused(e, ctx);
                        }
                    }
                }),
        );
    }

    fn on_fragment(&mut self, item: actix_http::ws::Item, ctx: &mut ws::WebsocketContext<Self>) {
        let max = self.settings().max_frame_bytes;
        let (first, last, bytes, binary) = match item {
            actix_http::ws::Item::FirstText(b) => (true, false, b, false),
            actix_http::ws::Item::FirstBinary(b) => (true, false, b, true),
            actix_http::ws::Item::Continue(b) => (false, false, b, false),
            actix_http::ws::Item::Last(b) => (false, true, b, false),
        };
        if first {
            self.fragments_dropped = binary;
            self.fragments = (!binary).then(Vec::new);
        }
        if let Some(buffer) = &mut self.fragments {
            if buffer.len() + bytes.len() > max {
                self.fragments = None;
                self.fragments_dropped = true;
            } else {
                buffer.extend_from_slice(&bytes);
            }
        }
        if !last {
            return;
        }
        let whole = self.fragments.take();
        if std::mem::take(&mut self.fragments_dropped) {
            self.send(
                &ServerFrame::error(
                    ErrorCode::ValidationError,
                    format!("the message is binary or larger than {max} bytes"),
                ),
                ctx,
            );
            return;
        }
        match whole.map(String::from_utf8) {
            Some(Ok(text)) => self.on_text(&text, ctx),
            _ => self.send(
                &ServerFrame::error(ErrorCode::ValidationError, "the message is not UTF-8"),
                ctx,
            ),
        }
    }

    fn heartbeat(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let realtime = self.settings();
        if self.last_heard.elapsed() > Duration::from_secs(realtime.client_timeout_seconds) {
            self.close(ws::CloseCode::Policy, "heartbeat timeout", ctx);
            return;
        }
        if chrono::Utc::now().timestamp() >= self.expires_at {
            self.send(
                &ServerFrame::error(ErrorCode::AuthError, "token expired"),
                ctx,
            );
            self.close(ws::CloseCode::Policy, "token expired", ctx);
            return;
        }
        let away_after = realtime.away_after_seconds;
        if away_after > 0
            && !self.idle_reported
            && self.last_active.elapsed() >= Duration::from_secs(away_after)
        {
            self.idle_reported = true;
            self.core.deps.hub.do_send(Idle {
                id: self.core.id,
                idle: true,
            });
        }
        ctx.ping(b"");
    }
}

/// A frame from the hub.
struct Outgoing(ByteString);

/// This socket's user changed (deleted, role or password): re-check it now.
struct AccessChanged;

/// The node is stopping (src/shutdown.rs).
struct NodeStopping;

/// How long a client told to reconnect should wait: long enough for the load balancer to
/// see this node gone, short enough not to miss much.
const RECONNECT_AFTER_MS: u64 = 1000;

impl StreamHandler<NodeStopping> for WsSession {
    fn handle(&mut self, _: NodeStopping, ctx: &mut Self::Context) {
        self.send(
            &ServerFrame::Reconnect {
                reason: crate::shutdown::ReconnectReason::NodeStopping,
                retry_after_ms: RECONNECT_AFTER_MS,
            },
            ctx,
        );
        self.close(
            ws::CloseCode::Restart,
            "the server is restarting; reconnect",
            ctx,
        );
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

impl StreamHandler<AccessChanged> for WsSession {
    fn handle(&mut self, _: AccessChanged, ctx: &mut Self::Context) {
        self.recheck(ctx);
    }

    /// The change feed ended with the process: nothing to do.
    fn finished(&mut self, _: &mut Self::Context) {}
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let (outbox, receiver) = mpsc::channel(self.settings().outbound_queue_frames);
        ctx.add_stream(futures::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|f| (Outgoing(f), receiver)) },
        ));
        let principal = &self.core.principal;
        self.send(
            &ServerFrame::Connected {
                user_id: principal.id().to_string(),
                kind: principal.kind(),
                conversation_id: match principal {
                    Principal::Contact { conversation, .. } => Some(conversation.to_string()),
                    Principal::Staff { .. } => None,
                },
            },
            ctx,
        );
        self.core.deps.hub.do_send(Connect {
            id: self.core.id,
            principal: principal.clone(),
            outbox,
        });
        let mut stopping = self.core.deps.shutdown.watch();
        ctx.add_stream(futures::stream::once(async move {
            crate::shutdown::stopping(&mut stopping).await;
            NodeStopping
        }));
        let every = Duration::from_secs(self.settings().heartbeat_interval_seconds);
        ctx.run_interval(every, |act, ctx| act.heartbeat(ctx));
        if let Principal::Staff { user, .. } = &self.core.principal {
            let user = user.clone();
            ctx.add_stream(futures::stream::unfold(
                self.core.deps.access.changes(),
                move |mut changes| {
                    let user = user.clone();
                    async move {
                        use tokio::sync::broadcast::error::RecvError;
                        loop {
                            match changes.recv().await {
                                Ok(changed) if changed == user => {
                                    return Some((AccessChanged, changes))
                                }
                                Ok(_) => continue,
                                // Missed notices may have been ours: check anyway.
                                Err(RecvError::Lagged(_)) => return Some((AccessChanged, changes)),
                                Err(RecvError::Closed) => return None,
                            }
                        }
                    }
                },
            ));
            let recheck = self.core.deps.access.recheck_interval();
            ctx.run_interval(recheck, |act, ctx| act.recheck(ctx));
        }
        self.core.deps.sessions_gauge.inc();
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.core.deps.hub.do_send(Disconnect(self.core.id));
        self.core.deps.sessions_gauge.dec();
        Running::Stop
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsSession {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        let message = match item {
            Ok(message) => message,
            Err(ws::ProtocolError::Overflow) => {
                let limit = self.settings().max_frame_bytes * 4;
                self.close(
                    ws::CloseCode::Size,
                    &format!("frame over the {limit} byte limit"),
                    ctx,
                );
                return;
            }
            Err(e) => {
                tracing::debug!(session = self.core.id, error = %e, "WebSocket protocol error");
                self.close(ws::CloseCode::Protocol, "protocol error", ctx);
                return;
            }
        };
        self.last_heard = Instant::now();
        match message {
            ws::Message::Text(text) => self.on_text(&text, ctx),
            ws::Message::Ping(bytes) => ctx.pong(&bytes),
            ws::Message::Pong(_) | ws::Message::Nop => {}
            ws::Message::Binary(_) => self.send(
                &ServerFrame::error(
                    ErrorCode::ValidationError,
                    "binary frames are not supported; send JSON text frames",
                ),
                ctx,
            ),
            ws::Message::Continuation(item) => self.on_fragment(item, ctx),
            ws::Message::Close(reason) => {
                ctx.close(reason);
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl StreamHandler<Outgoing> for WsSession {
    fn handle(&mut self, frame: Outgoing, ctx: &mut Self::Context) {
        ctx.text(frame.0);
    }

    /// The hub let go of this socket: it overflowed its queue (or the hub stopped).
    fn finished(&mut self, ctx: &mut Self::Context) {
        self.close(
            ws::CloseCode::Again,
            "slow consumer: too many frames waiting to be read",
            ctx,
        );
    }
}

/// `GET /ws?token=…`: a bad or expired token is refused before the upgrade (401 JSON).
pub async fn ws_route(
    req: HttpRequest,
    payload: web::Payload,
    keys: web::Data<TokenKeys>,
    deps: web::Data<Deps>,
) -> Result<HttpResponse, WsError> {
    let claims = keys.verify(&request_token(&req)?)?;
    let principal = principal(&deps.store, &deps.access, &claims)
        .await
        .map_err(|e| match e.code {
            ErrorCode::AuthError | ErrorCode::NotFound => {
                WsError::new(ErrorCode::AuthError, e.message)
            }
            _ => WsError::new(ErrorCode::ServiceUnavailable, e.message),
        })?;
    let frame_limit = deps.settings.realtime.max_frame_bytes.saturating_mul(4);
    let session = WsSession::new(
        next_session_id(),
        principal,
        claims.exp,
        claims.ver,
        deps.into_inner(),
    );
    ws::WsResponseBuilder::new(session, &req, payload)
        .frame_size(frame_limit)
        .start()
        .map_err(|e| WsError::validation(format!("not a WebSocket handshake: {e}")))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(ws_route));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(frames: &[ServerFrame]) -> Vec<String> {
        frames.iter().map(|f| f.encode().to_string()).collect()
    }

    #[test]
    fn answers_leave_in_the_order_the_frames_came() {
        let mut order = InOrder::default();
        let (first, second, third) = (order.ticket(), order.ticket(), order.ticket());
        // The third and second finish before the first: nothing leaves yet.
        assert!(order.answer(third, vec![ServerFrame::Pong]).is_empty());
        assert!(order
            .answer(
                second,
                vec![ServerFrame::error(ErrorCode::ValidationError, "b")]
            )
            .is_empty());
        let out = order.answer(first, vec![ServerFrame::error(ErrorCode::NotFound, "a")]);
        assert_eq!(
            texts(&out),
            texts(&[
                ServerFrame::error(ErrorCode::NotFound, "a"),
                ServerFrame::error(ErrorCode::ValidationError, "b"),
                ServerFrame::Pong,
            ])
        );
        // A frame with no answer still takes its turn.
        let (fourth, fifth) = (order.ticket(), order.ticket());
        assert!(order.answer(fifth, vec![ServerFrame::Pong]).is_empty());
        assert_eq!(order.answer(fourth, Vec::new()).len(), 1);
    }
}

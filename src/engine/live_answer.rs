//! Live AI answers: the text of a turn's model request published piece by piece to the
//! conversation's WebSocket room while the model writes it (`realtime.stream_ai_replies`).
//! The stored message that follows stays the source of truth; these frames only show it early.

use std::sync::Mutex;

use super::events::{AnswerDelta, EventBus};
use crate::domain::{ConversationId, TenantId};
use crate::tools::runner::AnswerSink;

/// One conversation turn's sink. Each model request of the turn is its own stream.
pub struct LiveAnswer {
    events: EventBus,
    tenant: TenantId,
    conversation: ConversationId,
    current: Mutex<Stream>,
}

#[derive(Default)]
struct Stream {
    id: String,
    next_index: u32,
}

impl LiveAnswer {
    pub fn new(events: EventBus, tenant: TenantId, conversation: ConversationId) -> Self {
        LiveAnswer {
            events,
            tenant,
            conversation,
            current: Mutex::new(Stream::default()),
        }
    }

    fn publish(&self, stream: &mut Stream, delta: String, done: Option<&'static str>) {
        self.events.publish_answer(AnswerDelta {
            tenant_id: self.tenant.clone(),
            conversation_id: self.conversation.clone(),
            stream_id: stream.id.clone(),
            index: stream.next_index,
            delta,
            done: done.map(std::borrow::Cow::Borrowed),
        });
        stream.next_index += 1;
    }
}

impl AnswerSink for LiveAnswer {
    fn begin(&self) {
        if let Ok(mut stream) = self.current.lock() {
            *stream = Stream {
                id: uuid::Uuid::now_v7().to_string(),
                next_index: 0,
            };
        }
    }

    fn delta(&self, text: &str) {
        if let Ok(mut stream) = self.current.lock() {
            self.publish(&mut stream, text.to_string(), None);
        }
    }

    fn end(&self, status: &'static str) {
        if let Ok(mut stream) = self.current.lock() {
            // A request that wrote nothing (it only asked for tools) showed nothing to close.
            if stream.next_index > 0 {
                self.publish(&mut stream, String::new(), Some(status));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pieces_are_numbered_per_stream_and_silent_streams_send_nothing() {
        let events = EventBus::new(64);
        let mut rx = events.subscribe_answers();
        let live = LiveAnswer::new(events, TenantId("t".into()), ConversationId("c".into()));
        live.begin();
        live.end("tool_calls");
        live.begin();
        live.delta("Olá, ");
        live.delta("tudo bem?");
        live.end("ok");
        let got: Vec<AnswerDelta> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(
            got.iter().map(|d| d.index).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(got[0].delta, "Olá, ");
        assert_eq!(got[1].delta, "tudo bem?");
        assert_eq!(got[2].done.as_deref(), Some("ok"));
        assert!(got.iter().all(|d| d.stream_id == got[0].stream_id));
    }
}

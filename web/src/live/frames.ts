// The WebSocket frames of PROTOCOL.md (and the README's extras). Messages inside frames are
// the REST API's MessageView, from the generated schema.
import type { Message } from "../api/client";

export type ServerFrame =
  | { type: "connected"; user_id: string; kind: "staff" | "contact"; conversation_id?: string }
  | { type: "message"; message: Message }
  | { type: "message_sent"; client_msg_id: string | null; message: Message }
  | { type: "typing"; user_id: string; conversation_id: string; is_typing: boolean }
  | { type: "presence"; user_id: string; status: "online" | "away" | "offline" }
  | { type: "read"; conversation_id: string; message_id: string; user_id: string }
  | { type: "sync_data"; conversation_id: string; messages: Message[]; has_more: boolean }
  | { type: "conversation_assigned"; conversation_id: string; owner?: { type: string; id?: string | null } }
  | { type: "conversation_escalated"; conversation_id: string; reason?: string }
  | { type: "conversation_closed"; conversation_id: string }
  | { type: "suggestions"; conversation_id: string; suggestions: string[]; source?: "llm" | "rules" }
  | { type: "slot_picker"; conversation_id: string; email?: string; phone?: string; date?: string; time?: string }
  | { type: "summary"; conversation_id: string; summary: string; source: string }
  | { type: "ai_answer_delta"; conversation_id: string; stream_id: string; index: number; delta: string }
  | { type: "ai_answer_done"; conversation_id: string; stream_id: string; index: number; status: string }
  | { type: "schedule_confirmed"; conversation_id: string; event: { starts_at: string } }
  | { type: "auto_create_updated"; conversation_id: string; enabled: boolean }
  | { type: "feedback_detected"; conversation_id: string }
  | { type: "conversation_classified"; conversation_id: string }
  | { type: "conversation_updated"; conversation_id: string; changes: Record<string, unknown>; by: string | null }
  | {
      type: "conversation_transferred";
      conversation_id: string;
      from: { type: string; id?: string | null };
      owner: { type: string; id?: string | null };
      department_id: string | null;
      by: string;
      note_id: string | null;
    }
  | { type: "note_added"; conversation_id: string; note_id: string; author_id: string; kind: "note" | "transfer"; content: string }
  | { type: "error"; error: string; code: string }
  | { type: "pong" };

export type ClientFrame =
  | { type: "message"; conversation_id: string; content: string; client_msg_id?: string }
  | { type: "typing"; conversation_id: string; is_typing: boolean }
  | { type: "read"; conversation_id: string; message_id: string }
  | { type: "sync"; conversation_id?: string; after_seq?: number; last_message_id?: string }
  | { type: "subscribe"; conversation_id: string }
  | { type: "unsubscribe"; conversation_id: string }
  | { type: "request_summary"; conversation_id: string }
  | { type: "request_suggestions"; conversation_id: string }
  | { type: "schedule_confirm"; conversation_id: string; date: string; time: string; email: string; phone?: string }
  | { type: "set_auto_create"; conversation_id: string; enabled: boolean }
  | { type: "ping" };

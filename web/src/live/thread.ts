// A conversation's messages as a screen shows them: stored messages by seq, our own replies
// waiting for their `message_sent` ack (shown faded), and AI answers being streamed in.
// Pure functions over plain data, so both the inbox and the customer's page share them.
import type { Message } from "../api/client";
import type { ServerFrame } from "./frames";

export interface Pending {
  clientId: string;
  content: string;
  failed: boolean;
}

export interface Thread {
  messages: Message[];
  pending: Pending[];
  /** stream_id → text so far. */
  streams: Record<string, string>;
  /** Who else is typing (user or contact ids). */
  typing: string[];
  suggestions: string[];
}

export const emptyThread: Thread = { messages: [], pending: [], streams: {}, typing: [], suggestions: [] };

/** Adds messages (from history, sync or live frames) once each, in seq order. */
export function merge(thread: Thread, incoming: Message[]): Thread {
  if (incoming.length === 0) return thread;
  const byId = new Map(thread.messages.map((m) => [m.id, m]));
  for (const message of incoming) byId.set(message.id, message);
  const messages = [...byId.values()].sort((a, b) => a.seq - b.seq);
  return { ...thread, messages };
}

export function lastSeq(thread: Thread): number {
  return thread.messages.length ? thread.messages[thread.messages.length - 1].seq : 0;
}

export function addPending(thread: Thread, clientId: string, content: string): Thread {
  return { ...thread, pending: [...thread.pending, { clientId, content, failed: false }] };
}

export function failPending(thread: Thread, clientId: string): Thread {
  return { ...thread, pending: thread.pending.map((p) => (p.clientId === clientId ? { ...p, failed: true } : p)) };
}

export function dropPending(thread: Thread, clientId: string): Thread {
  return { ...thread, pending: thread.pending.filter((p) => p.clientId !== clientId) };
}

/** The effect of one frame on the conversation `conversationId`; `self` is our sender type
 * ("user" for staff, "contact" for the customer). */
export function applyFrame(thread: Thread, frame: ServerFrame, conversationId: string, self: string): Thread {
  if ("conversation_id" in frame && frame.conversation_id !== conversationId) return thread;
  switch (frame.type) {
    case "message": {
      if (frame.message.conversation_id !== conversationId) return thread;
      let next = merge(thread, [frame.message]);
      if (frame.message.sender_type === self) {
        // The echo of our own message can come before its ack: settle the oldest match.
        const index = next.pending.findIndex((p) => p.content === frame.message.content);
        if (index >= 0) next = { ...next, pending: next.pending.filter((_, i) => i !== index) };
      }
      if (frame.message.sender_type === "ai_agent") next = { ...next, streams: {} };
      // Suggestions are for the moment they came: any new message makes them stale.
      if (!thread.messages.some((m) => m.id === frame.message.id)) next = { ...next, suggestions: [] };
      return next;
    }
    case "message_sent": {
      if (frame.message.conversation_id !== conversationId) return thread;
      const next = merge(thread, [frame.message]);
      return frame.client_msg_id ? dropPending(next, frame.client_msg_id) : next;
    }
    case "sync_data":
      return merge(thread, frame.messages);
    case "typing": {
      const others = thread.typing.filter((id) => id !== frame.user_id);
      return { ...thread, typing: frame.is_typing ? [...others, frame.user_id] : others };
    }
    case "read": {
      const upTo = thread.messages.find((m) => m.id === frame.message_id)?.seq;
      if (upTo === undefined) return thread;
      // "Read up to this message": that message's side's messages up to it are read.
      const readSide = side(thread.messages.find((m) => m.id === frame.message_id)?.sender_type ?? "");
      const messages = thread.messages.map((m) =>
        m.seq <= upTo && side(m.sender_type) === readSide && m.status !== "read" ? { ...m, status: "read" } : m,
      );
      return { ...thread, messages };
    }
    case "ai_answer_delta":
      return { ...thread, streams: { ...thread.streams, [frame.stream_id]: (thread.streams[frame.stream_id] ?? "") + frame.delta } };
    case "ai_answer_done": {
      if (frame.status === "ok") return thread;
      const streams = { ...thread.streams };
      delete streams[frame.stream_id];
      return { ...thread, streams };
    }
    case "suggestions":
      return { ...thread, suggestions: frame.suggestions };
    default:
      return thread;
  }
}

function side(senderType: string): "contact" | "staff" {
  return senderType === "contact" ? "contact" : "staff";
}

/** The newest message from the other side, which a `read` frame acknowledges. */
export function lastFromOthers(thread: Thread, self: string): Message | undefined {
  for (let i = thread.messages.length - 1; i >= 0; i--) {
    const m = thread.messages[i];
    if (m.sender_type !== self && m.sender_type !== "system") return m;
  }
  return undefined;
}

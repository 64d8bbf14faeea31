// Reads an AI agent's chat stream (`POST /agents/{id}/chat/stream`, server-sent events)
// through the typed client, calling back per event: `answer` deltas, `source` passages, the
// engine's `suggestions` and `slot_picker` after the answer, `error`. Used by the wizard's
// test chat and the inbox's bot chat.
import { createParser } from "eventsource-parser";
import { api, must } from "./client";

export interface ChatTurn {
  role: "user" | "assistant";
  content: string;
}

export interface Source {
  title: string;
  heading: string;
  excerpt: string;
  relevance: number;
}

/** What the last user message asked for, when it asked for a meeting. */
export interface SlotPickerEvent {
  email?: string;
  phone?: string;
  date?: string;
  time?: string;
}

export interface StreamHandlers {
  onDelta: (text: string) => void;
  onError: (code: string, message: string) => void;
  onSource?: (source: Source) => void;
  onSuggestions?: (suggestions: string[]) => void;
  onSlotPicker?: (request: SlotPickerEvent) => void;
}

/** Facts for the agent about whom it talks about (flattened into its system message). */
export type ContextData = Record<string, unknown>;

/** Streams one answer; resolves with the whole answer once `done` (or the stream) ends. */
export async function streamAnswer(
  agentId: string,
  messages: ChatTurn[],
  handlers: StreamHandlers,
  options: { signal?: AbortSignal; context?: ContextData } = {},
): Promise<string> {
  const body = await must(
    api.POST("/api/v1/agents/{id}/chat/stream", {
      params: { path: { id: agentId } },
      // The schema says only "an object" (free-form facts), which the generator types as an
      // object without keys.
      body: { messages, context_data: options.context as Record<string, never> | undefined },
      parseAs: "stream",
      signal: options.signal,
    }),
  );
  if (!body) return "";
  let answer = "";
  const parser = createParser({
    onEvent: (event) => {
      let frame: { data?: unknown };
      try {
        frame = JSON.parse(event.data) as { data?: unknown };
      } catch {
        return;
      }
      const data = frame.data;
      switch (event.event) {
        case "answer":
          if (typeof data === "string") {
            answer += data;
            handlers.onDelta(data);
          }
          break;
        case "source":
          handlers.onSource?.(data as Source);
          break;
        case "suggestions":
          handlers.onSuggestions?.((data as { suggestions?: string[] }).suggestions ?? []);
          break;
        case "slot_picker":
          handlers.onSlotPicker?.(data as SlotPickerEvent);
          break;
        case "error": {
          const error = data as { code?: string; error?: string };
          handlers.onError(error.code ?? "INTERNAL", error.error ?? "");
          break;
        }
        case "done": {
          const done = data as { content?: string };
          if (typeof done.content === "string") answer = done.content;
          break;
        }
      }
    },
  });
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.feed(value);
  }
  return answer;
}

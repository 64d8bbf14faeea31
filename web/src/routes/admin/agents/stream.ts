// Reads the agent chat stream (`POST /agents/{id}/chat/stream`, server-sent events) through
// the typed client, calling back per event: `answer` deltas, `source` passages, `done`, `error`.
import { api, must } from "../../../api/client";

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

export interface StreamHandlers {
  onDelta: (text: string) => void;
  onSource: (source: Source) => void;
  onError: (code: string, message: string) => void;
}

/** Streams one answer; resolves with the whole answer once `done` (or the stream) ends. */
export async function streamAnswer(agentId: string, messages: ChatTurn[], handlers: StreamHandlers, signal?: AbortSignal): Promise<string> {
  const body = await must(
    api.POST("/api/v1/agents/{id}/chat/stream", {
      params: { path: { id: agentId } },
      body: { messages },
      parseAs: "stream",
      signal,
    }),
  );
  if (!body) return "";
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let answer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      let frame: { event: string; data: unknown };
      try {
        frame = JSON.parse(data);
      } catch {
        continue;
      }
      if (frame.event === "answer" && typeof frame.data === "string") {
        answer += frame.data;
        handlers.onDelta(frame.data);
      } else if (frame.event === "source") handlers.onSource(frame.data as Source);
      else if (frame.event === "error") {
        const error = frame.data as { code?: string; error?: string };
        handlers.onError(error.code ?? "INTERNAL", error.error ?? "");
      } else if (frame.event === "done") {
        const done = frame.data as { content?: string };
        if (typeof done.content === "string") answer = done.content;
      }
    }
  }
  return answer;
}

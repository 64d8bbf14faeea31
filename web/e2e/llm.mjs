// A scripted OpenAI-compatible server for the browser tests (the same wire format as
// tests/support/scripted_llm.rs): POST /v1/chat/completions answers with a fixed reply,
// streamed word by word (slowly, so a person — and the test — sees it being written) when
// the request asks to stream. The engine's request for reply suggestions (its system
// message starts as src/llm/prompt.rs writes it) gets three replies, one per line.
import { createServer } from "node:http";

export const REPLY = "Olá! Nosso horário de atendimento é de segunda a sexta, das 9h às 18h. Posso ajudar em algo mais?";
/** What the scripted model suggests a human agent could send. */
export const SUGGESTED_REPLIES = ["Oi! Já estou vendo o seu caso.", "Pode me passar o número do pedido?", "Obrigada por aguardar!"];
const WORD_DELAY_MS = 120;

function replyFor(body) {
  const system = body.messages?.find((m) => m.role === "system")?.content ?? "";
  return system.startsWith("Você ajuda um atendente humano") ? SUGGESTED_REPLIES.join("\n") : REPLY;
}

export function startLlm() {
  const requests = [];
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk) => (raw += chunk));
    req.on("end", async () => {
      if (req.method !== "POST" || !req.url.endsWith("/chat/completions")) {
        res.writeHead(404, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { message: "not found", type: "invalid_request_error" } }));
      }
      let body;
      try {
        body = JSON.parse(raw);
      } catch {
        res.writeHead(400, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { message: "bad json", type: "invalid_request_error" } }));
      }
      requests.push(body);
      const id = `chatcmpl-e2e-${requests.length}`;
      const created = Math.floor(Date.now() / 1000);
      const model = body.model ?? "scripted";
      const usage = { prompt_tokens: 20, completion_tokens: 20, total_tokens: 40 };
      if (!body.stream) {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(
          JSON.stringify({
            id, object: "chat.completion", created, model, usage,
            choices: [{ index: 0, message: { role: "assistant", content: replyFor(body) }, finish_reason: "stop" }],
          }),
        );
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const chunk = (delta, finish_reason = null, extra = {}) =>
        `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason }], ...extra })}\n\n`;
      const words = REPLY.split(/(?<= )/);
      for (const [i, word] of words.entries()) {
        res.write(chunk(i === 0 ? { role: "assistant", content: word } : { content: word }));
        await new Promise((r) => setTimeout(r, WORD_DELAY_MS));
      }
      res.write(chunk({}, "stop", { usage }));
      res.end("data: [DONE]\n\n");
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({ baseUrl: `http://127.0.0.1:${port}/v1`, requests, close: () => server.close() });
    });
  });
}

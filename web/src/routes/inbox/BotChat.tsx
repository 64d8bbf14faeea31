// Seed 000's bot chat beside the conversation: the agent picks one of the bots they may use
// (`GET /bots`), asks it about the customer — the conversation so far goes along as
// `context_data` — and reads the answer as it streams in (`POST /agents/{id}/chat/stream`,
// SSE). Quick prompts ask for a reply or a summary; "use this reply" puts an answer into
// the reply box, ready to send.
import { useEffect, useRef, useState } from "preact/hooks";
import { createParser } from "eventsource-parser";
import { api, ApiError, must, type Message, type Schemas } from "../../api/client";
import { t } from "../../i18n";

type Bot = Schemas["Bot"];

interface Turn {
  role: "user" | "assistant";
  content: string;
  /** Still being written. */
  streaming?: boolean;
}

/** Messages of the conversation sent along as context (the newest ones). */
const CONTEXT_MESSAGES = 30;
const BOT_KEY = "atende.bot";

interface Props {
  /** The customer's conversation, newest last. */
  messages: Message[];
  customer: string;
  onUseReply: (text: string) => void;
}

export function BotChat({ messages, customer, onUseReply }: Props) {
  const [bots, setBots] = useState<Bot[] | null>(null);
  const [botId, setBotId] = useState(() => localStorage.getItem(BOT_KEY) ?? "");
  const [turns, setTurns] = useState<Turn[]>([]);
  const [question, setQuestion] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const log = useRef<HTMLOListElement>(null);

  useEffect(() => {
    void must(api.GET("/api/v1/bots"))
      .then((list) => {
        setBots(list.items);
        if (!list.items.some((b) => b.id === botId)) setBotId(list.items[0]?.id ?? "");
      })
      .catch(() => setBots([]));
  }, []);
  useEffect(() => {
    if (botId) localStorage.setItem(BOT_KEY, botId);
  }, [botId]);
  useEffect(() => {
    log.current?.lastElementChild?.scrollIntoView({ block: "end" });
  }, [turns]);

  const ask = async (text: string) => {
    const content = text.trim();
    if (!content || !botId || busy) return;
    setError(null);
    setBusy(true);
    setQuestion("");
    const history: Turn[] = [...turns.filter((turn) => !turn.streaming && turn.content), { role: "user", content }];
    setTurns([...history, { role: "assistant", content: "", streaming: true }]);
    const context_data = {
      customer,
      conversation: messages.slice(-CONTEXT_MESSAGES).map((m) => `${m.sender_type}: ${m.content}`),
    };
    let answer = "";
    const write = (streaming: boolean) => setTurns([...history, { role: "assistant", content: answer, streaming }]);
    try {
      const { response } = await api.POST("/api/v1/agents/{id}/chat/stream", {
        params: { path: { id: botId } },
        // The schema says only "an object" (free-form facts), which the generator types as
        // an object without keys.
        body: { messages: history.map(({ role, content }) => ({ role, content })), context_data: context_data as unknown as Record<string, never> },
        parseAs: "stream",
      });
      // The 200 is an event stream, which the document does not type: read the body as is.
      const data = response.body;
      if (!response.ok || !data) {
        const body = (await response.json().catch(() => ({}))) as { error?: string };
        throw new ApiError(body.error ?? response.statusText, response.status, "STREAM");
      }
      let failure: string | null = null;
      const parser = createParser({
        onEvent: (event) => {
          let payload: { data?: unknown };
          try {
            payload = JSON.parse(event.data) as { data?: unknown };
          } catch {
            return;
          }
          if (event.event === "answer" && typeof payload.data === "string") {
            answer += payload.data;
            write(true);
          } else if (event.event === "done") {
            const done = payload.data as { content?: string } | undefined;
            if (done?.content) answer = done.content;
          } else if (event.event === "error") {
            failure = (payload.data as { error?: string } | undefined)?.error ?? "error";
          }
        },
      });
      const reader = data.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
      if (failure) throw new Error(failure);
      write(false);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setTurns(history);
    } finally {
      setBusy(false);
    }
  };

  if (bots === null) return null;
  return (
    <section class="bot-chat" aria-labelledby="bot-title">
      <h3 id="bot-title">{t("bot.title")}</h3>
      {bots.length === 0 ? (
        <p class="muted">{t("bot.none")}</p>
      ) : (
        <>
          <label for="bot-pick">{t("bot.pick")}</label>
          <select id="bot-pick" value={botId} onChange={(e) => setBotId(e.currentTarget.value)}>
              {bots.map((b) => (
                <option value={b.id}>
                  {b.emoji} {b.name}
                </option>
              ))}
          </select>
          <ol class="bot-turns" ref={log} aria-live="polite">
            {turns.map((turn) => (
              <li class={`bot-turn ${turn.role}`} aria-busy={turn.streaming ? "true" : undefined}>
                <strong>{turn.role === "user" ? t("bot.you") : bots.find((b) => b.id === botId)?.name}</strong>
                <p>{turn.content || (turn.streaming ? t("bot.writing") : "")}</p>
                {turn.role === "assistant" && !turn.streaming && turn.content && (
                  <button type="button" class="secondary" onClick={() => onUseReply(turn.content)}>
                    {t("bot.useReply")}
                  </button>
                )}
              </li>
            ))}
          </ol>
          {error && (
            <p role="alert" class="error">
              {t("bot.error", { message: error })}
            </p>
          )}
          <div class="suggestions" role="group" aria-label={t("conv.suggestions")}>
            <button type="button" class="secondary chip" disabled={busy} onClick={() => void ask(t("bot.suggest"))}>
              {t("bot.suggest")}
            </button>
            <button type="button" class="secondary chip" disabled={busy} onClick={() => void ask(t("bot.summarize"))}>
              {t("bot.summarize")}
            </button>
          </div>
          <form
            class="bot-form"
            onSubmit={(e) => {
              e.preventDefault();
              void ask(question);
            }}
          >
            <label class="sr-only" for="bot-question">
              {t("bot.placeholder")}
            </label>
            <input id="bot-question" value={question} placeholder={t("bot.placeholder")} onInput={(e) => setQuestion(e.currentTarget.value)} />
            <button type="submit" disabled={busy || !question.trim()}>
              {t("bot.send")}
            </button>
          </form>
        </>
      )}
    </section>
  );
}

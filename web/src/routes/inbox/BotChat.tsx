// Seed 000's bot chat beside the conversation: the agent picks one of the bots they may use
// (`GET /bots`, name and emoji), asks it about the customer — the conversation so far goes
// along as `context_data` — and reads the answer as it streams in (`POST
// /agents/{id}/chat/stream`). After each answer the engine sends follow-up suggestions, and
// the slot picker when the question asked for a meeting: the agent books it for the customer
// here (`schedule_confirm`). "Use this reply" puts an answer into the reply box.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, must, type Contact, type Message, type Schemas } from "../../api/client";
import { streamAnswer, type ChatTurn } from "../../api/chatStream";
import { meetingTime, t } from "../../i18n";
import type { Booking } from "../../live/booking";
import { SlotPicker } from "../../components/SlotPicker";
import { SuggestionChips } from "./SuggestionChips";
import { storage } from "../../storage";

type Bot = Schemas["Bot"];

interface Turn extends ChatTurn {
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
  contact: Contact | null;
  booking: Booking;
  onUseReply: (text: string) => void;
}

function useBots() {
  const [bots, setBots] = useState<Bot[] | null>(null);
  const [botId, setBotId] = useState(() => storage.getItem(BOT_KEY) ?? "");
  useEffect(() => {
    void must(api.GET("/api/v1/bots"))
      .then((list) => {
        setBots(list.items);
        if (!list.items.some((b) => b.id === botId)) setBotId(list.items[0]?.id ?? "");
      })
      .catch(() => setBots([]));
  }, []);
  useEffect(() => {
    if (botId) storage.setItem(BOT_KEY, botId);
  }, [botId]);
  return { bots, botId, setBotId };
}

export function BotChat({ messages, customer, contact, booking, onUseReply }: Props) {
  const { bots, botId, setBotId } = useBots();
  const [turns, setTurns] = useState<Turn[]>([]);
  const [suggestions, setSuggestions] = useState<string[]>([]);
  const [question, setQuestion] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const log = useRef<HTMLOListElement>(null);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    log.current?.lastElementChild?.scrollIntoView({ block: "nearest" });
  }, [turns]);

  const ask = async (text: string) => {
    const content = text.trim();
    if (!content || !botId || busy) return;
    setError(null);
    setBusy(true);
    setQuestion("");
    setSuggestions([]);
    const history: Turn[] = [...turns.filter((turn) => !turn.streaming && turn.content), { role: "user", content }];
    let answer = "";
    let failure: string | null = null;
    const write = (streaming: boolean) => setTurns([...history, { role: "assistant", content: answer, streaming }]);
    write(true);
    const context = {
      customer: { name: customer, email: contact?.email ?? undefined, phone: contact?.phone ?? undefined },
      conversation: messages.slice(-CONTEXT_MESSAGES).map((m) => `${m.sender_type}: ${m.content}`),
    };
    try {
      answer = await streamAnswer(
        botId,
        history.map(({ role, content }) => ({ role, content })),
        {
          onDelta: (delta) => {
            answer += delta;
            write(true);
          },
          onError: (_code, message) => (failure = message || _code),
          onSuggestions: setSuggestions,
          onSlotPicker: (request) => booking.open(request, "bot"),
        },
        { context },
      );
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
  const bot = bots.find((b) => b.id === botId);
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
                <strong>{turn.role === "user" ? t("bot.you") : `${bot?.emoji ?? ""} ${bot?.name ?? ""}`.trim()}</strong>
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
          <SuggestionChips
            suggestions={suggestions}
            label={t("bot.suggestions")}
            onPick={(s) => {
              setQuestion(s);
              input.current?.focus();
            }}
          />
          {booking.booked && booking.bookedFrom === "bot" && (
            <p class="booked" role="status">
              {t("slots.confirmed", { when: meetingTime(booking.booked) })}
            </p>
          )}
          {booking.origin === "bot" && <SlotPicker key={JSON.stringify(booking.request)} client={api} booking={booking} fallback={contact ?? undefined} />}
          <div class="bot-actions" role="group" aria-label={t("bot.actions")}>
            <button type="button" class="secondary" disabled={busy} onClick={() => void ask(t("bot.prompt.reply"))}>
              {t("bot.action.reply")}
            </button>
            <button type="button" class="secondary" disabled={busy} onClick={() => void ask(t("bot.prompt.summary"))}>
              {t("bot.action.summary")}
            </button>
            <button type="button" class="secondary" disabled={booking.origin === "bot"} onClick={() => booking.open({}, "bot")}>
              {t("bot.action.book")}
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
            <input id="bot-question" ref={input} value={question} placeholder={t("bot.placeholder")} onInput={(e) => setQuestion(e.currentTarget.value)} />
            <button type="submit" disabled={busy || !question.trim()}>
              {t("bot.send")}
            </button>
          </form>
        </>
      )}
    </section>
  );
}

// The customer's chat: one column, phone first. Opens (or resumes) a web chat session and
// talks over /ws as the contact: streamed AI answers, typing, suggestions, the slot picker.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { apiWithToken, ApiError, type Message } from "../api/client";
import { meetingTime, t } from "../i18n";
import { LiveSocket, clientMessageId } from "../live/socket";
import type { ServerFrame } from "../live/frames";
import { addPending, applyFrame, emptyThread, failPending, lastFromOthers, lastSeq, type Pending, type Thread } from "../live/thread";
import { MessageList } from "../components/MessageList";
import { SlotPicker } from "../components/SlotPicker";
import { useBooking } from "../live/booking";
import { ConnectionBanner } from "../live/ConnectionBanner";
import { CsatRating } from "./CsatRating";
import { csatState, ratingGiven, ratingReply } from "./csat";
import { forgetSession, newSession, remember, resolveTarget, savedSession, type ChatSession, type ChatTarget } from "./session";

const SELF = "contact";
const TYPING_IDLE_MS = 2500;

type Phase = { kind: "loading" } | { kind: "unavailable" } | { kind: "error"; message: string } | { kind: "ready" };

export function ChatPage() {
  const [phase, setPhase] = useState<Phase>({ kind: "loading" });
  const [target, setTarget] = useState<ChatTarget | null>(null);
  const [session, setSession] = useState<ChatSession | null>(null);

  const start = async () => {
    setPhase({ kind: "loading" });
    try {
      const found = await resolveTarget(location.pathname);
      setTarget(found);
      if (!found.integrationId) return setPhase({ kind: "unavailable" });
      setSession(savedSession(found) ?? (await newSession(found)));
      setPhase({ kind: "ready" });
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setPhase({ kind: "unavailable" });
      else setPhase({ kind: "error", message: e instanceof Error ? e.message : String(e) });
    }
  };
  useEffect(() => {
    void start();
  }, []);

  const name = target?.agent?.name ?? t("app.name");
  useEffect(() => {
    document.title = t("chat.title", { name });
  }, [name]);

  return (
    <div class="chat">
      <header class="chat-header">
        <span class="avatar" aria-hidden="true">
          {target?.agent?.emoji || "💬"}
        </span>
        <div>
          <h1>{name}</h1>
          {target?.agent?.description && <p>{target.agent.description}</p>}
        </div>
      </header>
      {phase.kind === "loading" && <p class="state">{t("app.loading")}</p>}
      {phase.kind === "unavailable" && <p class="state">{t("chat.unavailable")}</p>}
      {phase.kind === "error" && (
        <div class="state" role="alert">
          <p>{t("app.error", { message: phase.message })}</p>
          <button type="button" onClick={() => void start()}>
            {t("app.retry")}
          </button>
        </div>
      )}
      {phase.kind === "ready" && target && session && (
        <Conversation
          target={target}
          session={session}
          onExpired={async () => {
            forgetSession(target);
            setSession(await newSession(target));
          }}
        />
      )}
    </div>
  );
}

function Conversation({ target, session, onExpired }: { target: ChatTarget; session: ChatSession; onExpired: () => void }) {
  const [thread, setThread] = useState<Thread>(emptyThread);
  const [conversationId, setConversationId] = useState(session.conversation_id);
  const [draft, setDraft] = useState("");
  const typingSince = useRef<number | undefined>(undefined);
  const idRef = useRef(conversationId);
  idRef.current = conversationId;
  const threadRef = useRef(thread);
  threadRef.current = thread;

  const client = useMemo(() => apiWithToken(() => session.token), [session.token]);
  const socket = useMemo(() => new LiveSocket(() => session.token, onExpired), [session.token]);
  const booking = useBooking(socket, conversationId);

  useEffect(() => {
    const off = socket.on((frame: ServerFrame) => {
      if (frame.type === "connected" && frame.conversation_id && frame.conversation_id !== idRef.current) {
        setConversationId(frame.conversation_id);
        remember(target, { ...session, conversation_id: frame.conversation_id });
      }
      if (frame.type === "connected") socket.send({ type: "sync", after_seq: lastSeq(threadRef.current) });
      // A message into a closed conversation opens a new one, which this socket follows.
      if (frame.type === "message" && frame.message.conversation_id !== idRef.current && frame.message.sender_type === SELF) {
        setConversationId(frame.message.conversation_id);
        remember(target, { ...session, conversation_id: frame.message.conversation_id });
        setThread(applyFrame(emptyThread, frame, frame.message.conversation_id, SELF));
        return;
      }
      if (frame.type === "error" && frame.code === "AUTH_ERROR") onExpired();
      setThread((current) => applyFrame(current, frame, idRef.current, SELF));
    });
    return () => {
      off();
      socket.close();
    };
  }, [socket]);

  // Tell the other side what we have seen, whenever something new arrives while visible.
  const lastOther = lastFromOthers(thread, SELF);
  useEffect(() => {
    if (!lastOther || lastOther.status === "read" || document.visibilityState !== "visible") return;
    socket.send({ type: "read", conversation_id: conversationId, message_id: lastOther.id });
  }, [lastOther?.id]);

  const sendText = (content: string, clientId = clientMessageId()) => {
    const text = content.trim();
    if (!text) return;
    setThread((current) => addPending(current, clientId, text));
    socket.send({ type: "message", conversation_id: idRef.current, content: text, client_msg_id: clientId });
    stopTyping();
    // No ack in a while: show it as failed, with a retry (the server dedupes on client_msg_id).
    window.setTimeout(() => {
      if (threadRef.current.pending.some((p) => p.clientId === clientId)) setThread((c) => failPending(c, clientId));
    }, 15000);
  };
  const retry = (p: Pending) => {
    setThread((current) => ({ ...current, pending: current.pending.filter((x) => x.clientId !== p.clientId) }));
    sendText(p.content, p.clientId);
  };

  const stopTyping = () => {
    if (typingSince.current !== undefined) {
      socket.send({ type: "typing", conversation_id: idRef.current, is_typing: false });
      typingSince.current = undefined;
    }
  };
  const onType = (value: string) => {
    setDraft(value);
    const now = Date.now();
    if (typingSince.current === undefined || now - typingSince.current > TYPING_IDLE_MS) {
      socket.send({ type: "typing", conversation_id: idRef.current, is_typing: true });
      typingSince.current = now;
    }
  };

  const label = (m: Message) => (m.sender_type === SELF ? t("chat.you") : (target.agent?.name ?? t("app.name")));
  const othersTyping = thread.typing.some((id) => id !== session.contact_id);
  const rating = csatState(thread.messages);
  const ratingSent = thread.pending.some((p) => !p.failed && ratingGiven(p.content) !== null);

  return (
    <>
      <ConnectionBanner socket={socket} />
      <main class="chat-body">
        {thread.messages.length === 0 && thread.pending.length === 0 && <p class="welcome">{t("chat.welcome")}</p>}
        <MessageList thread={thread} self={SELF} label={label} onRetry={retry} />
        {othersTyping && <p class="typing" role="status">{t("conv.typing", { who: target.agent?.name ?? t("app.name") })}</p>}
        {booking.booked && <p class="booked" role="status">{t("slots.confirmed", { when: meetingTime(booking.booked) })}</p>}
        {booking.request && <SlotPicker key={JSON.stringify(booking.request)} client={client} booking={booking} />}
        {rating && <CsatRating state={rating === "asked" && ratingSent ? "sending" : rating} onRate={(n) => sendText(ratingReply(n))} />}
      </main>
      {thread.suggestions.length > 0 && (
        <div class="suggestions" role="group" aria-label={t("conv.suggestions")}>
          {thread.suggestions.map((s) => (
            <button type="button" onClick={() => sendText(s)}>
              {s}
            </button>
          ))}
        </div>
      )}
      <form
        class="composer"
        onSubmit={(e) => {
          e.preventDefault();
          sendText(draft);
          setDraft("");
        }}
      >
        <label class="sr-only" for="chat-input">
          {t("chat.placeholder")}
        </label>
        <textarea
          id="chat-input"
          rows={1}
          placeholder={t("chat.placeholder")}
          value={draft}
          onInput={(e) => onType(e.currentTarget.value)}
          onBlur={stopTyping}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) {
              e.preventDefault();
              sendText(draft);
              setDraft("");
            }
          }}
        />
        <button type="submit" disabled={!draft.trim()}>
          {t("chat.send")}
        </button>
      </form>
    </>
  );
}

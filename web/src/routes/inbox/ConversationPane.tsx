// One conversation: history (paged by seq), live messages, optimistic replies, typing both
// ways, read receipts, the AI's answer streaming in, who owns it and why it left the AI,
// actions (take, transfer with a note, escalate, close), private notes in the timeline,
// summary, slot picker, and the contact and the ticket fields beside it.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, must, type Conversation, type Message } from "../../api/client";
import { t, fullDate, meetingTime, timeAgo } from "../../i18n";
import { useConsole, isOverseer } from "../../console/session";
import { clientMessageId } from "../../live/socket";
import { addPending, applyFrame, emptyThread, failPending, lastFromOthers, lastSeq, merge, type Pending, type Thread } from "../../live/thread";
import { MessageList, type Aside } from "../../components/MessageList";
import { addNote, listNotes, transferConversation, type Note, type TransferTarget } from "../../api/desk";
import { SlotPicker } from "../../components/SlotPicker";
import { useBooking } from "../../live/booking";
import { SuggestionChips } from "./SuggestionChips";
import { contactName, useContact } from "./contacts";
import { escalationText, ownerText, statusText } from "./words";
import { CONVERSATIONS_CHANGED, markSeen } from "./ConversationList";
import { ContactPanel } from "./ContactPanel";
import { BotChat } from "./BotChat";
import { TransferControl } from "./TransferControl";
import { ReplyComposer, type ComposerMode } from "./ReplyComposer";
import { PrivateNote } from "./PrivateNote";
import { TicketFields } from "./TicketFields";
import { EscalateControl } from "./EscalateControl";
import { useNames } from "./team";
import { storage } from "../../storage";
import "../../styles/desk.css";
import "../../i18n/desk";

const SELF = "user";
/** Messages per history page: the newest page opens the conversation (a screen holds
 * about ten), older ones on demand. */
const HISTORY_PAGE = 50;
/** `before_seq` that means "from the end" (any seq is smaller). */
const FROM_THE_END = Number.MAX_SAFE_INTEGER;
const TYPING_IDLE_MS = 2500;
const ACK_TIMEOUT_MS = 15000;
const DRAFT_KEY = (id: string) => `atende.draft.${id}`;

export function ConversationPane({ id }: { id: string }) {
  const { session, socket } = useConsole();
  const me = session.user.id;
  const [conversation, setConversation] = useState<Conversation | null>(null);
  const [thread, setThread] = useState<Thread>(emptyThread);
  const [error, setError] = useState<string | null>(null);
  const [draft, setDraft] = useState(() => storage.getItem(DRAFT_KEY(id)) ?? "");
  const [summary, setSummary] = useState<string | null>(null);
  /** Reply suggestions asked for (`request_suggestions`): waiting, or none came. */
  const [suggesting, setSuggesting] = useState<"idle" | "waiting" | "none">("idle");
  const booking = useBooking(socket, id);
  const [autoCreate, setAutoCreate] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  /** Narrow screens: the contact and the bot chat in place of the conversation. */
  const [showContext, setShowContext] = useState(false);
  const threadRef = useRef(thread);
  threadRef.current = thread;
  const typingSince = useRef<number | undefined>(undefined);
  const composer = useRef<HTMLTextAreaElement>(null);
  const customer = useContact(conversation?.contact_id);
  const names = useNames();
  const [notes, setNotes] = useState<Note[]>([]);
  const [mode, setMode] = useState<ComposerMode>("reply");
  const addNoteOnce = (note: Note) => setNotes((current) => (current.some((n) => n.id === note.id) ? current : [...current, note]));

  const reloadConversation = async () => {
    const found = await must(api.GET("/api/v1/conversations/{id}", { params: { path: { id } } }));
    setConversation(found);
    markSeen(id, found.last_seq);
    setAutoCreate(Boolean((found.metadata as Record<string, unknown> | null)?.auto_create));
    return found;
  };

  // History is read backwards from the end, one page per ask (`before_seq`).
  const [olderFrom, setOlderFrom] = useState<number | null>(null);
  const [historyLoaded, setHistoryLoaded] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const loadHistory = async (before = FROM_THE_END) => {
    const result = await must(
      api.GET("/api/v1/conversations/{id}/messages", { params: { path: { id }, query: { before_seq: before, limit: HISTORY_PAGE } } }),
    );
    setOlderFrom(result.prev_before_seq ?? null);
    setThread((current) => merge(current, result.items));
    setHistoryLoaded(true);
  };
  const loadOlder = async () => {
    if (olderFrom === null || loadingOlder) return;
    setLoadingOlder(true);
    try {
      await loadHistory(olderFrom);
    } catch (e) {
      setActionError(e instanceof Error ? e.message : String(e));
    } finally {
      setLoadingOlder(false);
    }
  };

  useEffect(() => {
    setError(null);
    Promise.all([reloadConversation(), loadHistory(), listNotes(id).then((found) => found.forEach(addNoteOnce))]).catch((e: Error) =>
      setError(e instanceof ApiError ? e.message : String(e)),
    );
    socket.send({ type: "subscribe", conversation_id: id });
    const off = socket.on((frame) => {
      if ("conversation_id" in frame && frame.conversation_id !== id) return;
      if (frame.type === "summary") setSummary(frame.summary);
      if (frame.type === "suggestions") setSuggesting(frame.suggestions.length ? "idle" : "none");
      if (frame.type === "auto_create_updated") setAutoCreate(frame.enabled);
      if (frame.type === "note_added") {
        // The frame has no time of its own: it is now, as far as this screen is concerned.
        const { note_id, author_id, kind, content } = frame;
        addNoteOnce({ id: note_id, conversation_id: id, author_id, kind, content, created_at: new Date().toISOString() });
      }
      if (
        frame.type === "conversation_assigned" ||
        frame.type === "conversation_escalated" ||
        frame.type === "conversation_closed" ||
        frame.type === "conversation_transferred" ||
        frame.type === "conversation_updated"
      ) {
        void reloadConversation().catch(() => undefined);
      }
      if (frame.type === "message" && frame.message.conversation_id === id) markSeen(id, frame.message.seq);
      setThread((current) => applyFrame(current, frame, id, SELF));
    });
    const offState = socket.onState((state, reconnected) => {
      if (state === "open" && reconnected) {
        socket.send({ type: "subscribe", conversation_id: id });
        socket.send({ type: "sync", conversation_id: id, after_seq: lastSeq(threadRef.current) });
        void reloadConversation().catch(() => undefined);
      }
    });
    return () => {
      off();
      offState();
      socket.send({ type: "unsubscribe", conversation_id: id });
    };
  }, [id]);

  // "Read up to here" for the customer's newest message, while this tab is visible.
  const lastCustomer = lastFromOthers(thread, SELF);
  useEffect(() => {
    if (!lastCustomer || lastCustomer.sender_type !== "contact" || lastCustomer.status === "read") return;
    if (document.visibilityState !== "visible") return;
    socket.send({ type: "read", conversation_id: id, message_id: lastCustomer.id });
  }, [lastCustomer?.id]);

  useEffect(() => {
    if (draft) storage.setItem(DRAFT_KEY(id), draft);
    else storage.removeItem(DRAFT_KEY(id));
  }, [draft]);

  const mine = conversation?.owner.type === "user" && conversation.owner.id === me;
  const closed = conversation?.status === "closed";
  const canReply = Boolean(conversation) && !closed && (mine || isOverseer(session.user.role));

  const stopTyping = () => {
    if (typingSince.current !== undefined) {
      socket.send({ type: "typing", conversation_id: id, is_typing: false });
      typingSince.current = undefined;
    }
  };

  const send = (content: string, clientId = clientMessageId()) => {
    const text = content.trim();
    if (!text) return;
    setThread((current) => addPending(current, clientId, text));
    socket.send({ type: "message", conversation_id: id, content: text, client_msg_id: clientId });
    stopTyping();
    window.setTimeout(() => {
      if (threadRef.current.pending.some((p) => p.clientId === clientId)) setThread((c) => failPending(c, clientId));
    }, ACK_TIMEOUT_MS);
  };
  const retry = (p: Pending) => {
    setThread((current) => ({ ...current, pending: current.pending.filter((x) => x.clientId !== p.clientId) }));
    send(p.content, p.clientId);
  };

  const act = async (call: () => Promise<Conversation>): Promise<boolean> => {
    setActionError(null);
    try {
      setConversation(await call());
      window.dispatchEvent(new Event(CONVERSATIONS_CHANGED));
      return true;
    } catch (e) {
      // Someone took it first (`/take` is a compare-and-set): say so and show who has it now.
      if (e instanceof ApiError && e.status === 409 && e.code === "CONFLICT") {
        setActionError(t("conv.taken"));
        void reloadConversation().catch(() => undefined);
      } else if (e instanceof ApiError && e.code === "ROUTING_ERROR") setActionError(t("transfer.unavailable"));
      else setActionError(e instanceof Error ? e.message : String(e));
      return false;
    }
  };
  const transfer = (target: TransferTarget, note: string) => act(() => transferConversation(id, target, note));
  const saveNote = async (content: string) => addNoteOnce(await addNote(id, content));
  const take = () => act(() => must(api.POST("/api/v1/conversations/{id}/take", { params: { path: { id } } })));
  const escalate = (reason: string) =>
    act(() => must(api.POST("/api/v1/conversations/{id}/escalate", { params: { path: { id } }, body: { reason } })));
  const close = () => act(() => must(api.POST("/api/v1/conversations/{id}/close", { params: { path: { id } }, body: {} })));

  // Keyboard: r reply, n private note, e close, t take.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.target as HTMLElement).closest("input, textarea, select")) return;
      if (e.key === "r" || e.key === "n") {
        e.preventDefault();
        setMode(e.key === "n" ? "note" : "reply");
        window.setTimeout(() => composer.current?.focus());
      }
      if (e.key === "e" && canReply) void close();
      if (e.key === "t" && !mine && !closed) void take();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [canReply, mine, closed]);

  if (error) {
    return (
      <main class="pane conversation-pane">
        <p role="alert">{t("app.error", { message: error })}</p>
        <a href="/inbox/mine">{t("app.backToInbox")}</a>
      </main>
    );
  }

  const customerName = contactName(customer, t("contact.anonymous"));
  const label = (m: Message) =>
    m.sender_type === "contact" ? customerName : m.sender_type === "ai_agent" ? t("owner.ai_agent") : m.sender_type === "user" ? (m.sender_id === me ? t("owner.you") : t("owner.user")) : "";
  const othersTyping = thread.typing.filter((who) => who !== me);
  // With older history not loaded yet, older notes wait for it too.
  const since = olderFrom !== null ? thread.messages[0]?.created_at : undefined;
  const asides: Aside[] = notes
    .filter((n) => !since || n.created_at >= since)
    .sort((a, b) => a.created_at.localeCompare(b.created_at))
    .map((n) => ({ id: n.id, created_at: n.created_at, node: <PrivateNote note={n} author={n.author_id === me ? t("owner.you") : (names.get(n.author_id) ?? t("owner.user"))} /> }));
  const overseer = isOverseer(session.user.role);

  return (
    <>
      <main class={`pane conversation-pane ${showContext ? "context-open" : ""}`} aria-labelledby="conversation-title">
        <header class="conversation-header">
          <div>
            <h2 id="conversation-title">{customerName}</h2>
            {conversation && (
              <p class="facts">
                <span class={`pill status-${conversation.status}`}>{statusText(conversation.status)}</span>{" "}
                {t("owner.label")}: <strong>{ownerText(conversation, me, names)}</strong>
                {!conversation.first_response_at && conversation.status !== "closed" && (
                  <>
                    {" · "}
                    <span class="waiting">
                      {t("conv.waitingSince")}{" "}
                      <time dateTime={conversation.created_at} title={fullDate(conversation.created_at)}>
                        {timeAgo(conversation.created_at)}
                      </time>
                    </span>
                  </>
                )}
                {conversation.last_message_at && (
                  <>
                    {" · "}
                    <time dateTime={conversation.last_message_at} title={fullDate(conversation.last_message_at)}>
                      {timeAgo(conversation.last_message_at)}
                    </time>
                  </>
                )}
              </p>
            )}
            {conversation?.escalation_reason && (
              <p class="escalation">
                {t("escalation.label")}: <strong>{escalationText(conversation.escalation_reason)}</strong>
              </p>
            )}
          </div>
          <div class="actions" role="toolbar" aria-label={t("conv.actions")}>
            <button type="button" class="secondary narrow-only" aria-controls="context-pane" aria-expanded={showContext} onClick={() => setShowContext(true)}>
              {t("conv.showContext")}
            </button>
            {conversation && !mine && !closed && (
              <button type="button" onClick={() => void take()}>
                {t("conv.take")}
              </button>
            )}
            {conversation && !closed && conversation.owner.type !== "none" && <EscalateControl onEscalate={(reason) => void escalate(reason)} />}
            <button type="button" class="secondary" onClick={() => socket.send({ type: "request_summary", conversation_id: id })}>
              {t("conv.summarize")}
            </button>
            {conversation && !closed && canReply && (
              <button type="button" class="secondary" onClick={() => void close()}>
                {t("conv.close")}
              </button>
            )}
            {conversation && !closed && (mine || overseer) && <TransferControl me={me} overseer={overseer} onTransfer={transfer} />}
          </div>
        </header>
        {actionError && (
          <p role="alert" class="error-box">
            {actionError}
          </p>
        )}
        <div class="conversation-body">
          {olderFrom !== null && (
            <button type="button" class="secondary older" disabled={loadingOlder} onClick={() => void loadOlder()}>
              {t("conv.loadOlder")}
            </button>
          )}
          {!historyLoaded && <p class="muted" aria-busy="true">{t("app.loading")}</p>}
          {historyLoaded && thread.messages.length === 0 && thread.pending.length === 0 && Object.keys(thread.streams).length === 0 && (
            <p class="muted empty">{t("conv.empty")}</p>
          )}
          <MessageList thread={thread} self={SELF} label={label} onRetry={retry} asides={asides} />
          {othersTyping.length > 0 && (
            <p class="typing" role="status">
              {t("conv.typing", { who: othersTyping.includes(conversation?.contact_id ?? "") ? customerName : t("owner.user") })}
            </p>
          )}
        </div>
        {canReply && (
          <div class="reply-help">
            <button
              type="button"
              class="secondary"
              disabled={suggesting === "waiting"}
              onClick={() => {
                setSuggesting("waiting");
                socket.send({ type: "request_suggestions", conversation_id: id });
              }}
            >
              {suggesting === "waiting" ? t("conv.suggesting") : t("conv.suggest")}
            </button>
            {suggesting === "none" && <span class="muted" role="status">{t("conv.noSuggestions")}</span>}
            <SuggestionChips
              suggestions={thread.suggestions}
              onPick={(s) => {
                setDraft(s);
                composer.current?.focus();
              }}
            />
          </div>
        )}
        {closed && <p class="muted note">{t("conv.closedNote")}</p>}
        {!closed && !canReply && conversation && <p class="muted note">{t("conv.notYours")}</p>}
        {conversation && (
          <ReplyComposer
            mode={mode}
            onMode={(next) => {
              if (next === "note") stopTyping();
              setMode(next);
              window.setTimeout(() => composer.current?.focus());
            }}
            canReply={canReply}
            draft={draft}
            onDraft={setDraft}
            onSend={(text) => send(text)}
            onNote={saveNote}
            onTyping={() => {
              const now = Date.now();
              if (typingSince.current === undefined || now - typingSince.current > TYPING_IDLE_MS) {
                socket.send({ type: "typing", conversation_id: id, is_typing: true });
                typingSince.current = now;
              }
            }}
            onStopTyping={stopTyping}
            composer={composer}
          />
        )}
      </main>
      <ContactPanel
        open={showContext}
        onClose={() => setShowContext(false)}
        contactId={conversation?.contact_id}
        conversationId={id}
        summary={summary}
        autoCreate={autoCreate}
        onAutoCreate={(enabled) => socket.send({ type: "set_auto_create", conversation_id: id, enabled })}
      >
        {conversation && <TicketFields conversation={conversation} onSaved={setConversation} />}
        {booking.booked && booking.bookedFrom !== "bot" && (
          <p class="booked" role="status">
            {t("slots.confirmed", { when: meetingTime(booking.booked) })}
          </p>
        )}
        {booking.origin === "customer" && <SlotPicker key={JSON.stringify(booking.request)} client={api} booking={booking} fallback={customer ?? undefined} />}
        <BotChat
          messages={thread.messages}
          customer={customerName}
          contact={customer}
          booking={booking}
          onUseReply={(text) => {
            setDraft(text);
            composer.current?.focus();
          }}
        />
      </ContactPanel>
    </>
  );
}

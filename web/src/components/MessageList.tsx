// The messages of a conversation, oldest first: stored ones, our replies waiting for their
// ack (faded, "tentar de novo" on failure), and AI answers being written. Staff also see the
// conversation's private notes in place, in a band of their own (never a bubble).
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import type { Message } from "../api/client";
import { clock, fullDate, t } from "../i18n";
import type { Pending, Thread } from "../live/thread";
import { ratingGiven } from "../chat/csat";

/** Something staff see between the messages, by when it happened (private notes). */
export interface Aside {
  id: string;
  created_at: string;
  node: ComponentChildren;
}

interface Props {
  thread: Thread;
  /** Our own sender type: "user" (staff) or "contact" (customer). */
  self: string;
  label: (message: Message) => string;
  onRetry?: (pending: Pending) => void;
  /** Oldest first; each goes before the first message that came after it. */
  asides?: Aside[];
}

function statusText(status: string): string {
  if (status === "read") return t("conv.read");
  if (status === "delivered") return t("conv.delivered");
  return t("conv.sent");
}

/** A customer's `csat:N` rating in words and stars, other messages as written. */
function shown(m: Message): string {
  const rating = m.sender_type === "contact" ? ratingGiven(m.content) : null;
  return rating === null ? m.content : t("csat.given", { stars: "★".repeat(rating) + "☆".repeat(5 - rating), rating });
}

export function MessageList({ thread, self, label, onRetry, asides = [] }: Props) {
  const end = useRef<HTMLDivElement>(null);
  // Follow the end when something arrives there, not when older history is put above.
  const tail = `${thread.messages[thread.messages.length - 1]?.id ?? ""}:${thread.pending.length}:${Object.values(thread.streams).join("").length}:${asides.length}`;
  let next = 0;
  /** The asides that happened before `at` and are not drawn yet. */
  const asidesBefore = (at: string | null) => {
    const from = next;
    while (next < asides.length && (at === null || asides[next].created_at < at)) next += 1;
    return asides.slice(from, next).map((a) => <div key={a.id}>{a.node}</div>);
  };
  useEffect(() => {
    end.current?.scrollIntoView({ block: "end" });
  }, [tail]);

  return (
    <div class="messages" role="log" aria-live="polite" aria-label={t("conv.messages")}>
      {thread.messages.map((m) => {
        const mine = m.sender_type === self;
        return [
          ...asidesBefore(m.created_at),
          <article class={`bubble ${mine ? "mine" : "theirs"} from-${m.sender_type}`} key={m.id} data-seq={m.seq}>
            <header>{label(m)}</header>
            <p>{shown(m)}</p>
            <footer>
              <time dateTime={m.created_at} title={fullDate(m.created_at)}>
                {clock(m.created_at)}
              </time>
              {mine && <span class="receipt">{statusText(m.status)}</span>}
            </footer>
          </article>,
        ];
      })}
      {asidesBefore(null)}
      {Object.entries(thread.streams).map(([id, text]) => (
        <article class="bubble theirs from-ai_agent streaming" key={id} aria-busy="true">
          <header>{t("conv.aiWriting")}</header>
          <p>{text}</p>
        </article>
      ))}
      {thread.pending.map((p) => (
        <article class={`bubble mine pending ${p.failed ? "failed" : ""}`} key={p.clientId}>
          <p>{p.content}</p>
          <footer>
            {p.failed ? (
              <button type="button" class="link" onClick={() => onRetry?.(p)}>
                {t("conv.failed")} · {t("app.retry")}
              </button>
            ) : (
              <span class="receipt">{t("conv.sending")}</span>
            )}
          </footer>
        </article>
      ))}
      <div ref={end} />
    </div>
  );
}

// The messages of a conversation, oldest first: stored ones, our replies waiting for their
// ack (faded, "tentar de novo" on failure), and AI answers being written.
import { useEffect, useRef } from "preact/hooks";
import type { Message } from "../api/client";
import { clock, fullDate, t } from "../i18n";
import type { Pending, Thread } from "../live/thread";

interface Props {
  thread: Thread;
  /** Our own sender type: "user" (staff) or "contact" (customer). */
  self: string;
  label: (message: Message) => string;
  onRetry?: (pending: Pending) => void;
}

function statusText(status: string): string {
  if (status === "read") return t("conv.read");
  if (status === "delivered") return t("conv.delivered");
  return t("conv.sent");
}

export function MessageList({ thread, self, label, onRetry }: Props) {
  const end = useRef<HTMLDivElement>(null);
  // Follow the end when something arrives there, not when older history is put above.
  const tail = `${thread.messages[thread.messages.length - 1]?.id ?? ""}:${thread.pending.length}:${Object.values(thread.streams).join("").length}`;
  useEffect(() => {
    end.current?.scrollIntoView({ block: "end" });
  }, [tail]);

  return (
    <div class="messages" role="log" aria-live="polite" aria-label={t("conv.messages")}>
      {thread.messages.map((m) => {
        const mine = m.sender_type === self;
        return (
          <article class={`bubble ${mine ? "mine" : "theirs"} from-${m.sender_type}`} key={m.id} data-seq={m.seq}>
            <header>{label(m)}</header>
            <p>{m.content}</p>
            <footer>
              <time dateTime={m.created_at} title={fullDate(m.created_at)}>
                {clock(m.created_at)}
              </time>
              {mine && <span class="receipt">{statusText(m.status)}</span>}
            </footer>
          </article>
        );
      })}
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

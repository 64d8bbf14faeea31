// Tabs mine / queue / all, filters, search; refreshed live when conversations change hands,
// close or get messages. Keyboard: j/k move, / searches.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, must, type Conversation, type ConversationQuery } from "../../api/client";
import { t, timeAgo, fullDate } from "../../i18n";
import { useConsole, isOverseer } from "../../console/session";
import { contact, contactName } from "./contacts";
import { ownerText, statusText } from "./words";
import type { Contact } from "../../api/client";

export type Tab = "mine" | "queue" | "all";
/** Fired by this tab's own actions (take, close…), which the socket may echo later or not. */
export const CONVERSATIONS_CHANGED = "atende:conversations-changed";
const PAGE = 50;
const SEEN_KEY = "atende.inbox.seen";
const REFRESH_DEBOUNCE_MS = 250;

type Query = ConversationQuery;

function seenTimes(): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(SEEN_KEY) ?? "{}") as Record<string, string>;
  } catch {
    return {};
  }
}

export function markSeen(id: string) {
  const seen = seenTimes();
  seen[id] = new Date().toISOString();
  localStorage.setItem(SEEN_KEY, JSON.stringify(seen));
}

export function ConversationList({ tab, selected }: { tab: Tab; selected?: string }) {
  const { session, socket } = useConsole();
  const { route } = useLocation();
  const me = session.user.id;
  const [status, setStatus] = useState<string>("");
  const [aiOnly, setAiOnly] = useState(false);
  const [search, setSearch] = useState("");
  const [items, setItems] = useState<Conversation[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [contacts, setContacts] = useState<Record<string, Contact | null>>({});
  const searchRef = useRef<HTMLInputElement>(null);

  const query = useMemo((): Query => {
    const q: Query = { limit: PAGE };
    if (tab === "mine") q.owner = me;
    if (tab === "queue") q.status = "queued";
    if (tab !== "queue" && status) q.status = status;
    if (aiOnly) q.owner = "ai_agent";
    return q;
  }, [tab, status, aiOnly, me]);

  const load = async (after?: string) => {
    try {
      const page = await must(api.GET("/api/v1/conversations", { params: { query: { ...query, cursor: after } } }));
      setError(null);
      setItems((current) => (after && current ? [...current, ...page.items] : page.items));
      setCursor(page.next_cursor ?? null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  useEffect(() => {
    setItems(null);
    void load();
  }, [query]);

  // Live: any change of hands, close or new message reloads the first page (debounced).
  useEffect(() => {
    let timer: number | undefined;
    const off = socket.on((frame) => {
      if (["conversation_assigned", "conversation_escalated", "conversation_closed", "message", "conversation_classified"].includes(frame.type)) {
        window.clearTimeout(timer);
        timer = window.setTimeout(() => void load(), REFRESH_DEBOUNCE_MS);
      }
    });
    const offState = socket.onState((state, reconnected) => {
      if (state === "open" && reconnected) void load();
    });
    const onOwnChange = () => void load();
    window.addEventListener(CONVERSATIONS_CHANGED, onOwnChange);
    return () => {
      off();
      offState();
      window.clearTimeout(timer);
      window.removeEventListener(CONVERSATIONS_CHANGED, onOwnChange);
    };
  }, [socket, query]);

  useEffect(() => {
    for (const c of items ?? []) {
      if (!(c.contact_id in contacts)) {
        void contact(c.contact_id).then((found) => setContacts((all) => ({ ...all, [c.contact_id]: found })));
      }
    }
  }, [items]);

  const seen = seenTimes();
  const visible = (items ?? []).filter((c) => {
    if (!search.trim()) return true;
    const who = contacts[c.contact_id];
    const haystack = [who?.name, who?.email, who?.phone, c.id, c.channel, ...(c.tags as string[])].join(" ").toLowerCase();
    return haystack.includes(search.trim().toLowerCase());
  });

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement;
      if (target.closest("input, textarea, select")) return;
      if (e.key === "/") {
        e.preventDefault();
        searchRef.current?.focus();
      }
      if (e.key === "j" || e.key === "k") {
        const index = visible.findIndex((c) => c.id === selected);
        const next = visible[e.key === "j" ? index + 1 : Math.max(0, index - 1)];
        if (next) route(`/c/${next.id}`);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [visible, selected]);

  const tabs: Tab[] = isOverseer(session.user.role) ? ["mine", "queue", "all"] : ["mine", "queue", "all"];

  return (
    <aside class="pane list-pane" aria-label={t("inbox.title")}>
      <nav class="tabs" aria-label={t("inbox.title")}>
        {tabs.map((name) => (
          <a href={`/inbox/${name}`} aria-current={tab === name ? "page" : undefined}>
            {t(`inbox.tab.${name}`)}
          </a>
        ))}
      </nav>
      <div class="filters">
        <label class="sr-only" for="inbox-search">
          {t("inbox.search")}
        </label>
        <input id="inbox-search" ref={searchRef} type="search" placeholder={t("inbox.search")} value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        {tab !== "queue" && (
          <label>
            {t("inbox.filter.status")}{" "}
            <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
              <option value="">{t("inbox.filter.any")}</option>
              <option value="open">{t("status.open")}</option>
              <option value="queued">{t("status.queued")}</option>
              <option value="closed">{t("status.closed")}</option>
            </select>
          </label>
        )}
        <label>
          <input type="checkbox" checked={aiOnly} onChange={(e) => setAiOnly(e.currentTarget.checked)} /> {t("inbox.filter.aiOwned")}
        </label>
      </div>
      {error && (
        <div role="alert" class="error-box">
          <p>{t("app.error", { message: error })}</p>
          <button type="button" onClick={() => void load()}>
            {t("app.retry")}
          </button>
        </div>
      )}
      {items === null && !error && (
        <ul class="conversation-list skeleton" aria-busy="true">
          {[1, 2, 3, 4].map(() => (
            <li class="skeleton-row" />
          ))}
        </ul>
      )}
      {items && visible.length === 0 && <p class="muted empty">{t(`inbox.empty.${tab}`)}</p>}
      <ul class="conversation-list" aria-label={t(`inbox.tab.${tab}`)}>
        {visible.map((c) => {
          const unread = c.last_message_at && (!seen[c.id] || seen[c.id] < c.last_message_at) && c.id !== selected;
          return (
            <li key={c.id}>
              <a href={`/c/${c.id}`} aria-current={c.id === selected ? "true" : undefined} class={unread ? "unread" : ""}>
                <strong>{contactName(contacts[c.contact_id] ?? null, t("contact.anonymous"))}</strong>
                {unread && <span class="dot" aria-label="new">●</span>}
                <span class={`pill status-${c.status}`}>{statusText(c.status)}</span>
                <small class="muted">
                  {c.channel} · {ownerText(c, me)}
                  {c.last_message_at && (
                    <>
                      {" · "}
                      <time dateTime={c.last_message_at} title={fullDate(c.last_message_at)}>
                        {timeAgo(c.last_message_at)}
                      </time>
                    </>
                  )}
                </small>
              </a>
            </li>
          );
        })}
      </ul>
      {cursor && (
        <button type="button" class="secondary" onClick={() => void load(cursor)}>
          {t("inbox.loadMore")}
        </button>
      )}
    </aside>
  );
}

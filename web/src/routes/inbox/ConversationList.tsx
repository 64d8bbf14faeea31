// Tabs mine / queue / all, filters (status, channel, integration, tag, priority, AI-owned)
// and search, all answered by the server; keyset pages fetched as the list scrolls, drawn
// by a windowed list so ten thousand conversations stay responsive. Live: a change of
// hands, a close or a new message refreshes the first page and keeps the pages below it.
// Keyboard: j/k move, / searches.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, must, type Contact, type Conversation, type ConversationQuery } from "../../api/client";
import { number, t, tn, timeAgo, fullDate, type Key } from "../../i18n";
import { useConsole, isOverseer } from "../../console/session";
import { VirtualList } from "../../components/VirtualList";
import { contactName, contactsOf } from "./contacts";
import { ownerText, statusText } from "./words";
import { mergeFirstPage } from "./pages";
import { useNames } from "./team";
import { storage } from "../../storage";

export type Tab = "mine" | "queue" | "all";
/** Fired by this tab's own actions (take, close…), which the socket may echo later or not. */
export const CONVERSATIONS_CHANGED = "atende:conversations-changed";
const PAGE = 50;
/** conversation id → the last `seq` this browser showed the person. */
const SEEN_KEY = "atende.inbox.seen-seq";
const FILTERS_KEY = "atende.inbox.filters";
const REFRESH_DEBOUNCE_MS = 250;
const SEARCH_DEBOUNCE_MS = 300;
const ROW_HEIGHT = 64;
const CHANNELS = ["webchat", "evolution", "generic"] as const;
const PRIORITIES = ["critical", "high", "medium", "low"] as const;

interface Filters {
  status: string;
  channel: string;
  integration: string;
  tag: string;
  priority: string;
  aiOnly: boolean;
}
const NO_FILTERS: Filters = { status: "", channel: "", integration: "", tag: "", priority: "", aiOnly: false };

function savedFilters(): Filters {
  try {
    return { ...NO_FILTERS, ...(JSON.parse(storage.getItem(FILTERS_KEY) ?? "{}") as Partial<Filters>) };
  } catch {
    return NO_FILTERS;
  }
}

function seenSeqs(): Record<string, number> {
  try {
    return JSON.parse(storage.getItem(SEEN_KEY) ?? "{}") as Record<string, number>;
  } catch {
    return {};
  }
}

/** The person has seen conversation `id` up to message `seq`. */
export function markSeen(id: string, seq: number) {
  const seen = seenSeqs();
  if ((seen[id] ?? 0) >= seq) return;
  seen[id] = seq;
  storage.setItem(SEEN_KEY, JSON.stringify(seen));
}

/** Messages of `c` the person has not seen in this browser. */
function unreadOf(c: Conversation, seen: Record<string, number>): number {
  return Math.max(0, c.last_seq - (seen[c.id] ?? 0));
}

interface Named {
  id: string;
  name: string;
}

export function ConversationList({ tab, selected }: { tab: Tab; selected?: string }) {
  const { session, socket } = useConsole();
  const { route } = useLocation();
  const me = session.user.id;
  const overseer = isOverseer(session.user.role);
  const names = useNames();
  const [filters, setFilters] = useState<Filters>(savedFilters);
  const [search, setSearch] = useState("");
  const [term, setTerm] = useState("");
  const [items, setItems] = useState<Conversation[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [contacts, setContacts] = useState<Record<string, Contact | null>>({});
  const [tags, setTags] = useState<Named[]>([]);
  const [integrations, setIntegrations] = useState<Named[]>([]);
  const searchRef = useRef<HTMLInputElement>(null);
  const generation = useRef(0);
  /** The latest first-page read started: an older answer arriving after it is stale. */
  const latestRefresh = useRef(0);
  const itemsRef = useRef<Conversation[] | null>(null);

  useEffect(() => {
    storage.setItem(FILTERS_KEY, JSON.stringify(filters));
  }, [filters]);
  useEffect(() => {
    const timer = window.setTimeout(() => setTerm(search.trim()), SEARCH_DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [search]);
  useEffect(() => {
    void must(api.GET("/api/v1/tags", { params: { query: { limit: 200 } } }))
      .then((page) => setTags(page.items))
      .catch(() => setTags([]));
    if (overseer) {
      void must(api.GET("/api/v1/integrations"))
        .then((list) => setIntegrations(Array.isArray(list) ? list : (list as { items: Named[] }).items))
        .catch(() => setIntegrations([]));
    }
  }, []);

  const query = useMemo((): ConversationQuery => {
    const q: ConversationQuery = { limit: PAGE };
    if (tab === "mine") q.owner = me;
    if (tab === "queue") q.status = "queued";
    if (tab !== "queue" && filters.status) q.status = filters.status;
    if (filters.aiOnly) q.owner = "ai_agent";
    if (filters.channel) q.channel = filters.channel;
    if (filters.integration) q.integration_id = filters.integration;
    if (filters.tag) q.tag = filters.tag;
    if (filters.priority) q.priority = filters.priority;
    if (term) q.q = term;
    return q;
  }, [tab, filters, term, me]);

  const fetchPage = (after?: string) => must(api.GET("/api/v1/conversations", { params: { query: { ...query, cursor: after } } }));

  const withContacts = (page: Conversation[]) => {
    void contactsOf(page.map((c) => c.contact_id)).then((found) => setContacts((all) => ({ ...all, ...found })));
  };

  /** The first page again, merged into what is loaded (live changes, own actions). */
  const refresh = async () => {
    const mine = generation.current;
    const call = ++latestRefresh.current;
    try {
      const page = await fetchPage();
      if (mine !== generation.current || call !== latestRefresh.current) return;
      setError(null);
      const current = itemsRef.current;
      const merged = mergeFirstPage(current, page.items, page.next_cursor ?? null);
      itemsRef.current = merged;
      setItems(merged);
      // Pages already loaded below the first keep their cursor.
      if (merged.length === page.items.length) setCursor(page.next_cursor ?? null);
      withContacts(page.items);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const loadMore = async () => {
    if (!cursor || loadingMore) return;
    const mine = generation.current;
    setLoadingMore(true);
    try {
      const page = await fetchPage(cursor);
      if (mine !== generation.current) return;
      const current = itemsRef.current ?? [];
      const known = new Set(current.map((c) => c.id));
      const merged = [...current, ...page.items.filter((c) => !known.has(c.id))];
      itemsRef.current = merged;
      setItems(merged);
      setCursor(page.next_cursor ?? null);
      withContacts(page.items);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setLoadingMore(false);
    }
  };

  useEffect(() => {
    generation.current += 1;
    itemsRef.current = null;
    setItems(null);
    setCursor(null);
    void refresh();
  }, [query]);

  // Live: any change of hands, close or new message refreshes the first page (debounced).
  useEffect(() => {
    let timer: number | undefined;
    const soon = () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void refresh(), REFRESH_DEBOUNCE_MS);
    };
    const off = socket.on((frame) => {
      if (["conversation_assigned", "conversation_escalated", "conversation_closed", "message", "conversation_classified"].includes(frame.type)) soon();
    });
    const offState = socket.onState((state, reconnected) => {
      if (state === "open" && reconnected) void refresh();
    });
    window.addEventListener(CONVERSATIONS_CHANGED, soon);
    return () => {
      off();
      offState();
      window.clearTimeout(timer);
      window.removeEventListener(CONVERSATIONS_CHANGED, soon);
    };
  }, [socket, query]);

  const list = items ?? [];
  const selectedIndex = list.findIndex((c) => c.id === selected);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement;
      if (target.closest("input, textarea, select")) return;
      if (e.key === "/") {
        e.preventDefault();
        searchRef.current?.focus();
      }
      if (e.key === "j" || e.key === "k") {
        const next = list[e.key === "j" ? selectedIndex + 1 : Math.max(0, selectedIndex - 1)];
        if (next) route(`/c/${next.id}`);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [list, selectedIndex]);

  const set = (patch: Partial<Filters>) => setFilters((current) => ({ ...current, ...patch }));
  const seen = seenSeqs();

  return (
    <aside class="pane list-pane" aria-label={t("inbox.title")}>
      <nav class="tabs" aria-label={t("inbox.title")}>
        {(["mine", "queue", "all"] as Tab[]).map((name) => (
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
        <div class="filter-grid">
          {tab !== "queue" && (
            <label>
              {t("inbox.filter.status")}
              <select value={filters.status} onChange={(e) => set({ status: e.currentTarget.value })}>
                <option value="">{t("inbox.filter.any")}</option>
                <option value="open">{t("status.open")}</option>
                <option value="queued">{t("status.queued")}</option>
                <option value="closed">{t("status.closed")}</option>
              </select>
            </label>
          )}
          <label>
            {t("inbox.filter.channel")}
            <select value={filters.channel} onChange={(e) => set({ channel: e.currentTarget.value })}>
              <option value="">{t("inbox.filter.any")}</option>
              {CHANNELS.map((c) => (
                <option value={c}>{c}</option>
              ))}
            </select>
          </label>
          {integrations.length > 0 && (
            <label>
              {t("inbox.filter.integration")}
              <select value={filters.integration} onChange={(e) => set({ integration: e.currentTarget.value })}>
                <option value="">{t("inbox.filter.any")}</option>
                {integrations.map((i) => (
                  <option value={i.id}>{i.name}</option>
                ))}
              </select>
            </label>
          )}
          <label>
            {t("inbox.filter.tag")}
            <select value={filters.tag} onChange={(e) => set({ tag: e.currentTarget.value })}>
              <option value="">{t("inbox.filter.any")}</option>
              {tags.map((tag) => (
                <option value={tag.name}>{tag.name}</option>
              ))}
            </select>
          </label>
          <label>
            {t("inbox.filter.priority")}
            <select value={filters.priority} onChange={(e) => set({ priority: e.currentTarget.value })}>
              <option value="">{t("inbox.filter.any")}</option>
              {PRIORITIES.map((p) => (
                <option value={p}>{t(`priority.${p}` as Key)}</option>
              ))}
            </select>
          </label>
          <label class="check">
            <input type="checkbox" checked={filters.aiOnly} onChange={(e) => set({ aiOnly: e.currentTarget.checked })} /> {t("inbox.filter.aiOwned")}
          </label>
        </div>
      </div>
      {error && (
        <div role="alert" class="error-box">
          <p>{t("app.error", { message: error })}</p>
          <button type="button" onClick={() => void refresh()}>
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
      {items && list.length === 0 && <p class="muted empty">{t(`inbox.empty.${tab}`)}</p>}
      {items && list.length > 0 && (
        <VirtualList
          items={list}
          rowHeight={ROW_HEIGHT}
          label={t(`inbox.tab.${tab}`)}
          keyOf={(c) => c.id}
          focusIndex={selectedIndex}
          onEndReached={() => void loadMore()}
          row={(c) => {
            const unread = c.id === selected ? 0 : unreadOf(c, seen);
            return (
              <a href={`/c/${c.id}`} aria-current={c.id === selected ? "true" : undefined} class={unread ? "unread" : ""}>
                <strong>{contactName(contacts[c.contact_id] ?? null, t("contact.anonymous"))}</strong>
                {unread > 0 && (
                  <span class="unread-count" title={tn("inbox.unread", unread)}>
                    <span aria-hidden="true">{unread > 99 ? "99+" : number(unread)}</span>
                    <span class="sr-only">{tn("inbox.unread", unread)}</span>
                  </span>
                )}
                <span class={`pill status-${c.status}`}>{statusText(c.status)}</span>
                <small class="muted">
                  {c.channel} · {ownerText(c, me, names)}
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
            );
          }}
        />
      )}
      <p class="muted list-count" role="status">
        {loadingMore ? t("inbox.loadingMore") : items ? tn("inbox.count", list.length) : ""}
      </p>
    </aside>
  );
}

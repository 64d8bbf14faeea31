// The supervisor's wall screen: queue length and the longest wait, live conversations by
// owner, the team's load and presence, and what happens (SLA breaches, limits, unhappy
// customers) as it happens. It starts from a snapshot (`/analytics/live`), follows the
// tenant's event stream (`/api/v1/events`) and reloads the snapshot when an event changes
// who owns what — or when the stream says events were lost.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, loadSession, must, type Schemas } from "../../api/client";
import { clock, fullDate, t, type Key } from "../../i18n";
import { useConsole, isOverseer } from "../../console/session";
import { openEventStream, type TenantEvent } from "../../live/events";
import "../../styles/live.css";

type Board = Schemas["LiveBoard"];
type Person = Schemas["PersonLoad"];

/** Events that change the queue or who owns what: the snapshot is reloaded after them. */
const RELOAD_ON = new Set(["conversation_started", "conversation_assigned", "conversation_escalated", "conversation_closed"]);
/** Events worth a line in the feed (messages are too many for a wall screen). */
const FEED_KINDS = new Set([...RELOAD_ON, "limit_reached", "sla_breached", "feedback_detected", "delivery_failed"]);
const FEED_LENGTH = 40;
const RELOAD_DEBOUNCE_MS = 200;
const TICK_MS = 1000;

interface Counters {
  sla: number;
  limits: number;
  feedback: number;
}

export default function SupervisorPage() {
  const { session, socket } = useConsole();
  const [board, setBoard] = useState<Board | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [feed, setFeed] = useState<TenantEvent[]>([]);
  const [counters, setCounters] = useState<Counters>({ sla: 0, limits: 0, feedback: 0 });
  const [streamLive, setStreamLive] = useState(false);
  const [resynced, setResynced] = useState(false);
  const now = useNow(TICK_MS);
  const reloadTimer = useRef<number | undefined>(undefined);

  const load = async () => {
    try {
      setBoard(await must(api.GET("/api/v1/analytics/live")));
      setError(null);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  const reloadSoon = () => {
    window.clearTimeout(reloadTimer.current);
    reloadTimer.current = window.setTimeout(() => void load(), RELOAD_DEBOUNCE_MS);
  };

  useEffect(() => {
    if (!isOverseer(session.user.role)) return;
    void load();
    const close = openEventStream(() => loadSession()?.token ?? null, {
      onEvent: (event) => {
        if (RELOAD_ON.has(event.type)) reloadSoon();
        if (FEED_KINDS.has(event.type)) setFeed((current) => [event, ...current].slice(0, FEED_LENGTH));
        if (event.type === "sla_breached") setCounters((c) => ({ ...c, sla: c.sla + 1 }));
        if (event.type === "limit_reached") setCounters((c) => ({ ...c, limits: c.limits + 1 }));
        if (event.type === "feedback_detected") setCounters((c) => ({ ...c, feedback: c.feedback + 1 }));
      },
      onResync: () => {
        setResynced(true);
        void load();
      },
      onState: (live) => {
        setStreamLive(live);
        // Back after a gap the stream could not replay is covered by `resync`; a reload
        // here also catches presence and load that changed while we were away.
        if (live) reloadSoon();
      },
    });
    // Presence is not on the event stream: the console's socket tells staff who is online.
    const off = socket.on((frame) => {
      if (frame.type !== "presence") return;
      setBoard((current) =>
        current && { ...current, people: current.people.map((p) => (p.id === frame.user_id ? { ...p, presence: frame.status } : p)) },
      );
    });
    return () => {
      close();
      off();
      window.clearTimeout(reloadTimer.current);
    };
  }, []);

  if (!isOverseer(session.user.role)) {
    return (
      <main class="center">
        <p role="alert">{t("board.forbidden")}</p>
      </main>
    );
  }
  if (error && !board) {
    return (
      <main class="center">
        <p role="alert">{t("app.error", { message: error })}</p>
        <button type="button" onClick={() => void load()}>
          {t("app.retry")}
        </button>
      </main>
    );
  }
  if (!board) return <main class="board skeleton" aria-busy="true">{t("app.loading")}</main>;

  const live = board.owners.reduce((sum, o) => sum + o.live, 0);
  const online = board.people.filter((p) => p.presence !== "offline").length;
  const oldest = board.queue.oldest_queued_at;

  return (
    <main class="board" aria-labelledby="board-title">
      <header class="board-head">
        <h1 id="board-title">{t("board.title")}</h1>
        <p class={`stream ${streamLive ? "ok" : "down"}`} role="status">
          {streamLive ? `● ${t("board.streamLive")}` : t("board.streamDown")}
        </p>
        {resynced && <p class="muted">{t("board.resynced")}</p>}
      </header>
      <section class="stats" aria-label={t("board.title")}>
        <Stat label={t("board.queue")} value={String(board.queue.length)} tone={board.queue.length > 0 ? "warn" : undefined} />
        <Stat
          label={t("board.oldestWait")}
          value={oldest ? waitText(now - Date.parse(oldest)) : t("board.noWait")}
          title={oldest ? fullDate(oldest) : undefined}
          tone={oldest ? "warn" : undefined}
        />
        <Stat label={t("board.live")} value={String(live)} />
        <Stat label={t("board.online")} value={`${online} / ${board.people.length}`} />
        <Stat label={t("board.slaBreaches")} value={String(counters.sla)} hint={t("board.sinceOpened")} tone={counters.sla ? "bad" : undefined} />
        <Stat label={t("board.limits")} value={String(counters.limits)} hint={t("board.sinceOpened")} tone={counters.limits ? "bad" : undefined} />
        <Stat label={t("board.feedback")} value={String(counters.feedback)} hint={t("board.sinceOpened")} tone={counters.feedback ? "bad" : undefined} />
      </section>
      <div class="board-grid">
        <OwnersTable owners={board.owners} />
        <TeamTable people={board.people} />
        <EventFeed events={feed} />
      </div>
    </main>
  );
}

function useNow(every: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), every);
    return () => window.clearInterval(timer);
  }, [every]);
  return now;
}

/** "4:05" (minutes:seconds) under an hour, "2 h 05" past it. */
function waitText(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h} h ${String(m).padStart(2, "0")}` : `${m}:${String(s).padStart(2, "0")}`;
}

function Stat({ label, value, hint, title, tone }: { label: string; value: string; hint?: string; title?: string; tone?: "warn" | "bad" }) {
  // Words ("ninguém esperando") are smaller than figures, so the cards keep one height.
  const words = /[^\d\s:/h]/.test(value);
  return (
    <div class={`stat ${tone ?? ""}`}>
      <span class="stat-label">{label}</span>
      <strong class={`stat-value ${words ? "words" : ""}`} title={title}>
        {value}
      </strong>
      {hint && <small class="muted">{hint}</small>}
    </div>
  );
}

function OwnersTable({ owners }: { owners: Board["owners"] }) {
  const most = Math.max(1, ...owners.map((o) => o.live));
  return (
    <section class="panel" aria-labelledby="owners-title">
      <h2 id="owners-title">{t("board.owners")}</h2>
      {owners.length === 0 ? (
        <p class="muted">{t("board.ownersEmpty")}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("board.owner")}</th>
              <th scope="col">{t("board.count")}</th>
            </tr>
          </thead>
          <tbody>
            {owners.map((o) => (
              <tr key={`${o.owner_type}:${o.owner_id}`}>
                <td>
                  {o.emoji && <span aria-hidden="true">{o.emoji} </span>}
                  {o.name || o.owner_id}{" "}
                  <small class="muted">({o.owner_type === "ai_agent" ? t("board.aiAgent") : t("board.person.user")})</small>
                </td>
                <td class="bar-cell">
                  <span class="bar" style={{ width: `${(o.live / most) * 100}%` }} aria-hidden="true" />
                  <span>{o.live}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function TeamTable({ people }: { people: Person[] }) {
  return (
    <section class="panel" aria-labelledby="team-title">
      <h2 id="team-title">{t("board.team")}</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">{t("board.person")}</th>
            <th scope="col">{t("board.presence")}</th>
            <th scope="col">{t("board.available")}</th>
            <th scope="col">{t("board.load")}</th>
          </tr>
        </thead>
        <tbody>
          {people.map((p) => (
            <tr key={p.id}>
              <td>
                {p.name} <small class="muted">{t(`role.${p.role}` as Key)}</small>
              </td>
              <td>
                <span class={`presence presence-${p.presence}`}>● {t(`presence.${p.presence}` as Key)}</span>
              </td>
              <td>{p.available ? t("board.yes") : t("board.no")}</td>
              <td class="bar-cell">
                <span class="bar" style={{ width: `${Math.min(1, p.load / Math.max(1, p.max_conversations)) * 100}%` }} aria-hidden="true" />
                <span>
                  {p.load} / {p.max_conversations}
                </span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function EventFeed({ events }: { events: TenantEvent[] }) {
  return (
    <section class="panel feed" aria-labelledby="feed-title">
      <h2 id="feed-title">{t("board.feed")}</h2>
      {events.length === 0 ? (
        <p class="muted">{t("board.feedEmpty")}</p>
      ) : (
        <ol aria-live="polite">
          {events.map((e) => (
            <li key={e.id} class={`event event-${e.type}`}>
              <time dateTime={e.at} title={fullDate(e.at)}>
                {clock(e.at)}
              </time>{" "}
              <strong>{t(`event.${e.type}` as Key)}</strong>
              {detail(e) && <span class="muted"> · {detail(e)}</span>}
              {e.conversation_id && (
                <>
                  {" "}
                  <a href={`/c/${e.conversation_id}`}>{t("board.open")}</a>
                </>
              )}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** The one fact of an event worth showing beside its name. */
function detail(e: TenantEvent): string {
  const d = e.data;
  const pick = (name: string) => (typeof d[name] === "string" || typeof d[name] === "number" ? String(d[name]) : "");
  return pick("reason") || pick("limit") || pick("kind") || (d.first_response_minutes != null ? `${pick("first_response_minutes")} min` : "");
}

// Analytics over a period (`/analytics?from=YYYY-MM-DD&to=YYYY-MM-DD&agent=<id>`: one URL
// per view, so a link shows a colleague the same figures): conversations, escalation and
// resolution rates, first-response time, AI turns, tokens and cost per day, tool usage and
// each AI agent's share. Figures come from `/analytics/dashboard` (or `/analytics/agents/{id}`).
import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, ApiError, must, type Schemas } from "../../api/client";
import { locale, t } from "../../i18n";
import { useConsole, isOverseer } from "../../console/session";
import { ChartCanvas } from "./ChartCanvas";
import { HumanServiceTable } from "./HumanServiceTable";
import { PALETTE } from "./charts";
import "../../styles/live.css";

type Analytics = Schemas["Analytics"];
type AgentView = Schemas["AgentView"];

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 30;
const QUICK_PERIODS = [7, 30, 90] as const;

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** `[from, to]` as whole UTC days, `to` included (as the API reads a date-only `to`). */
function lastDays(days: number): { from: string; to: string } {
  const today = Date.now();
  return { from: isoDay(today - (days - 1) * DAY_MS), to: isoDay(today) };
}

export default function AnalyticsPage() {
  const { session } = useConsole();
  const { query, route, path } = useLocation();
  const fallback = lastDays(DEFAULT_DAYS);
  const from = query.from || fallback.from;
  const to = query.to || fallback.to;
  const agent = query.agent || "";
  const [draft, setDraft] = useState({ from, to });
  const [data, setData] = useState<Analytics | null>(null);
  const [agents, setAgents] = useState<AgentView[]>([]);
  const [error, setError] = useState<string | null>(null);

  const go = (next: { from: string; to: string; agent?: string }) => {
    const params = new URLSearchParams({ from: next.from, to: next.to });
    if (next.agent ?? agent) params.set("agent", next.agent ?? agent);
    route(`${path}?${params}`);
  };

  useEffect(() => {
    if (!isOverseer(session.user.role)) return;
    void must(api.GET("/api/v1/agents", { params: { query: { limit: 200 } } }))
      .then((page) => setAgents(page.items))
      .catch(() => setAgents([]));
  }, []);

  useEffect(() => {
    if (!isOverseer(session.user.role)) return;
    setDraft({ from, to });
    setError(null);
    const period = { from, to };
    const call = agent
      ? api.GET("/api/v1/analytics/agents/{id}", { params: { path: { id: agent }, query: period } })
      : api.GET("/api/v1/analytics/dashboard", { params: { query: period } });
    let live = true;
    must(call)
      .then((found) => live && setData(found))
      .catch((e: Error) => live && setError(e instanceof ApiError ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [from, to, agent]);

  if (!isOverseer(session.user.role)) {
    return (
      <main class="center">
        <p role="alert">{t("analytics.forbidden")}</p>
      </main>
    );
  }

  // Costs per call are fractions of a cent: show three significant digits below a cent.
  const money = (v: number) =>
    new Intl.NumberFormat(locale(), { style: "currency", currency: "USD", ...(v !== 0 && Math.abs(v) < 0.01 ? { maximumSignificantDigits: 3 } : {}) }).format(v);
  const percent = (v: number) => new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(v);
  const seconds = (v: number | null | undefined) =>
    v == null ? t("analytics.none") : new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(v) + " s";
  const dayLabel = (iso: string) => new Date(`${iso}T00:00:00Z`).toLocaleDateString(locale(), { day: "2-digit", month: "2-digit", timeZone: "UTC" });

  return (
    <main class="analytics" aria-labelledby="analytics-title">
      <header class="analytics-head">
        <h1 id="analytics-title">{t("analytics.title")}</h1>
        <form
          class="period"
          aria-label={t("analytics.period")}
          onSubmit={(e) => {
            e.preventDefault();
            if (draft.from > draft.to) setError(t("analytics.badPeriod"));
            else go(draft);
          }}
        >
          <label>
            {t("analytics.from")}
            <input type="date" value={draft.from} max={draft.to} onInput={(e) => setDraft({ ...draft, from: e.currentTarget.value })} required />
          </label>
          <label>
            {t("analytics.to")}
            <input type="date" value={draft.to} min={draft.from} onInput={(e) => setDraft({ ...draft, to: e.currentTarget.value })} required />
          </label>
          <button type="submit">{t("analytics.apply")}</button>
          {QUICK_PERIODS.map((days) => (
            <button type="button" class="secondary" onClick={() => go(lastDays(days))}>
              {t(`analytics.last${days}`)}
            </button>
          ))}
          <label>
            {t("analytics.scope")}
            <select value={agent} onChange={(e) => go({ from, to, agent: e.currentTarget.value })}>
              <option value="">{t("analytics.allAgents")}</option>
              {agents.map((a) => (
                <option value={a.id}>
                  {a.emoji} {a.name}
                </option>
              ))}
            </select>
          </label>
        </form>
      </header>
      {error && (
        <p role="alert" class="error-box">
          {t("app.error", { message: error })}
        </p>
      )}
      {!data && !error && <div class="skeleton" aria-busy="true">{t("app.loading")}</div>}
      {data && (
        <>
          <section class="stats" aria-label={t("analytics.title")}>
            <Figure label={t("analytics.conversations")} value={data.conversations.total.toLocaleString(locale())} />
            <Figure label={t("analytics.escalationRate")} value={percent(data.conversations.escalation_rate)} />
            <Figure label={t("analytics.resolutionRate")} value={percent(data.conversations.resolution_rate)} />
            <Figure label={t("analytics.firstResponse")} value={seconds(data.conversations.avg_first_response_seconds)} />
            <Figure label={t("analytics.aiTurns")} value={data.ai.turns.toLocaleString(locale())} />
            <Figure label={t("analytics.tokens")} value={data.ai.total_tokens.toLocaleString(locale())} />
            <Figure label={t("analytics.cost")} value={money(data.ai.cost_usd)} />
            <Figure label={t("analytics.costPerConversation")} value={money(data.ai.cost_per_conversation)} />
          </section>
          <Charts data={data} dayLabel={dayLabel} money={money} />
          {!agent && <HumanServiceTable from={from} to={to} />}
        </>
      )}
    </main>
  );
}

/** Figures longer than this many characters (small costs) get a smaller font to fit. */
const LONG_FIGURE = 9;

function Figure({ label, value }: { label: string; value: string }) {
  return (
    <div class="stat">
      <span class="stat-label">{label}</span>
      <strong class={`stat-value ${value.length > LONG_FIGURE ? "words" : ""}`}>{value}</strong>
    </div>
  );
}

function Charts({ data, dayLabel, money }: { data: Analytics; dayLabel: (iso: string) => string; money: (v: number) => string }) {
  const days = data.daily.map((d) => dayLabel(d.date));
  const rate = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 1000) / 10 : null);
  const tools = Object.entries(data.ai.tool_usage).sort((a, b) => b[1] - a[1]);
  return (
    <div class="charts">
      <ChartCanvas
        integer
        title={t("analytics.chart.conversations")}
        labels={days}
        series={[{ label: t("analytics.series.conversations"), values: data.daily.map((d) => d.conversations), color: PALETTE[0] }]}
      />
      <ChartCanvas
        title={t("analytics.chart.rates")}
        labels={days}
        format={(v) => `${v.toLocaleString(locale())}%`}
        series={[
          { label: t("analytics.series.escalated"), values: data.daily.map((d) => rate(d.escalated, d.conversations)), color: PALETTE[5], kind: "line" },
          { label: t("analytics.series.resolved"), values: data.daily.map((d) => rate(d.resolved_without_human, d.conversations)), color: PALETTE[2], kind: "line" },
        ]}
      />
      <ChartCanvas
        title={t("analytics.chart.firstResponse")}
        labels={days}
        series={[{ label: t("analytics.series.seconds"), values: data.daily.map((d) => d.avg_first_response_seconds ?? null), color: PALETTE[3], kind: "line" }]}
      />
      <ChartCanvas
        integer
        title={t("analytics.chart.turns")}
        labels={days}
        series={[{ label: t("analytics.series.turns"), values: data.daily.map((d) => d.turns), color: PALETTE[4] }]}
      />
      <ChartCanvas
        integer
        title={t("analytics.chart.tokens")}
        labels={days}
        series={[
          { label: t("analytics.series.prompt"), values: data.daily.map((d) => d.prompt_tokens), color: PALETTE[0] },
          { label: t("analytics.series.completion"), values: data.daily.map((d) => d.completion_tokens), color: PALETTE[1] },
        ]}
      />
      <ChartCanvas
        title={t("analytics.chart.cost")}
        labels={days}
        format={money}
        series={[{ label: t("analytics.series.cost"), values: data.daily.map((d) => d.cost_usd), color: PALETTE[5] }]}
      />
      {tools.length > 0 ? (
        <ChartCanvas
          integer
          title={t("analytics.chart.tools")}
          labels={tools.map(([name]) => name)}
          horizontal
          series={[{ label: t("analytics.series.calls"), values: tools.map(([, n]) => n), color: PALETTE[2] }]}
        />
      ) : (
        <section class="panel">
          <h2>{t("analytics.chart.tools")}</h2>
          <p class="muted">{t("analytics.noTools")}</p>
        </section>
      )}
      {data.by_agent.length > 0 && (
        <ChartCanvas
          integer
          title={t("analytics.chart.agents")}
          labels={data.by_agent.map((a) => `${a.emoji} ${a.name || a.id}`.trim())}
          horizontal
          series={[
            { label: t("analytics.series.turns"), values: data.by_agent.map((a) => a.turns), color: PALETTE[4] },
            { label: t("analytics.series.conversations"), values: data.by_agent.map((a) => a.conversations), color: PALETTE[0] },
          ]}
        />
      )}
    </div>
  );
}

// "Human service": first response, resolution time, handled, transferred and CSAT per
// person and per department, beside the same figures for the AI (`/analytics/humans`).
import { useEffect, useState } from "preact/hooks";
import { ApiError, humanAnalytics, type HumanAnalytics, type Schemas } from "../../api/client";
import { locale, t } from "../../i18n";

type Figures = Schemas["HandlingFigures"];

interface Row {
  key: string;
  label: string;
  figures: Figures;
  kind?: "ai" | "total";
}

export function HumanServiceTable({ from, to }: { from: string; to: string }) {
  const [data, setData] = useState<HumanAnalytics | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    setError(null);
    humanAnalytics({ from, to })
      .then((found) => live && setData(found))
      .catch((e: Error) => live && setError(e instanceof ApiError ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [from, to]);

  if (error) {
    return (
      <p role="alert" class="error-box">
        {t("app.error", { message: error })}
      </p>
    );
  }
  if (!data) return <div class="skeleton" aria-busy="true">{t("app.loading")}</div>;

  const people: Row[] = [
    { key: "humans", label: t("humans.allHumans"), figures: data.humans, kind: "total" },
    { key: "ai", label: t("humans.allAi"), figures: data.ai, kind: "ai" },
    ...data.agents.map((a) => ({ key: `u-${a.id}`, label: a.name || a.id, figures: a.figures })),
  ];
  const departments: Row[] = data.departments.flatMap((d) => {
    const name = d.id ? d.name || d.id : t("humans.noDepartment");
    return [
      { key: `d-${d.id ?? ""}-h`, label: `${name} · ${t("humans.people")}`, figures: d.humans },
      { key: `d-${d.id ?? ""}-a`, label: `${name} · ${t("humans.ai")}`, figures: d.ai, kind: "ai" as const },
    ];
  });
  return (
    <section class="panel human-service" aria-labelledby="human-service-title">
      <h2 id="human-service-title">{t("humans.title")}</h2>
      <FiguresTable caption={t("humans.byPerson")} rows={people} />
      {departments.length > 0 && <FiguresTable caption={t("humans.byDepartment")} rows={departments} />}
    </section>
  );
}

function FiguresTable({ caption, rows }: { caption: string; rows: Row[] }) {
  const count = (v: number) => v.toLocaleString(locale());
  const seconds = (v: number | null | undefined) =>
    v == null ? t("analytics.none") : new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(v) + " s";
  const percent = (v: number) => new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(v);
  const csat = (f: Figures) =>
    f.avg_csat == null ? t("analytics.none") : `${new Intl.NumberFormat(locale(), { maximumFractionDigits: 2 }).format(f.avg_csat)} (${count(f.csat_ratings)})`;
  return (
    <table class="figures">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">{t("humans.who")}</th>
          <th scope="col">{t("humans.handled")}</th>
          <th scope="col">{t("humans.firstResponse")}</th>
          <th scope="col">{t("humans.resolution")}</th>
          <th scope="col">{t("humans.resolved")}</th>
          <th scope="col">{t("humans.transferred")}</th>
          <th scope="col">{t("humans.csat")}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.key} class={r.kind ?? ""}>
            <th scope="row">{r.label}</th>
            <td>{count(r.figures.handled)}</td>
            <td>{seconds(r.figures.avg_first_response_seconds)}</td>
            <td>{seconds(r.figures.avg_resolution_seconds)}</td>
            <td>{count(r.figures.resolved)}</td>
            <td>
              {count(r.figures.transferred)} ({percent(r.figures.transfer_rate)})
            </td>
            <td>{csat(r.figures)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

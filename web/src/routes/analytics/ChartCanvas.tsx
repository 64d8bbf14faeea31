// One chart on a canvas, with its figures also in a visually hidden table for screen
// readers (a canvas says nothing by itself). Redrawn when the data change.
import { useEffect, useRef } from "preact/hooks";
import { locale } from "../../i18n";
import { Chart, type ChartConfiguration } from "./charts";

export interface Series {
  label: string;
  /** null: no figure that day (drawn as a gap, not as zero). */
  values: (number | null)[];
  color: string;
  kind?: "bar" | "line";
}

interface Props {
  title: string;
  labels: string[];
  series: Series[];
  /** Horizontal bars (tool usage, agents). */
  horizontal?: boolean;
  /** Counts: no fractional ticks. */
  integer?: boolean;
  format?: (value: number) => string;
}

export function ChartCanvas({ title, labels, series, horizontal, integer, format = (v) => v.toLocaleString(locale()) }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const config: ChartConfiguration = {
      type: "bar",
      data: {
        labels,
        datasets: series.map((s) => ({
          type: s.kind ?? "bar",
          label: s.label,
          data: s.values,
          backgroundColor: s.color,
          borderColor: s.color,
          borderWidth: s.kind === "line" ? 2 : 0,
          pointRadius: s.kind === "line" ? 3 : 0,
          spanGaps: true,
          tension: 0.2,
        })) as ChartConfiguration["data"]["datasets"],
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        locale: locale(),
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { display: series.length > 1, position: "bottom" },
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${format(Number(item.raw))}` } },
        },
        scales: {
          [horizontal ? "x" : "y"]: {
            beginAtZero: true,
            ticks: { precision: integer ? 0 : undefined, callback: (value: string | number) => format(Number(value)) },
          },
        },
      },
    };
    const chart = new Chart(canvas.current, config);
    return () => chart.destroy();
  }, [labels.join(","), JSON.stringify(series)]);

  return (
    <figure class="panel chart">
      <figcaption>
        <h2>{title}</h2>
      </figcaption>
      <div class="chart-box">
        <canvas ref={canvas} role="img" aria-label={title} />
      </div>
      <table class="sr-only">
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col" />
            {series.map((s) => (
              <th scope="col">{s.label}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {labels.map((label, i) => (
            <tr>
              <th scope="row">{label}</th>
              {series.map((s) => (
                <td>{s.values[i] == null ? "—" : format(s.values[i] as number)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

// Seed 000's slot picker: a day, its free times, an e-mail; confirming sends
// `schedule_confirm` over the socket. Shared by the customer's page and the inbox.
import { useEffect, useState } from "preact/hooks";
import { must } from "../api/client";
import type { apiWithToken } from "../api/client";
import { t } from "../i18n";

export interface SlotRequest {
  date?: string;
  email?: string;
  phone?: string;
}

interface Props {
  client: ReturnType<typeof apiWithToken>;
  request: SlotRequest;
  onConfirm: (choice: { date: string; time: string; email: string; phone?: string }) => void;
}

function today(): string {
  const now = new Date();
  now.setMinutes(now.getMinutes() - now.getTimezoneOffset());
  return now.toISOString().slice(0, 10);
}

export function SlotPicker({ client, request, onConfirm }: Props) {
  const [date, setDate] = useState(request.date ?? today());
  const [email, setEmail] = useState(request.email ?? "");
  const [slots, setSlots] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    setSlots(null);
    setError(null);
    must(client.GET("/api/v1/calendar/available-slots", { params: { query: { date } } }))
      .then((view) => live && setSlots(view.available_slots.map((s) => s.time)))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [date]);

  return (
    <section class="slot-picker" aria-label={t("slots.title")}>
      <h3>{t("slots.title")}</h3>
      <label>
        {t("slots.date")}
        <input type="date" value={date} onInput={(e) => setDate(e.currentTarget.value)} />
      </label>
      <label>
        {t("slots.email")}
        <input type="email" value={email} required onInput={(e) => setEmail(e.currentTarget.value)} />
      </label>
      {error && <p role="alert">{error}</p>}
      {slots === null && !error && <p class="muted">{t("app.loading")}</p>}
      {slots?.length === 0 && <p class="muted">{t("slots.none")}</p>}
      <div class="slots">
        {slots?.map((time) => (
          <button
            type="button"
            disabled={!email.includes("@")}
            onClick={() => onConfirm({ date, time, email, phone: request.phone })}
          >
            {t("slots.confirm", { time })}
          </button>
        ))}
      </div>
    </section>
  );
}

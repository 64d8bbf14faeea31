// Seed 000's slot picker: a day, its free times (`GET /calendar/available-slots`), an e-mail
// and an optional phone; confirming books through the socket (`live/booking.ts`). Shared by
// the customer's page and the inbox (beside the conversation and in the bot chat).
import { useEffect, useState } from "preact/hooks";
import { must } from "../api/client";
import type { apiWithToken } from "../api/client";
import { t } from "../i18n";
import type { Booking } from "../live/booking";

interface Props {
  client: ReturnType<typeof apiWithToken>;
  booking: Booking;
  /** Shown in the fields when the request names none (the contact's own). */
  fallback?: { email?: string | null; phone?: string | null };
}

function today(): string {
  const now = new Date();
  now.setMinutes(now.getMinutes() - now.getTimezoneOffset());
  return now.toISOString().slice(0, 10);
}

export function SlotPicker({ client, booking, fallback }: Props) {
  const request = booking.request ?? {};
  const [date, setDate] = useState(request.date ?? today());
  const [email, setEmail] = useState(request.email ?? fallback?.email ?? "");
  const [phone, setPhone] = useState(request.phone ?? fallback?.phone ?? "");
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

  const ready = email.includes("@") && !booking.busy;
  return (
    <section class="slot-picker" aria-labelledby="slots-title">
      <h3 id="slots-title">{t("slots.title")}</h3>
      <label>
        {t("slots.date")}
        <input type="date" value={date} min={today()} onInput={(e) => setDate(e.currentTarget.value)} />
      </label>
      <label>
        {t("slots.email")}
        <input type="email" value={email} required onInput={(e) => setEmail(e.currentTarget.value)} />
      </label>
      <label>
        {t("slots.phone")}
        <input type="tel" value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />
      </label>
      {error && <p role="alert">{t("slots.loadFailed", { message: error })}</p>}
      {booking.error && (
        <p role="alert" class="error">
          {t("slots.refused", { message: booking.error })}
        </p>
      )}
      {slots === null && !error && <p class="muted">{t("slots.loading")}</p>}
      {slots?.length === 0 && <p class="muted">{t("slots.none")}</p>}
      <div class="slots" role="group" aria-label={t("slots.free")}>
        {slots?.map((time) => (
          <button
            type="button"
            class={time === request.time ? "secondary wished" : "secondary"}
            disabled={!ready}
            onClick={() => booking.confirm({ date, time, email, phone: phone.trim() || undefined })}
          >
            {t("slots.confirm", { time })}
          </button>
        ))}
      </div>
      <button type="button" class="link" onClick={booking.close}>
        {t("slots.cancel")}
      </button>
    </section>
  );
}

// Outbound webhooks: where the tenant's events are POSTed, signed with a secret drawn here and
// shown once; and each webhook's delivery log (attempts, status codes, errors).
import { useEffect, useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { api, must, type Schemas } from "../../../api/client";
import { fullDate, t, type Key } from "../../../i18n";
import { AdminLayout, Loading, useLoad } from "../ui/layout";
import { CheckField, CheckGroup, FormError, SecretOnce, TextField, describe, randomSecret, useApiForm } from "../ui/form";

const EVENTS = [
  "conversation_started",
  "message_received",
  "message_sent",
  "conversation_assigned",
  "conversation_escalated",
  "conversation_closed",
  "limit_reached",
  "feedback_detected",
  "conversation_classified",
] as const;
type Webhook = Schemas["WebhookView"];
/** The delivery log reads itself again this often while open: deliveries happen in the background. */
const LOG_REFRESH_MS = 3000;

export default function WebhooksPage() {
  const { params } = useRoute();
  const list = useLoad(() => must(api.GET("/api/v1/webhooks", { params: { query: { limit: 200 } } })));
  const [secret, setSecret] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const selected = list.data?.items.find((w) => w.id === params.id);
  return (
    <AdminLayout
      title={t("admin.webhooks.title")}
      actions={
        !adding && (
          <button type="button" onClick={() => setAdding(true)}>
            {t("admin.webhooks.add")}
          </button>
        )
      }
    >
      {secret && <SecretOnce label={t("admin.webhooks.secret")} value={secret} onDismiss={() => setSecret(null)} />}
      {adding && (
        <WebhookForm
          onDone={(shown) => {
            setAdding(false);
            if (shown) setSecret(shown);
            list.reload();
          }}
        />
      )}
      <Loading state={list} empty={(p) => (p.items.length ? null : t("admin.webhooks.empty"))}>
        {(page) => (
          <table class="admin-table">
            <thead>
              <tr>
                <th>{t("admin.webhooks.url")}</th>
                <th>{t("admin.webhooks.events")}</th>
                <th>{t("admin.enabled")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {page.items.map((w) => (
                <WebhookRow key={`${w.id}-${w.updated_at}`} webhook={w} onChanged={list.reload} />
              ))}
            </tbody>
          </table>
        )}
      </Loading>
      {selected && <Deliveries webhook={selected} />}
    </AdminLayout>
  );
}

function WebhookRow({ webhook: w, onChanged }: { webhook: Webhook; onChanged: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const act = (call: () => Promise<unknown>) => () =>
    call().then(
      () => onChanged(),
      (err) => setError(describe(err)),
    );
  const toggle = act(() => must(api.PATCH("/api/v1/webhooks/{id}", { params: { path: { id: w.id } }, body: { enabled: !w.enabled } })));
  const remove = act(() => must(api.DELETE("/api/v1/webhooks/{id}", { params: { path: { id: w.id } } })));
  return (
    <tr>
      <td>
        <a href={`/admin/webhooks/${w.id}`}>{w.url}</a>
        {error && (
          <div class="error" role="alert">
            {error}
          </div>
        )}
      </td>
      <td>{w.events.map((e) => t(`admin.event.${e}` as Key)).join(", ")}</td>
      <td>
        <input type="checkbox" checked={w.enabled} onChange={toggle} aria-label={t("admin.enabled")} />
      </td>
      <td>
        <button type="button" class="secondary danger" onClick={remove}>
          {t("admin.delete")}
        </button>
      </td>
    </tr>
  );
}

function WebhookForm({ onDone }: { onDone: (secret: string | null) => void }) {
  const form = useApiForm();
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>(["conversation_started", "conversation_escalated"]);
  const [enabled, setEnabled] = useState(true);
  const submit = (e: Event) => {
    e.preventDefault();
    const secret = randomSecret();
    form.run(async () => {
      await must(api.POST("/api/v1/webhooks", { body: { url, events, secret, enabled } }));
      onDone(secret);
    });
  };
  return (
    <form class="admin-form panel" ref={form.formRef} noValidate onSubmit={submit} aria-label={t("admin.webhooks.add")}>
      <FormError message={form.general} />
      <TextField name="url" label={t("admin.webhooks.url")} value={url} onValue={setUrl} error={form.errors.url} placeholder="https://example.com/atende" />
      <CheckGroup name="events" label={t("admin.webhooks.events")} values={events} options={EVENTS.map((e) => ({ value: e, label: t(`admin.event.${e}`) }))} onValue={setEvents} error={form.errors.events} />
      <CheckField name="enabled" label={t("admin.enabled")} checked={enabled} onValue={setEnabled} />
      <p class="muted">{t("admin.webhooks.secretDrawn")}</p>
      <div class="row">
        <button type="submit" disabled={form.busy}>
          {t("admin.create")}
        </button>
        <button type="button" class="secondary" onClick={() => onDone(null)}>
          {t("admin.cancel")}
        </button>
      </div>
    </form>
  );
}

function Deliveries({ webhook }: { webhook: Webhook }) {
  const [status, setStatus] = useState<"" | "pending" | "succeeded" | "failed">("");
  const log = useLoad(
    () => must(api.GET("/api/v1/webhooks/{id}/deliveries", { params: { path: { id: webhook.id }, query: { limit: 100, ...(status ? { status } : {}) } } })),
    [webhook.id, status],
  );
  useEffect(() => {
    const timer = window.setInterval(log.reload, LOG_REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [log.reload]);
  return (
    <section class="panel" aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">{t("admin.webhooks.deliveries", { url: webhook.url })}</h2>
      <label>
        {t("admin.webhooks.status")}{" "}
        <select value={status} onChange={(e) => setStatus(e.currentTarget.value as typeof status)}>
          <option value="">{t("admin.webhooks.all")}</option>
          <option value="pending">{t("admin.delivery.pending")}</option>
          <option value="succeeded">{t("admin.delivery.succeeded")}</option>
          <option value="failed">{t("admin.delivery.failed")}</option>
        </select>
      </label>{" "}
      <button type="button" class="secondary" onClick={log.reload}>
        {t("admin.refresh")}
      </button>
      <Loading state={log} empty={(p) => (p.items.length ? null : t("admin.webhooks.noDeliveries"))}>
        {(page) => (
          <table class="admin-table">
            <thead>
              <tr>
                <th>{t("admin.webhooks.when")}</th>
                <th>{t("admin.webhooks.event")}</th>
                <th>{t("admin.webhooks.status")}</th>
                <th>{t("admin.webhooks.attempts")}</th>
                <th>{t("admin.webhooks.answer")}</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((d) => (
                <tr key={d.id}>
                  <td>{fullDate(d.created_at)}</td>
                  <td>{t(`admin.event.${d.event}` as Key)}</td>
                  <td>
                    <span class={`pill delivery-${d.status}`}>{t(`admin.delivery.${d.status}` as Key)}</span>
                  </td>
                  <td>{d.attempts}</td>
                  <td>
                    {d.last_status_code != null && <code>HTTP {d.last_status_code}</code>} {d.latency_ms != null && <span class="muted">{d.latency_ms} ms</span>}
                    {d.last_error && <div class="error">{d.last_error}</div>}
                    {d.next_attempt_at && d.status === "pending" && <div class="muted">{t("admin.webhooks.next", { when: fullDate(d.next_attempt_at) })}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loading>
    </section>
  );
}

// First run: the organisation and its first admin, behind the code from the server's log.
import { useEffect, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, ApiError, must, type StaffSession } from "../../api/client";
import { t } from "../../i18n";
import { Field } from "../../components/Field";

type Form = { code: string; tenant: string; name: string; email: string; password: string };
const FIELDS: (keyof Form)[] = ["code", "tenant", "name", "email", "password"];

export function SetupPage({ onDone, onAlreadyDone }: { onDone: (s: StaffSession) => void; onAlreadyDone: () => void }) {
  const { route, path } = useLocation();
  const [form, setForm] = useState<Form>({ code: "", tenant: "", name: "", email: "", password: "" });
  const [errors, setErrors] = useState<Partial<Record<keyof Form, string>>>({});
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);

  useEffect(() => {
    if (path !== "/setup") route("/setup", true);
  }, []);

  const set = (key: keyof Form) => (value: string) => setForm({ ...form, [key]: value });

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    setMessage(null);
    try {
      const session = await must(api.POST("/api/v1/setup", { body: form }));
      onDone(session);
      route("/inbox/mine", true);
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) setErrors({ code: t("setup.wrongCode") });
      else if (err instanceof ApiError && err.status === 409) {
        setMessage(t("setup.alreadyDone"));
        onAlreadyDone();
      } else if (err instanceof ApiError && err.field && FIELDS.includes(err.field as keyof Form)) {
        setErrors({ [err.field]: err.message });
      } else setMessage(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  // The first invalid field gets the focus, so the person sees what to fix.
  useEffect(() => {
    const first = FIELDS.find((f) => errors[f]);
    if (first) formRef.current?.querySelector<HTMLInputElement>(`[name=${first}]`)?.focus();
  }, [errors]);

  return (
    <main class="card-page">
      <form class="card" ref={formRef} onSubmit={submit} aria-labelledby="setup-title" noValidate>
        <h1 id="setup-title">{t("setup.title")}</h1>
        <p class="muted">{t("setup.intro")}</p>
        {message && <p role="alert">{message}</p>}
        <Field name="code" label={t("setup.code")} value={form.code} error={errors.code} onValue={set("code")} autoComplete="off" required />
        <Field name="tenant" label={t("setup.tenant")} value={form.tenant} error={errors.tenant} onValue={set("tenant")} required />
        <Field name="name" label={t("setup.name")} value={form.name} error={errors.name} onValue={set("name")} autoComplete="name" required />
        <Field name="email" type="email" label={t("setup.email")} value={form.email} error={errors.email} onValue={set("email")} autoComplete="email" required />
        <Field
          name="password"
          type="password"
          label={t("setup.password")}
          hint={t("setup.passwordHint")}
          value={form.password}
          error={errors.password}
          onValue={set("password")}
          autoComplete="new-password"
          required
        />
        <button type="submit" disabled={busy}>
          {t("setup.submit")}
        </button>
      </form>
    </main>
  );
}

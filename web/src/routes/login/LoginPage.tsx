// Sign-in. After it, the person lands where they were going (or the inbox).
import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, ApiError, must, type StaffSession } from "../../api/client";
import { t } from "../../i18n";
import { Field } from "../../components/Field";

export function LoginPage({ expired, onDone }: { expired: boolean; onDone: (s: StaffSession) => void }) {
  const { route, path, url } = useLocation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [next] = useState(() => (path === "/login" || path === "/setup" || path === "/" ? "/inbox/mine" : url));

  useEffect(() => {
    if (path !== "/login") route("/login", true);
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const session = await must(api.POST("/api/v1/auth/token", { body: { email, password } }));
      onDone(session);
      route(next, true);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? t("login.bad") : err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="card-page">
      <form class="card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">{t("login.title")}</h1>
        {expired && <p role="status">{t("login.expired")}</p>}
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <Field name="email" type="email" label={t("login.email")} value={email} onValue={setEmail} autoComplete="username" required />
        <Field name="password" type="password" label={t("login.password")} value={password} onValue={setPassword} autoComplete="current-password" required />
        <button type="submit" disabled={busy}>
          {t("login.submit")}
        </button>
      </form>
    </main>
  );
}

// The console's shell: first-run set-up, sign-in, then the routed screens. One URL per
// thing (/inbox/mine, /c/{id}); reload and back/forward work.
import { useEffect, useMemo, useState } from "preact/hooks";
import { ErrorBoundary, LocationProvider, Route, Router, lazy, useLocation } from "preact-iso";
import { api, clearSession, loadSession, must, saveSession, SESSION_EXPIRED, type StaffSession } from "../api/client";
import { locale, setLocale, t, type Key, type Locale } from "../i18n";
import { LiveSocket } from "../live/socket";
import { ConnectionBanner } from "../live/ConnectionBanner";
import { ConsoleContext, isOverseer, tokenExpiry } from "./session";
import { SetupPage } from "../routes/setup/SetupPage";
import { LoginPage } from "../routes/login/LoginPage";
import { AdminLink, adminRoutes } from "../routes/admin/routes";

const InboxPage = lazy(() => import("../routes/inbox/InboxPage"));
const SupervisorPage = lazy(() => import("../routes/supervisor/SupervisorPage"));
const AnalyticsPage = lazy(() => import("../routes/analytics/AnalyticsPage"));
const CannedResponsesPage = lazy(() => import("../routes/canned/CannedResponsesPage"));

export function App() {
  const [lang, setLang] = useState<Locale>(locale());
  const [session, setSession] = useState<StaffSession | null>(loadSession);
  const [setupNeeded, setSetupNeeded] = useState<boolean | null>(null);
  const [setupError, setSetupError] = useState<string | null>(null);
  const [expired, setExpired] = useState(false);

  const checkSetup = () => {
    setSetupError(null);
    must(api.GET("/api/v1/setup"))
      .then((status) => setSetupNeeded(status.needed))
      .catch((e: Error) => setSetupError(e.message));
  };
  useEffect(checkSetup, []);

  const signOut = (becauseExpired: boolean) => {
    clearSession();
    setSession(null);
    setExpired(becauseExpired);
  };
  useEffect(() => {
    const onExpired = () => signOut(true);
    window.addEventListener(SESSION_EXPIRED, onExpired);
    return () => window.removeEventListener(SESSION_EXPIRED, onExpired);
  }, []);
  useEffect(() => {
    const expiry = session && tokenExpiry(session.token);
    if (!expiry) return;
    const timer = window.setTimeout(() => signOut(true), Math.max(0, expiry - Date.now()));
    return () => window.clearTimeout(timer);
  }, [session?.token]);

  const signIn = (next: StaffSession) => {
    saveSession(next);
    setSession(next);
    setExpired(false);
    setSetupNeeded(false);
  };

  const switchLocale = (next: Locale) => {
    setLocale(next);
    setLang(next);
  };

  let body;
  if (setupError) {
    body = (
      <main class="center">
        <p role="alert">{t("app.error", { message: setupError })}</p>
        <button type="button" onClick={checkSetup}>
          {t("app.retry")}
        </button>
      </main>
    );
  } else if (setupNeeded === null) {
    body = <main class="center skeleton" aria-busy="true">{t("app.loading")}</main>;
  } else if (setupNeeded) {
    body = <SetupPage onDone={signIn} onAlreadyDone={() => setSetupNeeded(false)} />;
  } else if (!session) {
    body = <LoginPage expired={expired} onDone={signIn} />;
  } else {
    body = <SignedIn session={session} onSignOut={() => signOut(false)} />;
  }

  return (
    <LocationProvider>
      <div class="app" key={lang}>
        {body}
        <footer class="app-footer">
          <label>
            {t("app.language")}{" "}
            <select value={lang} onChange={(e) => switchLocale(e.currentTarget.value as Locale)}>
              <option value="pt-BR">Português (Brasil)</option>
              <option value="en">English</option>
            </select>
          </label>
        </footer>
      </div>
    </LocationProvider>
  );
}

function SignedIn({ session, onSignOut }: { session: StaffSession; onSignOut: () => void }) {
  const socket = useMemo(() => new LiveSocket(() => loadSession()?.token ?? null, () => window.dispatchEvent(new Event(SESSION_EXPIRED))), [session.token]);
  useEffect(() => () => socket.close(), [socket]);

  return (
    <ConsoleContext.Provider value={{ session, socket }}>
      <header class="topbar">
        <a class="brand" href="/inbox/mine">
          {t("app.name")}
        </a>
        <nav aria-label={t("nav.main")}>
          <a href="/inbox/mine">{t("nav.inbox")}</a>
          <a href="/canned-responses">{t("nav.canned")}</a>
          {isOverseer(session.user.role) && <a href="/supervisor">{t("nav.supervisor")}</a>}
          {isOverseer(session.user.role) && <a href="/analytics">{t("nav.analytics")}</a>}
          <AdminLink role={session.user.role} />
          <a href="/docs/">{t("nav.docs")}</a>
        </nav>
        <span class="who">
          {session.user.name} · {t(`role.${session.user.role}` as Key)}
        </span>
        <button type="button" class="secondary" onClick={onSignOut}>
          {t("logout")}
        </button>
      </header>
      <ConnectionBanner socket={socket} />
      <ErrorBoundary>
        <Router>
          <Route path="/inbox/:tab" component={InboxPage} />
          <Route path="/c/:id" component={InboxPage} />
          <Route path="/supervisor" component={SupervisorPage} />
          <Route path="/analytics" component={AnalyticsPage} />
          <Route path="/canned-responses" component={CannedResponsesPage} />
          <Route path="/" component={ToInbox} />
          <Route path="/setup" component={ToInbox} />
          <Route path="/login" component={ToInbox} />
          {adminRoutes.map(([path, screen]) => <Route key={path} path={path} component={screen} />)}
          <Route default component={NotFound} />
        </Router>
      </ErrorBoundary>
    </ConsoleContext.Provider>
  );
}

function ToInbox() {
  const { route } = useLocation();
  useEffect(() => route("/inbox/mine", true), []);
  return null;
}

function NotFound() {
  return (
    <main class="center">
      <p>{t("app.notFound")}</p>
      <a href="/inbox/mine">{t("app.backToInbox")}</a>
    </main>
  );
}

// Every admin screen: the areas on the left, the screen on the right; loading, error (with
// retry) and empty states for what a screen loads.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { addMessages, t, type Key } from "../../../i18n";
import { adminPtBR } from "../../../i18n/admin.pt-BR";
import { adminEn } from "../../../i18n/admin.en";
import { describe } from "./form";
import "../admin.css";

// Every admin chunk imports this module, so the admin strings are there before any renders.
addMessages({ "pt-BR": adminPtBR, en: adminEn });

export const AREAS: { href: string; label: Key }[] = [
  { href: "/admin/agents", label: "admin.nav.agents" },
  { href: "/admin/knowledge", label: "admin.nav.knowledge" },
  { href: "/admin/integrations", label: "admin.nav.integrations" },
  { href: "/admin/webhooks", label: "admin.nav.webhooks" },
  { href: "/admin/tools", label: "admin.nav.tools" },
  { href: "/admin/automations", label: "admin.nav.automations" },
  { href: "/admin/users", label: "admin.nav.users" },
  { href: "/admin/organization", label: "admin.nav.organization" },
  { href: "/admin/distribution", label: "admin.nav.distribution" },
];

export function AdminLayout({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  const { path } = useLocation();
  useEffect(() => {
    document.title = `${title} · ${t("app.name")}`;
  }, [title]);
  return (
    <div class="admin">
      <nav class="admin-nav" aria-label={t("admin.nav.label")}>
        <ul>
          {AREAS.map((a) => (
            <li key={a.href}>
              <a href={a.href} aria-current={path.startsWith(a.href) ? "page" : undefined}>
                {t(a.label)}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main class="admin-main">
        <header class="admin-head">
          <h1>{title}</h1>
          {actions}
        </header>
        {children}
      </main>
    </div>
  );
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  reload: () => void;
  set: (value: T) => void;
}

/** Loads once (and again on `reload`), keeping the error in words for the retry button. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setError(null);
    load().then(
      (value) => live && setData(value),
      (err) => live && setError(describe(err)),
    );
    return () => {
      live = false;
    };
  }, [tick, ...deps]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data, error, reload, set: setData };
}

/** What a loaded part shows while loading, on error (with retry), or when empty. */
export function Loading<T>({ state, empty, children }: { state: Loaded<T>; empty?: (data: T) => string | null; children: (data: T) => ComponentChildren }) {
  if (state.error)
    return (
      <div class="error-box" role="alert">
        <p>{t("app.error", { message: state.error })}</p>
        <button type="button" class="secondary" onClick={state.reload}>
          {t("app.retry")}
        </button>
      </div>
    );
  if (state.data === null)
    return (
      <div aria-busy="true" aria-label={t("app.loading")}>
        <div class="skeleton-row" />
        <div class="skeleton-row" />
      </div>
    );
  const emptyText = empty?.(state.data);
  return (
    <>
      {emptyText && <p class="empty muted">{emptyText}</p>}
      {children(state.data)}
    </>
  );
}

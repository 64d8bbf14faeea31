import { ptBR, type Messages } from "./pt-BR";
import { en } from "./en";
import type { AdminMessages } from "./admin.pt-BR";
import { livePtBR, type LiveMessages } from "./live.pt-BR";
import { liveEn } from "./live.en";

export type Locale = "pt-BR" | "en";
export type Key = keyof Messages | keyof LiveMessages | keyof AdminMessages;

// The admin screens' strings (admin.*.ts) are added by those screens' chunks when they load
// (`addMessages`), so the inbox and the customer's chat page do not download them.
const catalogs: Record<Locale, Partial<Record<Key, string>>> = {
  "pt-BR": { ...ptBR, ...livePtBR },
  en: { ...en, ...liveEn },
};

/** Adds a lazily loaded screen's strings to the catalogs. */
export function addMessages(extra: Record<Locale, Partial<Record<Key, string>>>) {
  Object.assign(catalogs["pt-BR"], extra["pt-BR"]);
  Object.assign(catalogs.en, extra.en);
}
const STORAGE_KEY = "atende.locale";

function initial(): Locale {
  const saved = globalThis.localStorage?.getItem(STORAGE_KEY);
  if (saved === "en" || saved === "pt-BR") return saved;
  return "pt-BR";
}

let current: Locale = initial();

export function locale(): Locale {
  return current;
}

/** Switches the language; the caller re-renders (the app keys its root on the locale). */
export function setLocale(next: Locale) {
  current = next;
  globalThis.localStorage?.setItem(STORAGE_KEY, next);
  document.documentElement.lang = next;
}

/** The string for `key` in the current language, with `{name}` placeholders filled. */
export function t(key: Key, params?: Record<string, string | number>): string {
  let text: string = catalogs[current][key] ?? key;
  if (params) {
    for (const [name, value] of Object.entries(params)) text = text.replaceAll(`{${name}}`, String(value));
  }
  return text;
}

const relative = () => new Intl.RelativeTimeFormat(current, { numeric: "auto" });

/** "há 3 min" when recent, the date otherwise. */
export function timeAgo(iso: string, now = Date.now()): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const seconds = Math.round((then - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return relative().format(seconds, "second");
  if (abs < 3600) return relative().format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return relative().format(Math.round(seconds / 3600), "hour");
  return new Date(then).toLocaleDateString(current);
}

export function clock(iso: string): string {
  const then = new Date(iso);
  return then.toLocaleTimeString(current, { hour: "2-digit", minute: "2-digit" });
}

export function fullDate(iso: string): string {
  return new Date(iso).toLocaleString(current);
}

document.documentElement.lang = current;

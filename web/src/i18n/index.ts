import { ptBR, type Messages } from "./pt-BR";
import { en } from "./en";
import type { AdminMessages } from "./admin.pt-BR";
import { livePtBR, type LiveMessages } from "./live.pt-BR";
import { liveEn } from "./live.en";
import type { DeskMessages } from "./desk.pt-BR";
import { csatPtBR, type CsatMessages } from "./csat.pt-BR";
import { csatEn } from "./csat.en";
import { storage } from "../storage";

export type Locale = "pt-BR" | "en";
export type Key = keyof Messages | keyof LiveMessages | keyof AdminMessages | keyof DeskMessages | keyof CsatMessages;

// The admin screens' strings (admin.*.ts) and the desk's (desk.*.ts) are added by those
// screens' chunks when they load (`addMessages`), so the customer's chat page does not
// download them.
const catalogs: Record<Locale, Partial<Record<Key, string>>> = {
  "pt-BR": { ...ptBR, ...livePtBR, ...csatPtBR },
  en: { ...en, ...liveEn, ...csatEn },
};

/** Adds a lazily loaded screen's strings to the catalogs. */
export function addMessages(extra: Record<Locale, Partial<Record<Key, string>>>) {
  Object.assign(catalogs["pt-BR"], extra["pt-BR"]);
  Object.assign(catalogs.en, extra.en);
}
const STORAGE_KEY = "atende.locale";

function initial(): Locale {
  const saved = storage.getItem(STORAGE_KEY);
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
  storage.setItem(STORAGE_KEY, next);
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

/** Keys with plural forms: `base.one`, `base.other` (and optionally `base.zero`, said in
 * words when nothing is counted, e.g. "nenhuma conversa"). */
export type PluralKey = Key extends infer K ? (K extends `${infer Base}.other` ? Base : never) : never;

const pluralRules: Partial<Record<Locale, Intl.PluralRules>> = {};

/** The locale's number for `value` (1.234 in pt-BR, 1,234 in en). */
export function number(value: number): string {
  return value.toLocaleString(current);
}

/** The plural form of `base` that the language uses for `count` (Intl.PluralRules), with
 * `{count}` filled with the number as the locale writes it. */
export function tn(base: PluralKey, count: number, params?: Record<string, string | number>): string {
  const catalog = catalogs[current];
  const rule = (pluralRules[current] ??= new Intl.PluralRules(current)).select(count);
  const candidates = count === 0 ? [`${base}.zero`, `${base}.${rule}`] : [`${base}.${rule}`];
  const key = (candidates.find((k) => catalog[k as Key] !== undefined) ?? `${base}.other`) as Key;
  return t(key, { count: number(count), ...params });
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

/** A meeting's start: day, time and the time zone it is read in ("02/12/2026, 10:00 BRT"). */
export function meetingTime(iso: string): string {
  // (dateStyle/timeStyle may not be combined with timeZoneName: the fields are named.)
  return new Date(iso).toLocaleString(current, { day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
}

document.documentElement.lang = current;

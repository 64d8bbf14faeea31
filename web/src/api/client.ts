// The one typed API client of the console and the chat page. Types come from the engine's
// own OpenAPI document (gen/schema.d.ts, generated from src/api/openapi.json by
// openapi-typescript), so a contract change breaks this build, not the people using it.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "../../gen/schema";
import { storage } from "../storage";

export type Schemas = components["schemas"];
export type Conversation = Schemas["ConversationView"];
export type Message = Schemas["MessageView"];
export type Contact = Schemas["ContactView"];
export type TokenUser = Schemas["TokenUser"];
export type PublicAgent = Schemas["PublicAgent"];
export type ConversationQuery = NonNullable<paths["/api/v1/conversations"]["get"]["parameters"]["query"]>;

/** The API's error body, thrown by `must`. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  /** The field a validation error names (`details.field`), if any. */
  get field(): string | undefined {
    const field = this.details?.field;
    return typeof field === "string" ? field : undefined;
  }
}

export interface StaffSession {
  token: string;
  user: TokenUser;
}

const SESSION_KEY = "atende.session";

export function loadSession(): StaffSession | null {
  try {
    const raw = storage.getItem(SESSION_KEY);
    return raw ? (JSON.parse(raw) as StaffSession) : null;
  } catch {
    return null;
  }
}

export function saveSession(session: StaffSession) {
  storage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession() {
  storage.removeItem(SESSION_KEY);
}

/** Fired when the API refuses the saved token (expired, user removed): log in again. */
export const SESSION_EXPIRED = "atende:session-expired";

function clientWith(token: () => string | null) {
  const client = createClient<paths>({ baseUrl: location.origin });
  const auth: Middleware = {
    onRequest({ request }) {
      const value = token();
      if (value) request.headers.set("Authorization", `Bearer ${value}`);
      request.headers.set("Accept", "application/json");
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401 && token()) window.dispatchEvent(new Event(SESSION_EXPIRED));
      return response;
    },
  };
  client.use(auth);
  return client;
}

/** The staff client: the saved session's token. */
export const api = clientWith(() => loadSession()?.token ?? null);

/** A client with its own token (the customer's web chat contact token). */
export function apiWithToken(token: () => string | null) {
  return clientWith(token);
}

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a call, or its error body thrown as an ApiError. */
export async function must<T>(call: Promise<Result<T>>): Promise<T> {
  let result: Result<T>;
  try {
    result = await call;
  } catch (e) {
    throw new ApiError(e instanceof Error ? e.message : String(e), 0, "NETWORK");
  }
  if (result.error !== undefined || !result.response.ok) {
    const body = (result.error ?? {}) as { error?: string; code?: string; details?: Record<string, unknown> };
    throw new ApiError(
      body.error ?? result.response.statusText,
      result.response.status,
      body.code ?? "INTERNAL",
      body.details,
    );
  }
  return result.data as T;
}

export type HumanAnalytics = Schemas["HumanAnalytics"];

/** Human and AI handling over a period (`[from, to]` as whole UTC days, `to` included). */
export function humanAnalytics(period: { from: string; to: string }): Promise<HumanAnalytics> {
  return must(api.GET("/api/v1/analytics/humans", { params: { query: period } }));
}

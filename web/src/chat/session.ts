// The customer's web chat session, kept in localStorage so a reload continues the same
// conversation: one per agent page (or integration, for the widget).
import { ApiError, apiWithToken, must, type PublicAgent } from "../api/client";
import { storage } from "../storage";

export interface ChatSession {
  token: string;
  contact_id: string;
  conversation_id: string;
}

export interface ChatTarget {
  /** localStorage key suffix. */
  key: string;
  integrationId: string | null;
  agent: PublicAgent | null;
}

const anonymous = apiWithToken(() => null);

/** Which chat this page is: `/a/{slug}` (an agent's public page) or `/chat/{integration}`. */
export async function resolveTarget(pathname: string): Promise<ChatTarget> {
  const [, kind, raw] = pathname.split("/");
  const id = decodeURIComponent(raw ?? "");
  if (kind === "chat") return { key: `i:${id}`, integrationId: id, agent: null };
  const agent = await must(anonymous.GET("/a/{slug}", { params: { path: { slug: id } } }));
  return { key: `a:${id}`, integrationId: agent.webchat_integration_id ?? null, agent };
}

function storageKey(target: ChatTarget) {
  return `atende.chat.${target.key}`;
}

export function savedSession(target: ChatTarget): ChatSession | null {
  try {
    const raw = storage.getItem(storageKey(target));
    return raw ? (JSON.parse(raw) as ChatSession) : null;
  } catch {
    return null;
  }
}

export function forgetSession(target: ChatTarget) {
  storage.removeItem(storageKey(target));
}

export async function newSession(target: ChatTarget): Promise<ChatSession> {
  if (!target.integrationId) throw new ApiError("no web chat", 404, "NOT_FOUND");
  const session = await must(
    anonymous.POST("/api/v1/webchat/{integration_id}/session", {
      params: { path: { integration_id: target.integrationId } },
      body: {},
    }),
  );
  const saved: ChatSession = {
    token: session.token,
    contact_id: session.contact_id,
    conversation_id: session.conversation_id,
  };
  storage.setItem(storageKey(target), JSON.stringify(saved));
  return saved;
}

export function remember(target: ChatTarget, session: ChatSession) {
  storage.setItem(storageKey(target), JSON.stringify(session));
}

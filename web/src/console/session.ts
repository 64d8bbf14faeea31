// Who is signed in, for every screen (a context), and the one live socket they share.
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { StaffSession } from "../api/client";
import type { LiveSocket } from "../live/socket";

export interface Console {
  session: StaffSession;
  socket: LiveSocket;
}

export const ConsoleContext = createContext<Console | null>(null);

export function useConsole(): Console {
  const value = useContext(ConsoleContext);
  if (!value) throw new Error("useConsole outside the signed-in console");
  return value;
}

/** The token's expiry (JWT `exp`, ms since the epoch), to sign out before requests fail. */
export function tokenExpiry(token: string): number | null {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))) as { exp?: number };
    return typeof payload.exp === "number" ? payload.exp * 1000 : null;
  } catch {
    return null;
  }
}

export function isOverseer(role: string): boolean {
  return role === "admin" || role === "supervisor";
}

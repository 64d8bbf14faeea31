// The customer's satisfaction rating on the web chat. After a conversation closes the engine
// may ask for a 1–5 rating with a `system` message carrying `metadata.csat = "question"`
// (docs/protocol.md, "CSAT"); the page answers `csat:N`, which the engine stores as the
// closed conversation's rating (src/domain/csat.rs reads it).
import type { Message } from "../api/client";

export const RATINGS = [1, 2, 3, 4, 5] as const;

/** What the page sends for `rating`. */
export function ratingReply(rating: number): string {
  return `csat:${rating}`;
}

/** The rating a customer's `csat:N` message gave, or null for any other text. */
export function ratingGiven(content: string): number | null {
  const found = /^csat:\s*([1-5])$/.exec(content.trim());
  return found ? Number(found[1]) : null;
}

/** Whether the engine asked this message's conversation for a rating. */
export function isCsatQuestion(m: Message): boolean {
  const metadata = m.metadata as Record<string, unknown> | null;
  return m.sender_type === "system" && metadata?.csat === "question";
}

/** "asked" while the newest rating question waits, "rated" once the customer answered it,
 * null when none was asked. */
export function csatState(messages: Message[]): "asked" | "rated" | null {
  let asked = -1;
  messages.forEach((m, i) => {
    if (isCsatQuestion(m)) asked = i;
  });
  if (asked < 0) return null;
  return messages.slice(asked + 1).some((m) => m.sender_type === "contact" && ratingGiven(m.content) !== null) ? "rated" : "asked";
}

// The composer's canned responses, read the way the engine reads a reply
// (src/domain/canned.rs): only a first word `/shortcut` asks for one, shortcuts are
// a-z 0-9 _ -, compared in lower case, and the caller's own wins over the tenant's.
import type { Canned } from "../../api/desk";

const TYPING_SHORTCUT = /^\s*\/([A-Za-z0-9_-]*)$/;

/** The shortcut being typed (lower case, possibly empty right after `/`), or null when the
 * draft is not a lone first word starting with `/` (`//` escapes, as on the server). */
export function shortcutBeingTyped(draft: string): string | null {
  const found = TYPING_SHORTCUT.exec(draft);
  return found ? found[1].toLowerCase() : null;
}

/** The responses whose shortcut starts with `prefix`, one per shortcut (personal over
 * tenant), by shortcut. */
export function matchingCanned(all: Canned[], prefix: string): Canned[] {
  const byShortcut = new Map<string, Canned>();
  for (const c of all) {
    if (!c.shortcut.startsWith(prefix)) continue;
    const seen = byShortcut.get(c.shortcut);
    if (!seen || (seen.scope === "tenant" && c.scope === "personal")) byShortcut.set(c.shortcut, c);
  }
  return [...byShortcut.values()].sort((a, b) => a.shortcut.localeCompare(b.shortcut));
}

/** The draft after picking `canned`: its text, written so the engine sends it as it reads
 * (a text that itself starts with `/` gets the `//` escape, or it would be taken for a
 * shortcut). */
export function expansion(canned: Canned): string {
  return canned.content.startsWith("/") ? `/${canned.content}` : canned.content;
}

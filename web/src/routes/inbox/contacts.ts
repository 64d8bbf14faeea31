// Contact names for the list and the side panel: a page of conversations asks for all its
// contacts in one call (`GET /contacts?ids=…`), and each contact is fetched once and shared.
import { useEffect, useState } from "preact/hooks";
import { api, must, type Contact } from "../../api/client";

const cache = new Map<string, Promise<Contact | null>>();
/** The API's page limit, which also bounds `ids`. */
const BATCH = 200;

export function contact(id: string): Promise<Contact | null> {
  let found = cache.get(id);
  if (!found) {
    found = must(api.GET("/api/v1/contacts/{id}", { params: { path: { id } } })).catch(() => null);
    cache.set(id, found);
  }
  return found;
}

/** The contacts of `ids` not fetched yet, in as few calls as the page limit allows; resolves
 * with every one of `ids` (null for those the caller may not read). */
export async function contactsOf(ids: string[]): Promise<Record<string, Contact | null>> {
  const missing = [...new Set(ids)].filter((id) => !cache.has(id));
  for (let i = 0; i < missing.length; i += BATCH) {
    const chunk = missing.slice(i, i + BATCH);
    const call = must(api.GET("/api/v1/contacts", { params: { query: { ids: chunk.join(","), limit: chunk.length } } }))
      .then((page) => new Map(page.items.map((c) => [c.id, c])))
      .catch(() => new Map<string, Contact>());
    for (const id of chunk) cache.set(id, call.then((found) => found.get(id) ?? null));
  }
  const entries = await Promise.all([...new Set(ids)].map(async (id) => [id, await contact(id)] as const));
  return Object.fromEntries(entries);
}

export function useContact(id: string | undefined): Contact | null {
  const [value, setValue] = useState<Contact | null>(null);
  useEffect(() => {
    setValue(null);
    if (!id) return;
    let live = true;
    void contact(id).then((c) => live && setValue(c));
    return () => {
      live = false;
    };
  }, [id]);
  return value;
}

export function contactName(c: Contact | null, fallback: string): string {
  return c?.name || c?.email || c?.phone || fallback;
}

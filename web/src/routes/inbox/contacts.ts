// Contact names for the list and the side panel, fetched once per contact and shared.
import { useEffect, useState } from "preact/hooks";
import { api, must, type Contact } from "../../api/client";

const cache = new Map<string, Promise<Contact | null>>();

export function contact(id: string): Promise<Contact | null> {
  let found = cache.get(id);
  if (!found) {
    found = must(api.GET("/api/v1/contacts/{id}", { params: { path: { id } } })).catch(() => null);
    cache.set(id, found);
  }
  return found;
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

// The browser's localStorage when the page may use it, else a memory of this page's life.
// A cross-site frame (the widget's chat on a customer's site) is often refused storage, and
// there merely reading `window.localStorage` throws: nothing may depend on it being there.
function pick(): Pick<Storage, "getItem" | "setItem" | "removeItem"> {
  try {
    const local = globalThis.localStorage;
    const probe = "atende.probe";
    local.setItem(probe, "1");
    local.removeItem(probe);
    return local;
  } catch {
    const memory = new Map<string, string>();
    return {
      getItem: (key) => memory.get(key) ?? null,
      setItem: (key, value) => void memory.set(key, String(value)),
      removeItem: (key) => void memory.delete(key),
    };
  }
}

export const storage = pick();

// What the person sees of the socket: "no connection, reconnecting…" for as long as a socket
// that was open is not (every retry included), then "reconnected" for a moment. Shared by
// the console and the customer's chat page.
import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import type { LiveSocket } from "./socket";

const RECONNECTED_NOTICE_MS = 3000;

export function ConnectionBanner({ socket }: { socket: LiveSocket }) {
  const [offline, setOffline] = useState(false);
  const [reconnected, setReconnected] = useState(false);
  useEffect(() => {
    let wasOpen = socket.state === "open";
    let timer: number | undefined;
    const off = socket.onState((state, again) => {
      if (state === "open") wasOpen = true;
      setOffline(wasOpen && state !== "open");
      if (again) {
        setReconnected(true);
        window.clearTimeout(timer);
        timer = window.setTimeout(() => setReconnected(false), RECONNECTED_NOTICE_MS);
      }
    });
    return () => {
      off();
      window.clearTimeout(timer);
    };
  }, [socket]);
  if (offline) {
    return (
      <p class="banner" role="status">
        {t("app.offline")}
      </p>
    );
  }
  return reconnected ? (
    <p class="banner ok" role="status">
      {t("app.reconnected")}
    </p>
  ) : null;
}

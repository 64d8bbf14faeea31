// My own status (available for new conversations, or away) and the colleagues online now.
import { useEffect, useState } from "preact/hooks";
import { api, must } from "../../api/client";
import { t, type Key } from "../../i18n";
import { useConsole } from "../../console/session";
import { useTeam } from "./team";

export function PresenceBar() {
  const { session } = useConsole();
  const me = session.user.id;
  const team = useTeam();
  const [available, setAvailable] = useState<boolean | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const mine = team.find((p) => p.id === me);
    if (mine && available === null) setAvailable(mine.available);
  }, [team]);

  const change = async (next: boolean) => {
    setError(null);
    try {
      const user = await must(api.PATCH("/api/v1/users/{id}", { params: { path: { id: me } }, body: { available: next } }));
      setAvailable(user.available);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const online = team.filter((p) => p.id !== me && p.presence !== "offline");
  return (
    <div class="presence-bar">
      <label>
        {t("presence.me")}{" "}
        <select value={available === false ? "away" : "available"} disabled={available === null} onChange={(e) => void change(e.currentTarget.value === "available")}>
          <option value="available">{t("presence.available")}</option>
          <option value="away">{t("presence.unavailable")}</option>
        </select>
      </label>
      {error && (
        <span role="alert" class="error">
          {error}
        </span>
      )}
      <p class="colleagues" aria-label={t("presence.colleagues")}>
        <span class="muted">{t("presence.colleagues")}:</span>{" "}
        {online.length === 0
          ? t("presence.nobody")
          : online.map((p, i) => (
              <span key={p.id} class={`presence presence-${p.presence}`} title={t(`presence.${p.presence}` as Key)}>
                {i > 0 && ", "}● {p.name}
                {p.presence === "away" && ` (${t("presence.away")})`}
              </span>
            ))}
      </p>
    </div>
  );
}

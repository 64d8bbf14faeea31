// Admins and supervisors hand a conversation to a colleague or an AI agent
// (`POST /conversations/{id}/assign`).
import { useEffect, useState } from "preact/hooks";
import { api, must } from "../../api/client";
import { t } from "../../i18n";
import { useTeam } from "./team";

export interface TransferTarget {
  kind: "user" | "ai_agent";
  id: string;
}

interface Named {
  id: string;
  name: string;
  emoji?: string;
}

export function TransferControl({ onTransfer }: { onTransfer: (target: TransferTarget) => void }) {
  const team = useTeam();
  const [bots, setBots] = useState<Named[]>([]);
  const [choice, setChoice] = useState("");
  useEffect(() => {
    void must(api.GET("/api/v1/bots"))
      .then((list) => setBots(list.items))
      .catch(() => setBots([]));
  }, []);
  return (
    <form
      class="transfer"
      onSubmit={(e) => {
        e.preventDefault();
        const [kind, id] = choice.split(":");
        if (id && (kind === "user" || kind === "ai_agent")) onTransfer({ kind, id });
      }}
    >
      <label>
        {t("conv.assignTo")}{" "}
        <select value={choice} onChange={(e) => setChoice(e.currentTarget.value)}>
          <option value="">{t("conv.assignPick")}</option>
          {team.map((p) => (
            <option value={`user:${p.id}`}>
              {p.name} ({t(`presence.${p.presence}` as "presence.online")})
            </option>
          ))}
          {bots.map((b) => (
            <option value={`ai_agent:${b.id}`}>
              {b.emoji} {b.name}
            </option>
          ))}
        </select>
      </label>{" "}
      <button type="submit" class="secondary" disabled={!choice}>
        {t("conv.assignDo")}
      </button>
    </form>
  );
}

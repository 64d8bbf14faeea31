// "Transferir": hand the conversation to a colleague (who owns it at once) or to a
// department's queue, with a private note for whoever picks it up
// (`POST /conversations/{id}/transfer`). Agents transfer their own conversations; admins and
// supervisors any, and also to an AI agent (`/assign`). Opened in place, not in a dialog.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, must } from "../../api/client";
import { listDepartments, type Department, type TransferTarget } from "../../api/desk";
import { t } from "../../i18n";
import { useTeam } from "./team";

interface Bot {
  id: string;
  name: string;
  emoji?: string;
}

interface Props {
  me: string;
  /** Admins and supervisors may also give it to an AI agent. */
  overseer: boolean;
  onTransfer: (target: TransferTarget, note: string) => Promise<boolean>;
}

export function TransferControl({ me, overseer, onTransfer }: Props) {
  const team = useTeam();
  const [open, setOpen] = useState(false);
  const [departments, setDepartments] = useState<Department[]>([]);
  const [bots, setBots] = useState<Bot[]>([]);
  const [choice, setChoice] = useState("");
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const select = useRef<HTMLSelectElement>(null);

  useEffect(() => {
    if (!open) return;
    window.setTimeout(() => select.current?.focus());
    void listDepartments()
      .then(setDepartments)
      .catch(() => setDepartments([]));
    if (overseer) {
      void must(api.GET("/api/v1/bots"))
        .then((list) => setBots(list.items))
        .catch(() => setBots([]));
    }
  }, [open]);

  if (!open) {
    return (
      <button type="button" class="secondary" aria-expanded="false" onClick={() => setOpen(true)}>
        {t("transfer.open")}
      </button>
    );
  }

  const target = (): TransferTarget | null => {
    const [kind, id] = choice.split(":");
    if (!id) return null;
    if (kind === "user" || kind === "department") return { kind, id };
    if (kind === "ai_agent" && overseer) return { kind, id };
    return null;
  };
  const colleagues = team.filter((p) => p.id !== me);

  return (
    <form
      class="transfer-form"
      aria-label={t("transfer.title")}
      onSubmit={async (e) => {
        e.preventDefault();
        const to = target();
        if (!to || busy) return;
        setBusy(true);
        const done = await onTransfer(to, note);
        setBusy(false);
        if (done) {
          setOpen(false);
          setChoice("");
          setNote("");
        }
      }}
      onKeyDown={(e) => {
        if (e.key === "Escape") setOpen(false);
      }}
    >
      <label for="transfer-to">{t("transfer.to")}</label>
      <select id="transfer-to" ref={select} value={choice} required onChange={(e) => setChoice(e.currentTarget.value)}>
          <option value="">{t("transfer.pick")}</option>
          <optgroup label={t("transfer.colleagues")}>
            {colleagues.map((p) => (
              <option key={p.id} value={`user:${p.id}`}>
                {p.name} ({t(`presence.${p.presence}` as "presence.online")})
              </option>
            ))}
          </optgroup>
          {departments.length > 0 && (
            <optgroup label={t("transfer.departments")}>
              {departments.map((d) => (
                <option key={d.id} value={`department:${d.id}`}>
                  {d.name}
                </option>
              ))}
            </optgroup>
          )}
          {bots.length > 0 && (
            <optgroup label={t("transfer.bots")}>
              {bots.map((b) => (
                <option key={b.id} value={`ai_agent:${b.id}`}>
                  {b.emoji} {b.name}
                </option>
              ))}
            </optgroup>
          )}
      </select>
      <label for="transfer-note">{t("transfer.note")}</label>
      <textarea id="transfer-note" rows={2} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
      <div class="row">
        <button type="submit" disabled={!target() || busy}>
          {t("transfer.submit")}
        </button>
        <button type="button" class="link" onClick={() => setOpen(false)}>
          {t("transfer.cancel")}
        </button>
      </div>
    </form>
  );
}

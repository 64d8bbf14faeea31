// "Escalar": back to the queue with a reason in words (`POST /conversations/{id}/escalate`),
// asked for in place rather than in a browser dialog.
import { useRef, useState } from "preact/hooks";
import { t } from "../../i18n";

export function EscalateControl({ onEscalate }: { onEscalate: (reason: string) => void }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const input = useRef<HTMLInputElement>(null);
  if (!open) {
    return (
      <button
        type="button"
        class="secondary"
        onClick={() => {
          setOpen(true);
          window.setTimeout(() => input.current?.focus());
        }}
      >
        {t("conv.escalate")}
      </button>
    );
  }
  return (
    <form
      class="transfer"
      onSubmit={(e) => {
        e.preventDefault();
        if (!reason.trim()) return;
        onEscalate(reason.trim());
        setOpen(false);
        setReason("");
      }}
    >
      <label>
        {t("conv.escalateReason")}{" "}
        <input ref={input} value={reason} required onInput={(e) => setReason(e.currentTarget.value)} />
      </label>{" "}
      <button type="submit" class="secondary" disabled={!reason.trim()}>
        {t("conv.escalate")}
      </button>
      <button type="button" class="link" onClick={() => setOpen(false)}>
        {t("slots.cancel")}
      </button>
    </form>
  );
}

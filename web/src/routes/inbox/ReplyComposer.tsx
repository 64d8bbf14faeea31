// The box under a conversation, in one of two modes: "Responder ao cliente" (a message: Enter
// sends, typing is shown to the customer, `/atalho` offers the canned responses) or "Nota
// interna" (a private note: yellow, Enter saves it, nothing reaches the customer — not even
// typing).
import type { Ref } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../../api/client";
import { listCanned, type Canned } from "../../api/desk";
import { t } from "../../i18n";
import { CannedPicker, optionId, PICKER_ID } from "./CannedPicker";
import { expansion, matchingCanned, shortcutBeingTyped } from "./canned";

export type ComposerMode = "reply" | "note";

interface Props {
  mode: ComposerMode;
  onMode: (mode: ComposerMode) => void;
  /** May reply now (owner, or an overseer, and not closed); notes need only the conversation. */
  canReply: boolean;
  draft: string;
  onDraft: (text: string) => void;
  onSend: (text: string) => void;
  onNote: (text: string) => Promise<void>;
  onTyping: () => void;
  onStopTyping: () => void;
  composer: Ref<HTMLTextAreaElement>;
}

export function ReplyComposer({ mode, onMode, canReply, draft, onDraft, onSend, onNote, onTyping, onStopTyping, composer }: Props) {
  const [note, setNote] = useState("");
  const [noteError, setNoteError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [canned, setCanned] = useState<Canned[] | null>(null);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<string | null>(null);

  const prefix = mode === "reply" ? shortcutBeingTyped(draft) : null;
  const picking = prefix !== null && dismissed !== draft;
  const items = picking && canned ? matchingCanned(canned, prefix) : [];
  // The list is read once, the first time `/` is typed in this conversation, then filtered here.
  useEffect(() => {
    if (prefix !== null && canned === null) {
      void listCanned()
        .then(setCanned)
        .catch(() => setCanned([]));
    }
  }, [prefix !== null]);
  useEffect(() => setActive(0), [prefix]);

  const pick = (c: Canned) => {
    onDraft(expansion(c));
    setDismissed(null);
  };
  const saveNote = async () => {
    const text = note.trim();
    if (!text || saving) return;
    setSaving(true);
    setNoteError(null);
    try {
      await onNote(text);
      setNote("");
    } catch (e) {
      setNoteError(t("note.failed", { message: e instanceof ApiError || e instanceof Error ? e.message : String(e) }));
    } finally {
      setSaving(false);
    }
  };
  const sendReply = () => {
    if (!draft.trim()) return;
    onSend(draft);
    onDraft("");
  };

  const modes = (
    <fieldset class="composer-mode">
      <legend class="sr-only">{t("note.mode")}</legend>
      <label class={mode === "reply" ? "on" : ""}>
        <input type="radio" name="composer-mode" checked={mode === "reply"} onChange={() => onMode("reply")} /> {t("note.modeReply")}
      </label>
      <label class={`note-mode ${mode === "note" ? "on" : ""}`}>
        <input type="radio" name="composer-mode" checked={mode === "note"} onChange={() => onMode("note")} /> {t("note.modeNote")}
      </label>
    </fieldset>
  );

  if (mode === "note") {
    return (
      <form
        class="composer note-composer"
        onSubmit={(e) => {
          e.preventDefault();
          void saveNote();
        }}
      >
        {modes}
        <label for="note">{t("note.composer")}</label>
        <textarea
          id="note"
          ref={composer}
          rows={3}
          value={note}
          aria-describedby={noteError ? "note-error" : "note-hint"}
          aria-invalid={noteError ? "true" : undefined}
          onInput={(e) => setNote(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) {
              e.preventDefault();
              void saveNote();
            }
          }}
        />
        <button type="submit" disabled={!note.trim() || saving}>
          {t("note.save")}
        </button>
        {noteError ? (
          <small id="note-error" class="error" role="alert">
            {noteError}
          </small>
        ) : (
          <small id="note-hint" class="muted">
            {t("note.hint")}
          </small>
        )}
      </form>
    );
  }

  if (!canReply) return <div class="composer composer-modes-only">{modes}</div>;

  const open = picking && canned !== null;
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        sendReply();
      }}
    >
      {modes}
      <label for="reply">{t("conv.composer")}</label>
      {open && <CannedPicker items={items} active={Math.min(active, Math.max(0, items.length - 1))} prefix={prefix ?? ""} onPick={pick} />}
      <textarea
        id="reply"
        ref={composer}
        rows={3}
        value={draft}
        // A textarea may be a combobox (ARIA 1.2); Preact's types only allow "textbox".
        {...({ role: open ? "combobox" : undefined } as Record<string, unknown>)}
        aria-expanded={open ? "true" : undefined}
        aria-controls={open && items.length ? PICKER_ID : undefined}
        aria-activedescendant={open && items[active] ? optionId(items[active]) : undefined}
        aria-autocomplete={open ? "list" : undefined}
        aria-describedby="reply-hint"
        onInput={(e) => {
          onDraft(e.currentTarget.value);
          onTyping();
        }}
        onBlur={onStopTyping}
        onKeyDown={(e) => {
          if (open && items.length > 0) {
            if (e.key === "ArrowDown" || e.key === "ArrowUp") {
              e.preventDefault();
              const step = e.key === "ArrowDown" ? 1 : -1;
              setActive((i) => (i + step + items.length) % items.length);
              return;
            }
            if (e.key === "Enter" || e.key === "Tab") {
              e.preventDefault();
              pick(items[Math.min(active, items.length - 1)]);
              return;
            }
          }
          if (open && e.key === "Escape") {
            e.preventDefault();
            setDismissed(draft);
            return;
          }
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            sendReply();
          }
        }}
      />
      <button type="submit" disabled={!draft.trim()}>
        {t("conv.send")}
      </button>
      <small id="reply-hint" class="muted">
        {t("conv.composerHint")}
      </small>
    </form>
  );
}

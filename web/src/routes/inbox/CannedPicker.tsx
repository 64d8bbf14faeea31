// The canned responses offered while the reply's first word is `/…`: a listbox the reply
// box drives (↑↓ moves, Enter or Tab inserts, Esc closes; see ReplyComposer).
import type { Canned } from "../../api/desk";
import { t } from "../../i18n";

export const PICKER_ID = "canned-picker";
export const optionId = (c: Canned) => `canned-${c.id}`;

interface Props {
  items: Canned[];
  active: number;
  prefix: string;
  onPick: (c: Canned) => void;
}

export function CannedPicker({ items, active, prefix, onPick }: Props) {
  return (
    <div class="canned-picker">
      {items.length === 0 ? (
        <p class="muted" role="status">
          {t("canned.none", { prefix })}
        </p>
      ) : (
        <ul id={PICKER_ID} role="listbox" aria-label={t("canned.suggestions")}>
          {items.map((c, i) => (
            <li
              key={c.id}
              id={optionId(c)}
              role="option"
              aria-selected={i === active}
              class={i === active ? "active" : ""}
              // mousedown, so the reply box keeps its focus.
              onMouseDown={(e) => {
                e.preventDefault();
                onPick(c);
              }}
            >
              <strong>/{c.shortcut}</strong> <span class="muted">{c.scope === "personal" ? t("canned.scope.personal") : t("canned.scope.tenant")}</span>
              <span class="canned-text">{c.content}</span>
            </li>
          ))}
        </ul>
      )}
      <small class="muted">{t("canned.pickHint")}</small>
    </div>
  );
}

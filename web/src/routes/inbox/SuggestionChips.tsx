// Suggestions as chips: what the engine (or the model behind it) proposes to say next.
// Nothing is drawn when there are none; picking one hands it to the caller.
import { t } from "../../i18n";

interface Props {
  suggestions: string[];
  label?: string;
  onPick: (suggestion: string) => void;
}

export function SuggestionChips({ suggestions, label = t("conv.suggestions"), onPick }: Props) {
  if (suggestions.length === 0) return null;
  return (
    <div class="suggestions" role="group" aria-label={label}>
      {suggestions.map((s) => (
        <button type="button" class="secondary chip" onClick={() => onPick(s)}>
          {s}
        </button>
      ))}
    </div>
  );
}

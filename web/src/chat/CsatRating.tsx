// "Como foi o atendimento?": five buttons under the engine's rating question, then a thank-you.
// Buttons, not a slider, so a phone's thumb and a keyboard's Tab/Enter both rate in one step.
import { t, tn } from "../i18n";
import { RATINGS } from "./csat";

export function CsatRating({ state, onRate }: { state: "asked" | "rated" | "sending"; onRate: (rating: number) => void }) {
  if (state === "rated") {
    return (
      <p class="csat-thanks" role="status">
        {t("csat.thanks")}
      </p>
    );
  }
  return (
    <div class="csat" role="group" aria-labelledby="csat-title">
      <p id="csat-title">{t("csat.title")}</p>
      <div class="csat-stars">
        {RATINGS.map((rating) => (
          <button type="button" key={rating} disabled={state === "sending"} aria-label={tn("csat.star", rating)} onClick={() => onRate(rating)}>
            <span aria-hidden="true">★</span>
            <span class="csat-number" aria-hidden="true">
              {rating}
            </span>
          </button>
        ))}
      </div>
    </div>
  );
}

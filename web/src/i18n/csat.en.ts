import type { CsatMessages } from "./csat.pt-BR";

export const csatEn: CsatMessages = {
  "nav.canned": "Canned responses",
  "csat.title": "How was our service?",
  "csat.star.one": "{count} star",
  "csat.star.other": "{count} stars",
  "csat.thanks": "Thank you for your rating!",
  "csat.given": "Rating: {stars} ({rating} of 5)",
};

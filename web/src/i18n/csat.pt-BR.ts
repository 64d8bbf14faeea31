// The desk's strings every page needs, in Portuguese (Brazil): the top bar's link to the canned
// responses and the customer's rating on the web chat. The rest of the desk's strings
// (desk.pt-BR.ts) load with the screens that use them. csat.en.ts has the same keys.
export const csatPtBR = {
  "nav.canned": "Respostas prontas",
  "csat.title": "Como foi o atendimento?",
  "csat.star.one": "{count} estrela",
  "csat.star.other": "{count} estrelas",
  "csat.thanks": "Obrigado pela avaliação!",
  "csat.given": "Avaliação: {stars} ({rating} de 5)",
} as const;

export type CsatMessages = Record<keyof typeof csatPtBR, string>;

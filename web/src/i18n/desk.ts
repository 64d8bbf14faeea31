// The desk's strings join the catalogs when a desk screen's chunk loads (the inbox, the canned
// responses screen): import this module for its effect.
import { addMessages } from "./index";
import { deskPtBR } from "./desk.pt-BR";
import { deskEn } from "./desk.en";

addMessages({ "pt-BR": deskPtBR, en: deskEn });

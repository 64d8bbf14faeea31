// Conversation facts in words: owner, status, why it left the AI.
import type { Conversation } from "../../api/client";
import { t, type Key } from "../../i18n";

export function ownerText(c: Conversation, me: string): string {
  if (c.owner.type === "user") return c.owner.id === me ? t("owner.you") : t("owner.user");
  if (c.owner.type === "ai_agent") return t("owner.ai_agent");
  return t("owner.none");
}

export function statusText(status: string): string {
  const key = `status.${status}` as Key;
  return ["queued", "open", "closed"].includes(status) ? t(key) : status;
}

/** The engine's reason code in plain words; an operator's own reason as typed. */
export function escalationText(reason: string): string {
  if (reason.startsWith("limit_reached:")) return t("escalation.limit_reached", { limit: reason.slice("limit_reached:".length) });
  const known = [
    "customer_requested_human",
    "message_limit",
    "invalid_api_key",
    "timeout",
    "no_knowledge_match",
    "negative_feedback",
    "critical_priority",
    "vip_contact",
  ];
  return known.includes(reason) ? t(`escalation.${reason}` as Key) : reason;
}

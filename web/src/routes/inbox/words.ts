// Conversation facts in words: owner, status, why it left the AI.
import type { Conversation } from "../../api/client";
import { t, type Key } from "../../i18n";

/** Who owns `c`: "you", a colleague's name (when `names` knows it), "AI" or nobody. */
export function ownerText(c: Conversation, me: string, names?: Map<string, string>): string {
  if (c.owner.type === "user") return c.owner.id === me ? t("owner.you") : (names?.get(c.owner.id ?? "") ?? t("owner.user"));
  if (c.owner.type === "ai_agent") return t("owner.ai_agent");
  return t("owner.none");
}

export function statusText(status: string): string {
  const key = `status.${status}` as Key;
  return ["queued", "open", "closed"].includes(status) ? t(key) : status;
}

const REASONS = [
  "customer_requested_human",
  "message_limit",
  "tool_failures",
  "agent_unavailable",
  "no_knowledge_match",
  "negative_feedback",
  "critical_priority",
  "vip_contact",
  "unresolved_timeout",
  "recurring_problem",
  "rate_limit",
  "insufficient_quota",
  "invalid_api_key",
  "timeout",
  "bad_response",
  "unavailable",
  "target_refused",
];
const LIMITS = ["agent_disabled", "max_conversations", "requests_per_minute", "requests_per_hour", "requests_per_day", "daily_cost", "monthly_cost"];

/** The engine's reason code in plain words; an operator's own reason as typed. */
export function escalationText(reason: string): string {
  if (reason.startsWith("limit_reached:")) {
    const limit = reason.slice("limit_reached:".length);
    return t("escalation.limit_reached", { limit: LIMITS.includes(limit) ? t(`limit.${limit}` as Key) : limit });
  }
  if (reason.startsWith("ai_transfer: ")) return t("escalation.ai_transfer", { words: reason.slice("ai_transfer: ".length) });
  return REASONS.includes(reason) ? t(`escalation.${reason}` as Key) : reason;
}

const ACTIVITY_KINDS = ["task", "meeting", "follow_up", "lead", "form", "note", "call"];

/** An activity's kind in words (kinds the console does not know as the API names them). */
export function activityKind(kind: string): string {
  return ACTIVITY_KINDS.includes(kind) ? t(`activity.${kind}` as Key) : kind;
}

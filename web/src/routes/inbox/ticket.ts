// The ticket fields form's pure part: what changed, as `PATCH /conversations/{id}` takes it.
import type { Conversation } from "../../api/client";
import type { Priority, TicketChanges } from "../../api/desk";

export interface TicketDraft {
  tags: string;
  priority: string;
  category: string;
  departmentId: string;
  stageId: string;
}

export const PRIORITIES: Priority[] = ["critical", "high", "medium", "low"];

export function draftOf(c: Conversation): TicketDraft {
  return {
    tags: c.tags.join(", "),
    priority: c.priority,
    category: c.category ?? "",
    departmentId: c.department_id ?? "",
    stageId: c.stage_id ?? "",
  };
}

/** "a, b,, c " → ["a", "b", "c"]. */
export function tagList(text: string): string[] {
  return text
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
}

/** Only what differs from the conversation (the API refuses an empty change; the department
 * and stage can be set, not cleared, so a blank one is left as it is). */
export function ticketChanges(c: Conversation, d: TicketDraft): TicketChanges {
  const changes: TicketChanges = {};
  const tags = tagList(d.tags);
  if (tags.join("\n") !== c.tags.join("\n")) changes.tags = tags;
  if (d.priority !== c.priority && PRIORITIES.includes(d.priority as Priority)) changes.priority = d.priority as Priority;
  if (d.category.trim() && d.category.trim() !== (c.category ?? "")) changes.category = d.category.trim();
  if (d.departmentId && d.departmentId !== (c.department_id ?? "")) changes.department_id = d.departmentId;
  if (d.stageId && d.stageId !== (c.stage_id ?? "")) changes.stage_id = d.stageId;
  return changes;
}

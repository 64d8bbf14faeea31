// The desk's calls, through the one typed client: transfer, private notes, ticket fields and
// canned responses (docs/protocol.md, "Departments as queues, transfer, private notes, canned
// responses"). Screens import these rather than naming endpoints themselves.
import { api, must, type Conversation, type Schemas } from "./client";

export type Note = Schemas["NoteView"];
export type Canned = Schemas["CannedView"];
export type CannedScope = Schemas["Scope"];
export type Department = Schemas["DepartmentView"];
export type Funnel = Schemas["FunnelView"];
export type Tag = Schemas["TagView"];
export type TicketChanges = Schemas["ConversationChanges"];
export type Priority = Schemas["Priority"];

/** Notes are read in pages of this many (the API's most). */
const NOTES_PAGE = 200;

/** Where a conversation goes: a colleague (owns it at once), a department's queue, or an AI
 * agent (overseers only, through `/assign`, which takes no note). */
export type TransferTarget = { kind: "user"; id: string } | { kind: "department"; id: string } | { kind: "ai_agent"; id: string };

export async function transferConversation(id: string, target: TransferTarget, note: string): Promise<Conversation> {
  const text = note.trim();
  if (target.kind === "ai_agent") {
    const moved = await must(api.POST("/api/v1/conversations/{id}/assign", { params: { path: { id } }, body: { agent_id: target.id } }));
    if (text) await addNote(id, text);
    return moved;
  }
  const body = target.kind === "user" ? { user_id: target.id } : { department_id: target.id };
  return must(api.POST("/api/v1/conversations/{id}/transfer", { params: { path: { id } }, body: text ? { ...body, note: text } : body }));
}

export function addNote(id: string, content: string): Promise<Note> {
  return must(api.POST("/api/v1/conversations/{id}/notes", { params: { path: { id } }, body: { content } }));
}

/** Every private note of a conversation, oldest first (page after page: a conversation has
 * few, but none may go missing). */
export async function listNotes(id: string): Promise<Note[]> {
  const all: Note[] = [];
  let cursor: string | undefined;
  do {
    const page = await must(api.GET("/api/v1/conversations/{id}/notes", { params: { path: { id }, query: { limit: NOTES_PAGE, cursor } } }));
    all.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return all;
}

export function updateTicket(id: string, changes: TicketChanges): Promise<Conversation> {
  return must(api.PATCH("/api/v1/conversations/{id}", { params: { path: { id } }, body: changes }));
}

export async function listDepartments(): Promise<Department[]> {
  return (await must(api.GET("/api/v1/departments", { params: { query: { limit: 200 } } }))).items;
}

export async function listFunnels(): Promise<Funnel[]> {
  return (await must(api.GET("/api/v1/funnels", { params: { query: { limit: 200 } } }))).items as Funnel[];
}

export async function listTags(): Promise<Tag[]> {
  return (await must(api.GET("/api/v1/tags", { params: { query: { limit: 200 } } }))).items;
}

export async function listCanned(): Promise<Canned[]> {
  return (await must(api.GET("/api/v1/canned-responses"))).items;
}

export function createCanned(body: { shortcut: string; content: string; scope: CannedScope }): Promise<Canned> {
  return must(api.POST("/api/v1/canned-responses", { body }));
}

export function updateCanned(id: string, body: { shortcut?: string; content?: string }): Promise<Canned> {
  return must(api.PATCH("/api/v1/canned-responses/{id}", { params: { path: { id } }, body }));
}

export async function deleteCanned(id: string): Promise<void> {
  await must(api.DELETE("/api/v1/canned-responses/{id}", { params: { path: { id } } }));
}

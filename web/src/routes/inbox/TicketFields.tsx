// The conversation as a ticket, beside it: tags, priority, category, funnel stage and
// department, saved together with `PATCH /conversations/{id}` (only what changed). The API's
// reason for a refused field shows under that field, and what was typed stays.
import { useEffect, useState } from "preact/hooks";
import { ApiError, type Conversation } from "../../api/client";
import { listDepartments, listFunnels, listTags, updateTicket, type Department, type Funnel, type Tag } from "../../api/desk";
import { t, type Key } from "../../i18n";
import { draftOf, PRIORITIES, ticketChanges, type TicketDraft } from "./ticket";

/** The classifier's categories (src/domain/classification.rs), offered as you type. */
const CATEGORIES = ["technical", "commercial", "support", "complaint", "praise"];
const FIELDS: Record<string, keyof TicketDraft> = {
  tags: "tags",
  priority: "priority",
  category: "category",
  department_id: "departmentId",
  stage_id: "stageId",
};

interface Props {
  conversation: Conversation;
  onSaved: (c: Conversation) => void;
}

export function TicketFields({ conversation, onSaved }: Props) {
  const [draft, setDraft] = useState<TicketDraft>(() => draftOf(conversation));
  const [departments, setDepartments] = useState<Department[]>([]);
  const [funnels, setFunnels] = useState<Funnel[]>([]);
  const [tags, setTags] = useState<Tag[]>([]);
  const [errors, setErrors] = useState<Partial<Record<keyof TicketDraft, string>>>({});
  const [status, setStatus] = useState<{ text: string; error: boolean } | null>(null);
  const [saving, setSaving] = useState(false);
  const closed = conversation.status === "closed";

  useEffect(() => {
    void listDepartments().then(setDepartments).catch(() => setDepartments([]));
    void listFunnels().then(setFunnels).catch(() => setFunnels([]));
    void listTags().then(setTags).catch(() => setTags([]));
  }, []);
  // A colleague's change (`conversation_updated`) comes in as a new conversation: show it.
  useEffect(() => setDraft(draftOf(conversation)), [conversation.updated_at]);

  const set = (field: keyof TicketDraft) => (e: Event) => {
    setDraft({ ...draft, [field]: (e.currentTarget as HTMLInputElement).value });
    setErrors({ ...errors, [field]: undefined });
  };
  const save = async () => {
    const changes = ticketChanges(conversation, draft);
    if (Object.keys(changes).length === 0) return setStatus({ text: t("ticket.nothing"), error: false });
    setSaving(true);
    setStatus(null);
    try {
      onSaved(await updateTicket(conversation.id, changes));
      setErrors({});
      setStatus({ text: t("ticket.saved"), error: false });
    } catch (e) {
      const field = e instanceof ApiError && e.field ? FIELDS[e.field.replace(/\[\d+\]$/, "")] : undefined;
      const message = e instanceof Error ? e.message : String(e);
      if (field) {
        setErrors({ [field]: message });
        document.getElementById(`ticket-${field}`)?.focus();
      } else setStatus({ text: message, error: true });
    } finally {
      setSaving(false);
    }
  };
  const error = (field: keyof TicketDraft) =>
    errors[field] && (
      <small id={`ticket-${field}-error`} class="error" role="alert">
        {errors[field]}
      </small>
    );
  const described = (field: keyof TicketDraft, hint?: string) => (errors[field] ? `ticket-${field}-error` : hint);

  return (
    <section class="ticket-fields" aria-labelledby="ticket-title">
      <h3 id="ticket-title">{t("ticket.title")}</h3>
      {closed && <p class="muted">{t("ticket.closed")}</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <fieldset disabled={closed || saving}>
          <label for="ticket-tags">{t("ticket.tags")}</label>
          <input
            id="ticket-tags"
            list="ticket-tag-names"
            value={draft.tags}
            aria-invalid={errors.tags ? "true" : undefined}
            aria-describedby={described("tags", "ticket-tags-hint")}
            onInput={set("tags")}
          />
          <datalist id="ticket-tag-names">
            {tags.map((tag) => (
              <option key={tag.id} value={tag.name} />
            ))}
          </datalist>
          {error("tags") || (
            <small id="ticket-tags-hint" class="muted">
              {t("ticket.tagsHint")}
            </small>
          )}

          <label for="ticket-priority">{t("ticket.priority")}</label>
          <select id="ticket-priority" value={draft.priority} aria-describedby={described("priority")} onChange={set("priority")}>
            {PRIORITIES.map((p) => (
              <option key={p} value={p}>
                {t(`ticket.priority.${p}` as Key)}
              </option>
            ))}
          </select>
          {error("priority")}

          <label for="ticket-category">{t("ticket.category")}</label>
          <input id="ticket-category" list="ticket-categories" value={draft.category} aria-invalid={errors.category ? "true" : undefined} aria-describedby={described("category")} onInput={set("category")} />
          <datalist id="ticket-categories">
            {CATEGORIES.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
          {error("category")}

          <label for="ticket-stageId">{t("ticket.stage")}</label>
          <select id="ticket-stageId" value={draft.stageId} aria-describedby={described("stageId")} onChange={set("stageId")}>
            <option value="">{t("ticket.none")}</option>
            {funnels.map((f) => (
              <optgroup key={f.id} label={f.name}>
                {f.stages.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </optgroup>
            ))}
          </select>
          {error("stageId")}

          <label for="ticket-departmentId">{t("ticket.department")}</label>
          <select id="ticket-departmentId" value={draft.departmentId} aria-describedby={described("departmentId")} onChange={set("departmentId")}>
            <option value="">{t("ticket.none")}</option>
            {departments.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
          {error("departmentId")}

          <button type="submit" class="secondary">
            {t("ticket.save")}
          </button>
        </fieldset>
        {status && (
          <p class={status.error ? "error" : "muted"} role={status.error ? "alert" : "status"}>
            {status.text}
          </p>
        )}
      </form>
    </section>
  );
}

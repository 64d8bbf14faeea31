// The context beside a conversation: who the customer is (details, tags, VIP, custom
// fields), the summary, what we remember, activities and previous conversations.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, must } from "../../api/client";
import { t } from "../../i18n";
import { useContact } from "./contacts";
import { ContactActivities, PreviousConversations } from "./ContactHistory";

interface Memory {
  id: string;
  kind: string;
  content: string;
}

interface Props {
  /** Shown in place of the conversation on narrow screens. */
  open: boolean;
  onClose: () => void;
  contactId?: string;
  conversationId: string;
  summary: string | null;
  autoCreate: boolean;
  onAutoCreate: (enabled: boolean) => void;
  children?: ComponentChildren;
}

function fieldValue(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? t("contact.yes") : t("contact.no");
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export function ContactPanel({ open, onClose, contactId, conversationId, summary, autoCreate, onAutoCreate, children }: Props) {
  const contact = useContact(contactId);
  const [memories, setMemories] = useState<Memory[] | null>(null);
  useEffect(() => {
    setMemories(null);
    if (!contactId) return;
    let live = true;
    must(api.GET("/api/v1/contacts/{id}/memories", { params: { path: { id: contactId } } }))
      .then((page) => live && setMemories((page as { items: Memory[] }).items))
      .catch(() => live && setMemories([]));
    return () => {
      live = false;
    };
  }, [contactId]);

  return (
    <aside id="context-pane" class={`pane side-pane ${open ? "open" : ""}`} aria-label={t("contact.title")}>
      <button type="button" class="secondary narrow-only" onClick={onClose}>
        {t("conv.backToConversation")}
      </button>
      <section>
        <h3>{t("contact.title")}</h3>
        {contact ? (
          <dl>
            <dt>{t("contact.name")}</dt>
            <dd>
              {contact.name || t("contact.anonymous")}{" "}
              {contact.is_vip && <span class="pill vip">{t("contact.vip")}</span>}
            </dd>
            {contact.email && (
              <>
                <dt>{t("contact.email")}</dt>
                <dd>{contact.email}</dd>
              </>
            )}
            {contact.phone && (
              <>
                <dt>{t("contact.phone")}</dt>
                <dd>{contact.phone}</dd>
              </>
            )}
            {contact.tags.length > 0 && (
              <>
                <dt>{t("contact.tags")}</dt>
                <dd>{contact.tags.join(", ")}</dd>
              </>
            )}
            {Object.entries((contact.custom_fields ?? {}) as Record<string, unknown>).map(([name, value]) => (
              <>
                <dt>{name}</dt>
                <dd>{fieldValue(value)}</dd>
              </>
            ))}
          </dl>
        ) : (
          <p class="muted">{t("app.loading")}</p>
        )}
      </section>
      <section>
        <label>
          <input type="checkbox" checked={autoCreate} onChange={(e) => onAutoCreate(e.currentTarget.checked)} /> {t("conv.autoCreate")}
        </label>
      </section>
      {summary && (
        <section aria-live="polite">
          <h3>{t("conv.summary")}</h3>
          <p>{summary}</p>
        </section>
      )}
      {children}
      <section>
        <h3>{t("contact.memories")}</h3>
        {memories === null && <p class="muted">{t("app.loading")}</p>}
        {memories?.length === 0 && <p class="muted">{t("contact.noMemories")}</p>}
        <ul class="memories">
          {memories?.map((m) => (
            <li key={m.id}>
              <small class="muted">{m.kind}</small> {m.content}
            </li>
          ))}
        </ul>
      </section>
      <ContactActivities contactId={contactId} />
      <PreviousConversations contactId={contactId} current={conversationId} />
    </aside>
  );
}

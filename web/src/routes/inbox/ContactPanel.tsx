// The context beside a conversation: who the customer is, what we remember, the summary.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, must } from "../../api/client";
import { t } from "../../i18n";
import { useContact } from "./contacts";

interface Memory {
  id: string;
  kind: string;
  content: string;
}

interface Props {
  contactId?: string;
  summary: string | null;
  autoCreate: boolean;
  onAutoCreate: (enabled: boolean) => void;
  children?: ComponentChildren;
}

export function ContactPanel({ contactId, summary, autoCreate, onAutoCreate, children }: Props) {
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
    <aside class="pane side-pane" aria-label={t("contact.title")}>
      <section>
        <h3>{t("contact.title")}</h3>
        {contact ? (
          <dl>
            <dt>{t("contact.name")}</dt>
            <dd>{contact.name || t("contact.anonymous")}</dd>
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
            {contact.is_vip && (
              <dd>
                <span class="pill vip">{t("contact.vip")}</span>
              </dd>
            )}
            {contact.tags.length > 0 && (
              <>
                <dt>{t("contact.tags")}</dt>
                <dd>{contact.tags.join(", ")}</dd>
              </>
            )}
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
    </aside>
  );
}

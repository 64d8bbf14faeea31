// What happened with this contact before: its activities (tasks, meetings, leads, follow-ups)
// and its other conversations, each a link to open it.
import { useEffect, useState } from "preact/hooks";
import { api, must, type Conversation, type Schemas } from "../../api/client";
import { fullDate, t, timeAgo } from "../../i18n";
import { activityKind, statusText } from "./words";

type Activity = Schemas["ActivityView"];
const SHOWN = 10;

/** One read per contact; null while loading, [] when there is nothing or it failed. */
function useList<T>(contactId: string | undefined, load: (id: string) => Promise<T[]>): T[] | null {
  const [items, setItems] = useState<T[] | null>(null);
  useEffect(() => {
    setItems(null);
    if (!contactId) return;
    let live = true;
    load(contactId)
      .then((found) => live && setItems(found))
      .catch(() => live && setItems([]));
    return () => {
      live = false;
    };
  }, [contactId]);
  return items;
}

function When({ iso }: { iso: string }) {
  return (
    <time dateTime={iso} title={fullDate(iso)}>
      {timeAgo(iso)}
    </time>
  );
}

export function ContactActivities({ contactId }: { contactId?: string }) {
  const items = useList<Activity>(contactId, async (id) =>
    (await must(api.GET("/api/v1/activities", { params: { query: { contact_id: id, limit: SHOWN } } }))).items,
  );
  return (
    <section aria-labelledby="activities-title">
      <h3 id="activities-title">{t("contact.activities")}</h3>
      {items === null && <p class="muted">{t("app.loading")}</p>}
      {items?.length === 0 && <p class="muted">{t("contact.noActivities")}</p>}
      <ul class="history">
        {items?.map((a) => (
          <li key={a.id}>
            <span class="pill">{activityKind(a.kind)}</span>{" "}
            {a.done ? <s>{a.title}</s> : a.title} <small class="muted">· {a.due_at ? <When iso={a.due_at} /> : <When iso={a.created_at} />}</small>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function PreviousConversations({ contactId, current }: { contactId?: string; current: string }) {
  const items = useList<Conversation>(contactId, async (id) =>
    (await must(api.GET("/api/v1/conversations", { params: { query: { contact_id: id, limit: SHOWN + 1 } } }))).items,
  );
  const others = items?.filter((c) => c.id !== current) ?? null;
  return (
    <section aria-labelledby="previous-title">
      <h3 id="previous-title">{t("contact.previous")}</h3>
      {others === null && <p class="muted">{t("app.loading")}</p>}
      {others?.length === 0 && <p class="muted">{t("contact.noPrevious")}</p>}
      <ul class="history">
        {others?.slice(0, SHOWN).map((c) => (
          <li key={c.id}>
            <a href={`/c/${c.id}`}>
              <When iso={c.last_message_at ?? c.created_at} />
            </a>{" "}
            <span class={`pill status-${c.status}`}>{statusText(c.status)}</span> <small class="muted">{c.channel}</small>
          </li>
        ))}
      </ul>
    </section>
  );
}

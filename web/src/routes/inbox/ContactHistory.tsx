// What happened with this contact before: its activities (tasks, meetings, leads, follow-ups)
// and its other conversations, each a link to open it.
import type { ComponentChildren } from "preact";
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

/** A titled list with its loading and empty states. */
function History<T extends { id: string }>(props: { id: string; title: string; empty: string; items: T[] | null; row: (item: T) => ComponentChildren }) {
  return (
    <section aria-labelledby={props.id}>
      <h3 id={props.id}>{props.title}</h3>
      {props.items === null && <p class="muted">{t("app.loading")}</p>}
      {props.items?.length === 0 && <p class="muted">{props.empty}</p>}
      <ul class="history">{props.items?.map((item) => <li key={item.id}>{props.row(item)}</li>)}</ul>
    </section>
  );
}

export function ContactActivities({ contactId }: { contactId?: string }) {
  const items = useList<Activity>(contactId, async (id) =>
    (await must(api.GET("/api/v1/activities", { params: { query: { contact_id: id, limit: SHOWN } } }))).items,
  );
  return (
    <History
      id="activities-title"
      title={t("contact.activities")}
      empty={t("contact.noActivities")}
      items={items}
      row={(a) => (
        <>
          <span class="pill">{activityKind(a.kind)}</span> {a.done ? <s>{a.title}</s> : a.title}{" "}
          <small class="muted">· {<When iso={a.due_at ?? a.created_at} />}</small>
        </>
      )}
    />
  );
}

export function PreviousConversations({ contactId, current }: { contactId?: string; current: string }) {
  const items = useList<Conversation>(contactId, async (id) =>
    (await must(api.GET("/api/v1/conversations", { params: { query: { contact_id: id, limit: SHOWN + 1 } } }))).items.filter((c) => c.id !== current).slice(0, SHOWN),
  );
  return (
    <History
      id="previous-title"
      title={t("contact.previous")}
      empty={t("contact.noPrevious")}
      items={items}
      row={(c) => (
        <>
          <a href={`/c/${c.id}`}>
            <When iso={c.last_message_at ?? c.created_at} />
          </a>{" "}
          <span class={`pill status-${c.status}`}>{statusText(c.status)}</span> <small class="muted">{c.channel}</small>
        </>
      )}
    />
  );
}

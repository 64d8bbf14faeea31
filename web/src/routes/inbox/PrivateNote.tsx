// A private note in the conversation's timeline: a yellow band across it, labelled as
// staff-only in words (not by colour alone), never shaped like a message bubble.
import type { Note } from "../../api/desk";
import { clock, fullDate, t } from "../../i18n";

export function PrivateNote({ note, author }: { note: Note; author: string }) {
  const badge = t(note.kind === "transfer" ? "note.transferBadge" : "note.badge");
  return (
    <article class={`private-note kind-${note.kind}`} aria-label={badge} data-note-id={note.id}>
      <header>
        <span class="private-note-badge">
          <span aria-hidden="true">🔒 </span>
          {badge}
        </span>{" "}
        · {author}
      </header>
      <p>{note.content}</p>
      <footer>
        <time dateTime={note.created_at} title={fullDate(note.created_at)}>
          {clock(note.created_at)}
        </time>
      </footer>
    </article>
  );
}

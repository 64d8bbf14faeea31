// "Testar": a chat with the agent as it is now (a draft too), through the chat stream, so
// the admin sees its answers, and the knowledge passages it used, before publishing.
import { useRef, useState } from "preact/hooks";
import { t, tn } from "../../../i18n";
import { describe } from "../ui/form";
import { streamAnswer, type ChatTurn, type Source } from "../../../api/chatStream";

interface Line extends ChatTurn {
  streaming?: boolean;
  sources?: Source[];
  failed?: string;
}

export function SandboxChat({ agentId, name }: { agentId: string; name: string }) {
  const [lines, setLines] = useState<Line[]>([]);
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const abort = useRef<AbortController | null>(null);

  const updateLast = (change: (line: Line) => Line) => setLines((all) => [...all.slice(0, -1), change(all[all.length - 1])]);

  const send = async (e: Event) => {
    e.preventDefault();
    const content = text.trim();
    if (!content || busy) return;
    const history: ChatTurn[] = [...lines.filter((l) => !l.failed).map(({ role, content }) => ({ role, content })), { role: "user", content }];
    setLines((all) => [...all, { role: "user", content }, { role: "assistant", content: "", streaming: true, sources: [] }]);
    setText("");
    setBusy(true);
    abort.current = new AbortController();
    try {
      const answer = await streamAnswer(
        agentId,
        history,
        {
          onDelta: (delta) => updateLast((l) => ({ ...l, content: l.content + delta })),
          onSource: (source) => updateLast((l) => ({ ...l, sources: [...(l.sources ?? []), source] })),
          onError: (code, message) => updateLast((l) => ({ ...l, failed: code === "NO_ANSWER" ? t("admin.sandbox.noAnswer") : message || code })),
        },
        { signal: abort.current.signal },
      );
      updateLast((l) => ({ ...l, content: answer || l.content, streaming: false }));
    } catch (err) {
      updateLast((l) => ({ ...l, streaming: false, failed: describe(err) }));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="sandbox" aria-labelledby="sandbox-title">
      <h2 id="sandbox-title">{t("admin.sandbox.title", { name })}</h2>
      <p class="muted">{t("admin.sandbox.intro")}</p>
      <div class="messages sandbox-log" role="log" aria-live="polite">
        {lines.length === 0 && <p class="muted">{t("admin.sandbox.empty")}</p>}
        {lines.map((line, i) => (
          <article key={i} class={`bubble ${line.role === "user" ? "mine" : "from-ai_agent"} ${line.streaming ? "streaming" : ""}`}>
            <header>{line.role === "user" ? t("admin.sandbox.you") : name}</header>
            {(line.content || !line.failed) && <p>{line.content}</p>}
            {line.failed && (
              <p class="error" role="alert">
                {line.failed}
              </p>
            )}
            {line.sources && line.sources.length > 0 && (
              <details>
                <summary>{tn("admin.sandbox.sources", line.sources.length)}</summary>
                <ul>
                  {line.sources.map((s, j) => (
                    <li key={j}>
                      <strong>{s.title}</strong> — {s.excerpt}
                    </li>
                  ))}
                </ul>
              </details>
            )}
          </article>
        ))}
      </div>
      <form class="sandbox-composer" onSubmit={send}>
        <label for="sandbox-input" class="sr-only">
          {t("admin.sandbox.input")}
        </label>
        <input id="sandbox-input" value={text} placeholder={t("admin.sandbox.input")} onInput={(e) => setText(e.currentTarget.value)} autoComplete="off" />
        <button type="submit" disabled={busy || !text.trim()}>
          {t("admin.sandbox.send")}
        </button>
      </form>
    </section>
  );
}

// The knowledge base: drop files (text, Markdown, HTML, PDF) to upload them, the documents,
// and a search that shows the passages the agents would get, best first.
import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../../api/client";
import { t, tn } from "../../../i18n";
import { AdminLayout, Loading, useLoad } from "../ui/layout";
import { FormError, SelectField, TextField, describe, useApiForm } from "../ui/form";

const ACCEPT = ".txt,.md,.markdown,.html,.htm,.pdf,text/plain,text/markdown,text/html,application/pdf";

interface Upload {
  name: string;
  state: "sending" | "done" | "failed";
  message?: string;
}

export default function KnowledgePage() {
  const documents = useLoad(() => must(api.GET("/api/v1/knowledge/documents", { params: { query: { limit: 200 } } })));
  const agents = useLoad(() => must(api.GET("/api/v1/agents", { params: { query: { limit: 200 } } })));
  const [scope, setScope] = useState("");
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [over, setOver] = useState(false);

  const upload = async (files: FileList | File[]) => {
    const list = Array.from(files);
    setUploads((all) => [...list.map((f) => ({ name: f.name, state: "sending" as const })), ...all]);
    for (const file of list) {
      const data = new FormData();
      data.append("file", file, file.name);
      if (scope) data.append("agent_id", scope);
      let outcome: Upload;
      try {
        const doc = await must(
          api.POST("/api/v1/knowledge/documents", {
            body: {} as Schemas["CreateDocument"],
            bodySerializer: () => data,
          }),
        );
        outcome = { name: file.name, state: "done", message: tn("admin.knowledge.uploaded", doc.chunk_count) };
      } catch (err) {
        outcome = { name: file.name, state: "failed", message: describe(err) };
      }
      setUploads((all) => {
        const i = all.findIndex((u) => u.name === file.name && u.state === "sending");
        return i < 0 ? all : [...all.slice(0, i), outcome, ...all.slice(i + 1)];
      });
    }
    documents.reload();
  };

  const [removeError, setRemoveError] = useState<string | null>(null);
  const remove = (id: string) => {
    setRemoveError(null);
    must(api.DELETE("/api/v1/knowledge/documents/{id}", { params: { path: { id } } })).then(documents.reload, (err) => setRemoveError(describe(err)));
  };

  const agentOptions = [{ value: "", label: t("admin.knowledge.allAgents") }, ...(agents.data?.items ?? []).map((a) => ({ value: a.id, label: `${a.emoji} ${a.name}` }))];

  return (
    <AdminLayout title={t("admin.knowledge.title")}>
      <div class="knowledge">
        <section class="panel">
          <div
            class={`dropzone ${over ? "over" : ""}`}
            onDragOver={(e) => {
              e.preventDefault();
              setOver(true);
            }}
            onDragLeave={() => setOver(false)}
            onDrop={(e) => {
              e.preventDefault();
              setOver(false);
              if (e.dataTransfer?.files.length) upload(e.dataTransfer.files);
            }}
          >
            <p>{t("admin.knowledge.drop")}</p>
            <label class="button secondary">
              {t("admin.knowledge.choose")}
              <input
                type="file"
                class="sr-only"
                multiple
                accept={ACCEPT}
                aria-label={t("admin.knowledge.choose")}
                onChange={(e) => {
                  const files = e.currentTarget.files;
                  if (files?.length) upload(Array.from(files));
                  e.currentTarget.value = "";
                }}
              />
            </label>
            <small class="muted">{t("admin.knowledge.types")}</small>
          </div>
          <SelectField name="agent_id" label={t("admin.knowledge.scope")} value={scope} options={agentOptions} onValue={setScope} />
          {uploads.length > 0 && (
            <ul class="plain uploads" aria-live="polite">
              {uploads.map((u, i) => (
                <li key={i} class={u.state}>
                  <strong>{u.name}</strong>: {u.state === "sending" ? t("admin.knowledge.sending") : u.message}
                </li>
              ))}
            </ul>
          )}
        </section>
        <section class="panel" aria-labelledby="documents-title">
          <h2 id="documents-title">{t("admin.knowledge.documents")}</h2>
          <FormError message={removeError} />
          <Loading state={documents} empty={(p) => (p.items.length ? null : t("admin.knowledge.empty"))}>
            {(page) => (
              <table class="admin-table">
                <thead>
                  <tr>
                    <th>{t("admin.knowledge.docTitle")}</th>
                    <th>{t("admin.knowledge.type")}</th>
                    <th>{t("admin.knowledge.size")}</th>
                    <th>{t("admin.knowledge.chunks")}</th>
                    <th>{t("admin.knowledge.scope")}</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((d) => (
                    <tr key={d.id}>
                      <td>
                        {d.title}
                        {d.file_name && <small class="muted"> · {d.file_name}</small>}
                      </td>
                      <td>{d.source_type.toUpperCase()}</td>
                      <td>{new Intl.NumberFormat(undefined, { style: "unit", unit: "kilobyte", maximumFractionDigits: 1 }).format(d.size_bytes / 1024)}</td>
                      <td>{d.chunk_count}</td>
                      <td>{d.agent_id ? (agents.data?.items.find((a) => a.id === d.agent_id)?.name ?? "—") : t("admin.knowledge.allAgents")}</td>
                      <td>
                        <button type="button" class="secondary danger" onClick={() => remove(d.id)} aria-label={t("admin.knowledge.remove", { title: d.title })}>
                          {t("admin.delete")}
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Loading>
        </section>
        <KnowledgeSearch agents={agentOptions} />
      </div>
    </AdminLayout>
  );
}

function KnowledgeSearch({ agents }: { agents: { value: string; label: string }[] }) {
  const form = useApiForm();
  const [query, setQuery] = useState("");
  const [agent, setAgent] = useState("");
  const [results, setResults] = useState<Schemas["SearchResult"][] | null>(null);
  const percent = new Intl.NumberFormat(undefined, { style: "percent" });
  const search = (e: Event) => {
    e.preventDefault();
    form.run(async () => {
      const found = await must(api.POST("/api/v1/knowledge/search", { body: { query, agent_id: agent || null } }));
      setResults(found.results);
    });
  };
  return (
    <section class="panel" aria-labelledby="search-title">
      <h2 id="search-title">{t("admin.knowledge.search")}</h2>
      <form class="search-form" ref={form.formRef} noValidate onSubmit={search} role="search">
        <FormError message={form.general} />
        <TextField name="query" label={t("admin.knowledge.query")} value={query} onValue={setQuery} error={form.errors.query} />
        <SelectField name="agent_id" label={t("admin.knowledge.searchAs")} value={agent} options={agents} onValue={setAgent} error={form.errors.agent_id} />
        <button type="submit" disabled={form.busy}>
          {t("admin.knowledge.searchButton")}
        </button>
      </form>
      {results && results.length === 0 && <p class="empty muted">{t("admin.knowledge.noResults")}</p>}
      {results && results.length > 0 && (
        <ol class="passages" aria-label={t("admin.knowledge.results")}>
          {results.map((r) => (
            <li key={r.chunk_id}>
              <header>
                <strong>{r.title}</strong>
                {r.heading && <span class="muted"> › {r.heading}</span>}
                <span class="pill" title={t("admin.knowledge.scoreHint", { score: r.score.toFixed(2) })}>
                  {t("admin.knowledge.relevance", { value: percent.format(r.relevance) })}
                </span>
              </header>
              <p>{r.excerpt}</p>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

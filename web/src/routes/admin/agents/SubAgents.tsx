// An agent's sub-agents: specialists chosen by the topics a message mentions.
import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../../api/client";
import { t } from "../../../i18n";
import { Loading, useLoad } from "../ui/layout";
import { CheckField, FormError, TextArea, TextField, lines, useApiForm } from "../ui/form";

type SubAgent = Schemas["SubAgentView"];

export function SubAgents({ agentId }: { agentId: string }) {
  const list = useLoad(() => must(api.GET("/api/v1/agents/{id}/sub-agents", { params: { path: { id: agentId } } })), [agentId]);
  const [editing, setEditing] = useState<SubAgent | "new" | null>(null);
  return (
    <section class="panel" aria-labelledby="sub-agents-title">
      <h2 id="sub-agents-title">{t("admin.subAgents.title")}</h2>
      <p class="muted">{t("admin.subAgents.intro")}</p>
      <Loading state={list} empty={(p) => (p.items.length ? null : t("admin.subAgents.empty"))}>
        {(page) => (
          <ul class="plain">
            {page.items.map((s) => (
              <li key={s.id}>
                <button type="button" class="link" onClick={() => setEditing(s)}>
                  {s.name}
                </button>{" "}
                <span class="muted">{s.topics.join(", ")}</span> {!s.is_active && <span class="pill">{t("admin.inactive")}</span>}
              </li>
            ))}
          </ul>
        )}
      </Loading>
      {editing ? (
        <SubAgentForm
          key={editing === "new" ? "new" : editing.id}
          agentId={agentId}
          subAgent={editing === "new" ? null : editing}
          onDone={() => {
            setEditing(null);
            list.reload();
          }}
        />
      ) : (
        <button type="button" class="secondary" onClick={() => setEditing("new")}>
          {t("admin.subAgents.add")}
        </button>
      )}
    </section>
  );
}

function SubAgentForm({ agentId, subAgent, onDone }: { agentId: string; subAgent: SubAgent | null; onDone: () => void }) {
  const form = useApiForm();
  const [v, setV] = useState({
    name: subAgent?.name ?? "",
    topics: subAgent?.topics.join(", ") ?? "",
    system_prompt: subAgent?.system_prompt ?? "",
    model: subAgent?.model ?? "",
    is_active: subAgent?.is_active ?? true,
  });
  const set = <K extends keyof typeof v>(k: K) => (value: (typeof v)[K]) => setV({ ...v, [k]: value });
  const submit = (e: Event) => {
    e.preventDefault();
    const body = { name: v.name, topics: lines(v.topics), system_prompt: v.system_prompt, model: v.model.trim() || null, is_active: v.is_active };
    form.run(async () => {
      if (subAgent) await must(api.PATCH("/api/v1/agents/{id}/sub-agents/{sid}", { params: { path: { id: agentId, sid: subAgent.id } }, body }));
      else await must(api.POST("/api/v1/agents/{id}/sub-agents", { params: { path: { id: agentId } }, body }));
      onDone();
    });
  };
  const remove = () =>
    subAgent &&
    form.run(async () => {
      await must(api.DELETE("/api/v1/agents/{id}/sub-agents/{sid}", { params: { path: { id: agentId, sid: subAgent.id } } }));
      onDone();
    });
  return (
    <form class="admin-form inset" ref={form.formRef} noValidate onSubmit={submit} aria-label={t("admin.subAgents.form")}>
      <FormError message={form.general} />
      <TextField name="name" label={t("admin.subAgents.name")} value={v.name} onValue={set("name")} error={form.errors.name} />
      <TextField name="topics" label={t("admin.subAgents.topics")} value={v.topics} onValue={set("topics")} error={form.errors.topics} hint={t("admin.commaList")} />
      <TextArea name="system_prompt" label={t("admin.agent.systemPrompt")} value={v.system_prompt} onValue={set("system_prompt")} error={form.errors.system_prompt} />
      <TextField name="model" label={t("admin.subAgents.model")} value={v.model} onValue={set("model")} error={form.errors.model} />
      <CheckField name="is_active" label={t("admin.active")} checked={v.is_active} onValue={set("is_active")} />
      <div class="row">
        <button type="submit" disabled={form.busy}>
          {t("admin.save")}
        </button>
        <button type="button" class="secondary" onClick={onDone}>
          {t("admin.cancel")}
        </button>
        {subAgent && (
          <button type="button" class="secondary danger" onClick={remove}>
            {t("admin.delete")}
          </button>
        )}
      </div>
    </form>
  );
}

// Automations: when a customer's message matches a keyword or a pattern, actions run before
// any LLM call (answer, tag, move in a funnel, hand over, close).
import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../../api/client";
import { t, type Key } from "../../../i18n";
import { AdminLayout, Loading, useLoad } from "../ui/layout";
import { CheckField, FormError, NumberField, SelectField, TextField, useApiForm } from "../ui/form";

type Automation = Schemas["AutomationView"];
type Action = Schemas["Action"];
type Intent = Schemas["Intent"];
const ACTION_TYPES = ["send_message", "add_tag", "move_to_stage", "assign", "close"] as const;
type ActionType = (typeof ACTION_TYPES)[number];

export default function AutomationsPage() {
  const list = useLoad(() => must(api.GET("/api/v1/automations", { params: { query: { limit: 200 } } })));
  const agents = useLoad(() => must(api.GET("/api/v1/agents", { params: { query: { limit: 200 } } })));
  const [editing, setEditing] = useState<Automation | "new" | null>(null);
  const agentOptions = [{ value: "", label: t("admin.automations.allAgents") }, ...(agents.data?.items ?? []).map((a) => ({ value: a.id, label: `${a.emoji} ${a.name}` }))];
  return (
    <AdminLayout
      title={t("admin.automations.title")}
      actions={
        <button type="button" onClick={() => setEditing("new")}>
          {t("admin.automations.add")}
        </button>
      }
    >
      <p class="muted">{t("admin.automations.intro")}</p>
      {editing && (
        <AutomationForm
          key={editing === "new" ? "new" : editing.id}
          automation={editing === "new" ? null : editing}
          agents={agentOptions}
          onDone={() => {
            setEditing(null);
            list.reload();
          }}
        />
      )}
      <Loading state={list} empty={(p) => (p.items.length ? null : t("admin.automations.empty"))}>
        {(page) => (
          <table class="admin-table">
            <thead>
              <tr>
                <th>{t("admin.automations.name")}</th>
                <th>{t("admin.automations.intents")}</th>
                <th>{t("admin.automations.actions")}</th>
                <th>{t("admin.automations.priority")}</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((a) => (
                <tr key={a.id}>
                  <td>
                    <button type="button" class="link" onClick={() => setEditing(a)}>
                      {a.name}
                    </button>
                    {!a.enabled && <span class="pill">{t("admin.disabled")}</span>}
                  </td>
                  <td>{a.intents.map((i) => (i.type === "keyword" ? i.value : `/${i.pattern}/`)).join(", ")}</td>
                  <td>{a.actions.map((x) => t(`admin.action.${x.type}` as Key)).join(" → ")}</td>
                  <td>{a.priority}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loading>
    </AdminLayout>
  );
}

function AutomationForm({ automation, agents, onDone }: { automation: Automation | null; agents: { value: string; label: string }[]; onDone: () => void }) {
  const form = useApiForm();
  const [name, setName] = useState(automation?.name ?? "");
  const [agent, setAgent] = useState(automation?.agent_id ?? "");
  const [priority, setPriority] = useState<number | null>(automation?.priority ?? 0);
  const [enabled, setEnabled] = useState(automation?.enabled ?? true);
  const [intents, setIntents] = useState<Intent[]>(automation?.intents ?? [{ type: "keyword", value: "" }]);
  const [actions, setActions] = useState<Action[]>(automation?.actions ?? [{ type: "send_message", content: "" }]);
  const changeIntent = (i: number, next: Intent) => setIntents(intents.map((x, j) => (j === i ? next : x)));
  const changeAction = (i: number, next: Action) => setActions(actions.map((x, j) => (j === i ? next : x)));
  const submit = (e: Event) => {
    e.preventDefault();
    const body = { name, agent_id: agent || null, priority: priority ?? 0, enabled, intents, actions };
    form.run(async () => {
      if (automation) await must(api.PATCH("/api/v1/automations/{id}", { params: { path: { id: automation.id } }, body }));
      else await must(api.POST("/api/v1/automations", { body }));
      onDone();
    });
  };
  const remove = () =>
    automation &&
    form.run(async () => {
      await must(api.DELETE("/api/v1/automations/{id}", { params: { path: { id: automation.id } } }));
      onDone();
    });
  return (
    <form class="admin-form panel wide" ref={form.formRef} noValidate onSubmit={submit} aria-label={automation?.name ?? t("admin.automations.add")}>
      <FormError message={form.general} />
      <TextField name="name" label={t("admin.automations.name")} value={name} onValue={setName} error={form.errors.name} />
      <SelectField name="agent_id" label={t("admin.automations.agent")} value={agent} options={agents} onValue={setAgent} error={form.errors.agent_id} />
      <fieldset name="intents" tabIndex={-1}>
        <legend>{t("admin.automations.intents")}</legend>
        {intents.map((intent, i) => (
          <div class="grid3" key={i}>
            <SelectField
              name={`intents.${i}.type`}
              label={t("admin.automations.intentType")}
              value={intent.type}
              options={[
                { value: "keyword", label: t("admin.automations.keyword") },
                { value: "regex", label: t("admin.automations.regex") },
              ]}
              onValue={(type) => changeIntent(i, type === "keyword" ? { type, value: "" } : { type, pattern: "" })}
            />
            <TextField
              name={`intents.${i}.text`}
              label={intent.type === "keyword" ? t("admin.automations.keyword") : t("admin.automations.regex")}
              value={intent.type === "keyword" ? intent.value : intent.pattern}
              onValue={(text) => changeIntent(i, intent.type === "keyword" ? { type: "keyword", value: text } : { type: "regex", pattern: text })}
            />
            <button type="button" class="secondary" onClick={() => setIntents(intents.filter((_, j) => j !== i))}>
              {t("admin.remove")}
            </button>
          </div>
        ))}
        {form.errors.intents && <small class="error" role="alert">{form.errors.intents}</small>}
        <button type="button" class="secondary" onClick={() => setIntents([...intents, { type: "keyword", value: "" }])}>
          {t("admin.automations.addIntent")}
        </button>
      </fieldset>
      <fieldset name="actions" tabIndex={-1}>
        <legend>{t("admin.automations.actions")}</legend>
        {actions.map((action, i) => (
          <div class="grid3" key={i}>
            <SelectField name={`actions.${i}.type`} label={t("admin.automations.actionType")} value={action.type as ActionType} options={ACTION_TYPES.map((v) => ({ value: v, label: t(`admin.action.${v}`) }))} onValue={(type) => changeAction(i, blankAction(type))} />
            <ActionArgument action={action} onAction={(next) => changeAction(i, next)} name={`actions.${i}.value`} />
            <button type="button" class="secondary" onClick={() => setActions(actions.filter((_, j) => j !== i))}>
              {t("admin.remove")}
            </button>
          </div>
        ))}
        {form.errors.actions && <small class="error" role="alert">{form.errors.actions}</small>}
        <button type="button" class="secondary" onClick={() => setActions([...actions, blankAction("send_message")])}>
          {t("admin.automations.addAction")}
        </button>
      </fieldset>
      <NumberField name="priority" label={t("admin.automations.priority")} value={priority} onValue={setPriority} error={form.errors.priority} />
      <CheckField name="enabled" label={t("admin.enabled")} checked={enabled} onValue={setEnabled} />
      <div class="row">
        <button type="submit" disabled={form.busy}>
          {t("admin.save")}
        </button>
        <button type="button" class="secondary" onClick={onDone}>
          {t("admin.cancel")}
        </button>
        {automation && (
          <button type="button" class="secondary danger" onClick={remove}>
            {t("admin.delete")}
          </button>
        )}
      </div>
    </form>
  );
}

function blankAction(type: ActionType): Action {
  switch (type) {
    case "send_message":
      return { type, content: "" };
    case "add_tag":
      return { type, tag: "" };
    case "move_to_stage":
      return { type, stage_id: "" };
    case "assign":
      return { type, user_id: null, agent_id: null };
    case "close":
      return { type };
  }
}

function ActionArgument({ action, onAction, name }: { action: Action; onAction: (a: Action) => void; name: string }) {
  switch (action.type) {
    case "send_message":
      return <TextField name={name} label={t("admin.automations.message")} value={action.content} onValue={(content) => onAction({ ...action, content })} />;
    case "add_tag":
      return <TextField name={name} label={t("admin.automations.tag")} value={action.tag} onValue={(tag) => onAction({ ...action, tag })} />;
    case "move_to_stage":
      return <TextField name={name} label={t("admin.automations.stage")} value={action.stage_id} onValue={(stage_id) => onAction({ ...action, stage_id })} />;
    case "assign":
      return <TextField name={name} label={t("admin.automations.assignee")} value={action.user_id ?? ""} onValue={(user_id) => onAction({ ...action, user_id: user_id || null })} hint={t("admin.automations.assigneeHint")} />;
    default:
      return <span />;
  }
}

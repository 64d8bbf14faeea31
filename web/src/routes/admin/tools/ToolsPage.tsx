// The tenant's tools. The form follows the tool's kind (an HTTP call, a signed webhook, the
// calculator, a knowledge search, a lead or a form to fill, a built-in system tool); the
// arguments' JSON Schema is edited as JSON, and the server's verdict on it shows in place.
import { useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { api, must, type Schemas } from "../../../api/client";
import { t, type Key } from "../../../i18n";
import { AdminLayout, Loading, useLoad } from "../ui/layout";
import { CheckField, FormError, NumberField, SelectField, TextArea, TextField, useApiForm } from "../ui/form";

type Tool = Schemas["ToolView"];
type Kind = Schemas["ToolKind"];
type Config = Record<string, unknown>;
const KINDS: Kind[] = ["http", "webhook", "calculator", "search", "lead_capture", "form", "system"];
const SYSTEM_TOOLS = ["transfer_to_human", "close_conversation", "update_contact", "add_tag", "create_activity", "move_to_stage", "schedule_followup", "search_previous_conversations"];
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
const FIELD_TYPES = ["text", "email", "phone", "number", "date", "boolean", "choice"] as const;
const DEFAULT_SCHEMA = `{\n  "type": "object",\n  "properties": {\n    "query": { "type": "string", "description": "" }\n  },\n  "required": ["query"]\n}`;

export default function ToolsPage() {
  const { params } = useRoute();
  const { route } = useLocation();
  const list = useLoad(() => must(api.GET("/api/v1/tools", { params: { query: { limit: 200 } } })));
  const selected = params.id === "new" ? null : list.data?.items.find((x) => x.id === params.id);
  return (
    <AdminLayout
      title={t("admin.tools.title")}
      actions={
        <a class="button" href="/admin/tools/new">
          {t("admin.tools.add")}
        </a>
      }
    >
      <div class="split">
        <div>
        <Loading state={list} empty={(p) => (p.items.length ? null : t("admin.tools.empty"))}>
          {(page) => (
            <ul class="plain picker">
              {page.items.map((x) => (
                <li key={x.id}>
                  <a href={`/admin/tools/${x.id}`} aria-current={x.id === params.id ? "page" : undefined}>
                    <strong>{x.name}</strong> <span class="pill">{t(`admin.toolKind.${x.tool_type}` as Key)}</span>
                    {!x.enabled && <span class="pill">{t("admin.disabled")}</span>}
                  </a>
                </li>
              ))}
            </ul>
          )}
        </Loading>
        </div>
        {(params.id === "new" || selected) && (
          <ToolForm
            key={selected ? `${selected.id}-${selected.updated_at}` : "new"}
            tool={selected ?? null}
            onSaved={(saved) => {
              list.reload();
              route(`/admin/tools/${saved.id}`, true);
            }}
            onDeleted={() => {
              list.reload();
              route("/admin/tools", true);
            }}
          />
        )}
      </div>
    </AdminLayout>
  );
}

function ToolForm({ tool, onSaved, onDeleted }: { tool: Tool | null; onSaved: (t: Tool) => void; onDeleted: () => void }) {
  const form = useApiForm();
  const [kind, setKind] = useState<Kind>(tool?.tool_type ?? "http");
  const [name, setName] = useState(tool?.name ?? "");
  const [description, setDescription] = useState(tool?.description ?? "");
  const [timeout, setTimeout_] = useState<number | null>(tool?.timeout_ms ?? 10000);
  const [enabled, setEnabled] = useState(tool?.enabled ?? true);
  const [schema, setSchema] = useState(tool ? JSON.stringify(tool.parameters, null, 2) : DEFAULT_SCHEMA);
  const [config, setConfig] = useState<Config>((tool?.config as Config) ?? {});
  const [localError, setLocalError] = useState<Record<string, string>>({});
  const ownSchema = kind === "http" || kind === "webhook";

  const submit = (e: Event) => {
    e.preventDefault();
    let parameters: Config | undefined;
    const local: Record<string, string> = {};
    if (ownSchema) {
      try {
        parameters = JSON.parse(schema);
      } catch (err) {
        local.parameters = t("admin.tools.badJson", { reason: err instanceof Error ? err.message : String(err) });
      }
    }
    for (const key of ["body", "headers", "query"] as const) {
      const raw = config[`${key}_text`];
      if (typeof raw === "string" && raw.trim()) {
        try {
          JSON.parse(raw);
        } catch {
          local.config = t("admin.tools.badJsonIn", { field: t(`admin.tools.http.${key}` as Key) });
        }
      }
    }
    setLocalError(local);
    if (Object.keys(local).length) return;
    // config and parameters are free-form JSON objects; the document types them loosely.
    const body = { name, description, timeout_ms: timeout, enabled, config: cleanConfig(kind, config) as never, ...(ownSchema ? { parameters: parameters as never } : {}) };
    form.run(async () => {
      const saved = tool
        ? await must(api.PATCH("/api/v1/tools/{id}", { params: { path: { id: tool.id } }, body }))
        : await must(api.POST("/api/v1/tools", { body: { ...body, tool_type: kind } }));
      onSaved(saved);
    });
  };
  const remove = () =>
    tool &&
    form.run(async () => {
      await must(api.DELETE("/api/v1/tools/{id}", { params: { path: { id: tool.id } } }));
      onDeleted();
    });
  const errors = { ...form.errors, ...localError };

  return (
    <form class="admin-form wide" ref={form.formRef} noValidate onSubmit={submit} aria-label={tool ? tool.name : t("admin.tools.add")}>
      <FormError message={form.general} />
      <SelectField
        name="tool_type"
        label={t("admin.tools.kind")}
        value={kind}
        options={KINDS.map((k) => ({ value: k, label: t(`admin.toolKind.${k}` as Key) }))}
        onValue={(k) => {
          if (tool) return;
          setKind(k);
          setConfig({});
          if (k === "system") setName(SYSTEM_TOOLS[0]);
        }}
        error={errors.tool_type}
        hint={tool ? t("admin.tools.kindFixed") : t(`admin.toolKind.${kind}.hint` as Key)}
      />
      {kind === "system" ? (
        <SelectField name="name" label={t("admin.tools.systemName")} value={name} options={SYSTEM_TOOLS.map((s) => ({ value: s, label: s }))} onValue={setName} error={errors.name} />
      ) : (
        <TextField name="name" label={t("admin.tools.name")} value={name} onValue={setName} error={errors.name} hint={t("admin.tools.nameHint")} />
      )}
      <TextArea name="description" label={t("admin.tools.description")} value={description} onValue={setDescription} error={errors.description} rows={2} hint={t("admin.tools.descriptionHint")} />
      <fieldset name="config" tabIndex={-1} class={errors.config ? "invalid" : ""}>
        <legend>{t("admin.tools.config")}</legend>
        <ConfigFields kind={kind} config={config} onConfig={setConfig} />
        {errors.config && (
          <small class="error" role="alert">
            {errors.config}
          </small>
        )}
      </fieldset>
      {ownSchema && <TextArea name="parameters" code label={t("admin.tools.parameters")} value={schema} onValue={setSchema} error={errors.parameters} rows={10} hint={t("admin.tools.parametersHint")} />}
      <NumberField name="timeout_ms" label={t("admin.tools.timeout")} value={timeout} onValue={setTimeout_} error={errors.timeout_ms} />
      <CheckField name="enabled" label={t("admin.enabled")} checked={enabled} onValue={setEnabled} />
      <div class="row">
        <button type="submit" disabled={form.busy}>
          {t("admin.save")}
        </button>
        {tool && (
          <button type="button" class="secondary danger" onClick={remove}>
            {t("admin.delete")}
          </button>
        )}
      </div>
    </form>
  );
}

/** The config as the API takes it: JSON typed in text boxes parsed, empty values left out. */
function cleanConfig(kind: Kind, config: Config): Config {
  const out: Config = {};
  for (const [key, value] of Object.entries(config)) {
    if (key.endsWith("_text")) {
      if (typeof value === "string" && value.trim()) out[key.slice(0, -5)] = JSON.parse(value);
    } else if (value !== "" && value !== null && value !== undefined) out[key] = value;
  }
  if ((kind === "lead_capture" || kind === "form") && Array.isArray(out.fields)) {
    out.fields = (out.fields as Config[]).map((f) => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== "" && v !== undefined)));
  }
  return out;
}

function ConfigFields({ kind, config, onConfig }: { kind: Kind; config: Config; onConfig: (c: Config) => void }) {
  const str = (key: string) => (typeof config[key] === "string" ? (config[key] as string) : config[key] == null ? "" : JSON.stringify(config[key], null, 2));
  const set = (key: string) => (value: unknown) => onConfig({ ...config, [key]: value });
  // JSON-valued keys are edited as text (`<key>_text`) and parsed on save.
  const json = (key: string) => (config[`${key}_text`] as string | undefined) ?? (config[key] === undefined ? "" : JSON.stringify(config[key], null, 2));
  const setJson = (key: string) => (value: string) => {
    const next = { ...config, [`${key}_text`]: value };
    delete next[key];
    onConfig(next);
  };
  switch (kind) {
    case "http":
      return (
        <>
          <SelectField name="config.method" label={t("admin.tools.http.method")} value={(config.method as string) ?? "GET"} options={METHODS.map((m) => ({ value: m, label: m }))} onValue={set("method")} />
          <TextField name="config.url" label={t("admin.tools.http.url")} value={str("url")} onValue={set("url")} hint={t("admin.tools.http.urlHint")} placeholder="https://api.example.com/orders/{{order_id}}" />
          <TextArea name="config.headers" code label={t("admin.tools.http.headers")} value={json("headers")} onValue={setJson("headers")} rows={3} hint={t("admin.tools.http.headersHint")} />
          <TextArea name="config.query" code label={t("admin.tools.http.query")} value={json("query")} onValue={setJson("query")} rows={2} />
          <TextArea name="config.body" code label={t("admin.tools.http.body")} value={json("body")} onValue={setJson("body")} rows={3} hint={t("admin.tools.http.bodyHint")} />
        </>
      );
    case "webhook":
      return (
        <>
          <TextField name="config.url" label={t("admin.tools.http.url")} value={str("url")} onValue={set("url")} />
          <TextField name="config.secret" type="password" autoComplete="off" label={t("admin.tools.webhook.secret")} value={str("secret")} onValue={set("secret")} hint={t("admin.tools.webhook.secretHint")} />
        </>
      );
    case "search":
      return (
        <>
          <NumberField name="config.limit" label={t("admin.tools.search.limit")} value={config.limit as number | null} onValue={set("limit")} />
          <NumberField name="config.min_score" step="0.05" label={t("admin.tools.search.minScore")} value={config.min_score as number | null} onValue={set("min_score")} />
        </>
      );
    case "lead_capture":
    case "form":
      return <FormFields config={config} onConfig={onConfig} />;
    default:
      return <p class="muted">{t("admin.tools.noConfig")}</p>;
  }
}

type FormField = { name: string; label?: string; type: string; required?: boolean; options?: string[] };

function FormFields({ config, onConfig }: { config: Config; onConfig: (c: Config) => void }) {
  const fields = (config.fields as FormField[] | undefined) ?? [];
  const setFields = (next: FormField[]) => onConfig({ ...config, fields: next });
  const change = (i: number, patch: Partial<FormField>) => setFields(fields.map((f, j) => (j === i ? { ...f, ...patch } : f)));
  return (
    <>
      <TextField name="config.title" label={t("admin.tools.form.title")} value={(config.title as string) ?? ""} onValue={(title) => onConfig({ ...config, title })} />
      {fields.map((f, i) => (
        <div class="grid4" key={i}>
          <TextField name={`config.fields.${i}.name`} label={t("admin.tools.form.fieldName")} value={f.name} onValue={(name) => change(i, { name })} />
          <TextField name={`config.fields.${i}.label`} label={t("admin.tools.form.fieldLabel")} value={f.label ?? ""} onValue={(label) => change(i, { label })} />
          <SelectField name={`config.fields.${i}.type`} label={t("admin.tools.form.fieldType")} value={f.type} options={FIELD_TYPES.map((v) => ({ value: v, label: v }))} onValue={(type) => change(i, { type })} />
          <CheckField name={`config.fields.${i}.required`} label={t("admin.wizard.fieldRequired")} checked={Boolean(f.required)} onValue={(required) => change(i, { required })} />
        </div>
      ))}
      <button type="button" class="secondary" onClick={() => setFields([...fields, { name: "", type: "text" }])}>
        {t("admin.wizard.addField")}
      </button>
    </>
  );
}

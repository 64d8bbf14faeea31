// Channels: Evolution (WhatsApp), generic signed webhooks and the web chat. Each shows where
// the channel sends its events; a generic integration's signing secret is drawn here and
// shown once (the API never returns it).
import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../../api/client";
import { t, type Key } from "../../../i18n";
import { AdminLayout, Loading, useLoad } from "../ui/layout";
import { CheckField, FormError, SecretOnce, SelectField, TextField, randomSecret, useApiForm } from "../ui/form";

type Integration = Schemas["IntegrationView"];
type Kind = Schemas["IntegrationKind"];
const KINDS: Kind[] = ["webchat", "evolution", "generic"];

export default function IntegrationsPage() {
  const list = useLoad(() => must(api.GET("/api/v1/integrations", { params: { query: { limit: 200 } } })));
  const agents = useLoad(() => must(api.GET("/api/v1/agents", { params: { query: { limit: 200 } } })));
  const [secret, setSecret] = useState<{ name: string; value: string } | null>(null);
  const [adding, setAdding] = useState(false);
  const agentOptions = [{ value: "", label: t("admin.integration.noAgent") }, ...(agents.data?.items ?? []).map((a) => ({ value: a.id, label: `${a.emoji} ${a.name}` }))];
  return (
    <AdminLayout
      title={t("admin.integrations.title")}
      actions={
        !adding && (
          <button type="button" onClick={() => setAdding(true)}>
            {t("admin.integrations.add")}
          </button>
        )
      }
    >
      {secret && <SecretOnce label={t("admin.integration.secretOf", { name: secret.name })} value={secret.value} onDismiss={() => setSecret(null)} />}
      {adding && (
        <NewIntegration
          agents={agentOptions}
          onCancel={() => setAdding(false)}
          onCreated={(created, shown) => {
            setAdding(false);
            if (shown) setSecret({ name: created.name, value: shown });
            list.reload();
          }}
        />
      )}
      <Loading state={list} empty={(p) => (p.items.length ? null : t("admin.integrations.empty"))}>
        {(page) => (
          <div class="cards">
            {page.items.map((i) => (
              <IntegrationCard key={`${i.id}-${i.updated_at}`} integration={i} agents={agentOptions} onSecret={(value) => setSecret({ name: i.name, value })} onChanged={list.reload} />
            ))}
          </div>
        )}
      </Loading>
    </AdminLayout>
  );
}

function NewIntegration({ agents, onCancel, onCreated }: { agents: { value: string; label: string }[]; onCancel: () => void; onCreated: (i: Integration, secret: string | null) => void }) {
  const form = useApiForm();
  const [v, setV] = useState({ kind: "webchat" as Kind, name: "", base_url: "", instance: "", api_key: "", outbound_url: "", default_agent_id: "" });
  const set = <K extends keyof typeof v>(k: K) => (value: (typeof v)[K]) => setV({ ...v, [k]: value });
  const submit = (e: Event) => {
    e.preventDefault();
    const secret = v.kind === "generic" ? randomSecret() : null;
    const body: Schemas["CreateIntegration"] = { kind: v.kind, name: v.name, default_agent_id: v.default_agent_id || null };
    if (v.kind === "evolution") Object.assign(body, { base_url: v.base_url || null, instance: v.instance || null, api_key: v.api_key || null });
    if (v.kind === "generic") Object.assign(body, { secret, outbound_url: v.outbound_url || null });
    form.run(async () => {
      const created = await must(api.POST("/api/v1/integrations", { body }));
      onCreated(created, secret);
    });
  };
  return (
    <form class="admin-form panel" ref={form.formRef} noValidate onSubmit={submit} aria-label={t("admin.integrations.add")}>
      <FormError message={form.general} />
      <SelectField name="kind" label={t("admin.integration.kind")} value={v.kind} options={KINDS.map((k) => ({ value: k, label: t(`admin.integration.kind.${k}` as Key) }))} onValue={set("kind")} error={form.errors.kind} />
      <TextField name="name" label={t("admin.integration.name")} value={v.name} onValue={set("name")} error={form.errors.name} />
      {v.kind === "evolution" && (
        <>
          <TextField name="base_url" label={t("admin.integration.evolutionUrl")} value={v.base_url} onValue={set("base_url")} error={form.errors.base_url} placeholder="https://evolution.example.com" />
          <TextField name="instance" label={t("admin.integration.instance")} value={v.instance} onValue={set("instance")} error={form.errors.instance} />
          <TextField name="api_key" type="password" autoComplete="off" label={t("admin.integration.apiKey")} value={v.api_key} onValue={set("api_key")} error={form.errors.api_key} />
        </>
      )}
      {v.kind === "generic" && (
        <>
          <TextField name="outbound_url" label={t("admin.integration.outboundUrl")} value={v.outbound_url} onValue={set("outbound_url")} error={form.errors.outbound_url} hint={t("admin.integration.outboundHint")} />
          <p class="muted">{t("admin.integration.secretDrawn")}</p>
        </>
      )}
      <SelectField name="default_agent_id" label={t("admin.integration.defaultAgent")} value={v.default_agent_id} options={agents} onValue={set("default_agent_id")} error={form.errors.default_agent_id} />
      <div class="row">
        <button type="submit" disabled={form.busy}>
          {t("admin.create")}
        </button>
        <button type="button" class="secondary" onClick={onCancel}>
          {t("admin.cancel")}
        </button>
      </div>
    </form>
  );
}

function IntegrationCard({ integration: i, agents, onSecret, onChanged }: { integration: Integration; agents: { value: string; label: string }[]; onSecret: (s: string) => void; onChanged: () => void }) {
  const form = useApiForm();
  const [agent, setAgent] = useState(i.default_agent_id ?? "");
  const [enabled, setEnabled] = useState(i.enabled);
  const url = `${location.origin}${i.inbound_path}`;
  const save = (e: Event) => {
    e.preventDefault();
    form.run(async () => {
      await must(api.PATCH("/api/v1/integrations/{id}", { params: { path: { id: i.id } }, body: { default_agent_id: agent || null, enabled } }));
      onChanged();
    });
  };
  const rotate = () => {
    const secret = randomSecret();
    form.run(async () => {
      await must(api.PATCH("/api/v1/integrations/{id}", { params: { path: { id: i.id } }, body: { secret } }));
      onSecret(secret);
    });
  };
  const remove = () =>
    form.run(async () => {
      await must(api.DELETE("/api/v1/integrations/{id}", { params: { path: { id: i.id } } }));
      onChanged();
    });
  return (
    <form class="panel admin-form" ref={form.formRef} noValidate onSubmit={save} aria-label={i.name}>
      <h2>
        {i.name} <span class="pill">{t(`admin.integration.kind.${i.kind}` as Key)}</span>
      </h2>
      <FormError message={form.general} />
      <dl class="facts">
        <dt>{i.kind === "webchat" ? t("admin.integration.sessionUrl") : t("admin.integration.webhookUrl")}</dt>
        <dd>
          <code>{url}</code>
        </dd>
        {i.kind === "webchat" && (
          <>
            <dt>{t("admin.integration.chatPage")}</dt>
            <dd>
              <a href={`/chat/${i.id}`} target="_blank" rel="noopener">
                {`${location.origin}/chat/${i.id}`}
              </a>
            </dd>
            <dt>{t("admin.integration.widget")}</dt>
            <dd>
              <code>{`<script src="${location.origin}/widget.js" data-integration="${i.id}" async></script>`}</code>
            </dd>
          </>
        )}
        {i.kind === "evolution" && (
          <>
            <dt>{t("admin.integration.instance")}</dt>
            <dd>{i.instance}</dd>
          </>
        )}
        {i.kind === "generic" && (
          <>
            <dt>{t("admin.integration.secret")}</dt>
            <dd>{i.has_secret ? t("admin.integration.secretSet") : "—"}</dd>
          </>
        )}
      </dl>
      <SelectField name="default_agent_id" label={t("admin.integration.defaultAgent")} value={agent} options={agents} onValue={setAgent} error={form.errors.default_agent_id} />
      <CheckField name="enabled" label={t("admin.enabled")} checked={enabled} onValue={setEnabled} />
      <div class="row">
        <button type="submit" disabled={form.busy}>
          {t("admin.save")}
        </button>
        {i.kind === "generic" && (
          <button type="button" class="secondary" onClick={rotate} disabled={form.busy}>
            {t("admin.integration.rotate")}
          </button>
        )}
        <button type="button" class="secondary danger" onClick={remove} disabled={form.busy}>
          {t("admin.delete")}
        </button>
      </div>
    </form>
  );
}

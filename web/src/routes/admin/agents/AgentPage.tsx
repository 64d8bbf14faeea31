// One AI agent: what it is, its model and provider, prompt, limits and settings (one form,
// the API's errors next to each field), its public link, a test chat, its sub-agents and
// tools.
import { useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { api, must, type Schemas } from "../../../api/client";
import { t } from "../../../i18n";
import { AdminLayout, Loading, useLoad } from "../ui/layout";
import { CheckField, FormError, NumberField, SelectField, TextArea, TextField, lines, useApiForm } from "../ui/form";
import { AGENT_TYPES, ON_LIMIT, PROVIDERS, STATUSES } from "./words";
import { SandboxChat } from "./SandboxChat";
import { QrCode } from "./QrCode";
import { SubAgents } from "./SubAgents";
import { AgentTools } from "./AgentTools";

type Agent = Schemas["AgentView"];

export default function AgentPage() {
  const { params } = useRoute();
  const agent = useLoad(() => must(api.GET("/api/v1/agents/{id}", { params: { path: { id: params.id } } })), [params.id]);
  return (
    <AdminLayout title={agent.data ? `${agent.data.emoji} ${agent.data.name}` : t("admin.agents.title")}>
      <Loading state={agent}>
        {(a) => (
          <div class="agent-page">
            <div>
              <AgentForm key={a.id} agent={a} onSaved={agent.set} />
              {a.slug && <PublicLink agentId={a.id} />}
              <SubAgents agentId={a.id} />
              <AgentTools agentId={a.id} />
            </div>
            <SandboxChat agentId={a.id} name={a.name} />
          </div>
        )}
      </Loading>
    </AdminLayout>
  );
}

function PublicLink({ agentId }: { agentId: string }) {
  const wizard = useLoad(() => must(api.GET("/api/v1/agents/wizard/{id}", { params: { path: { id: agentId } } })), [agentId]);
  const url = wizard.data?.public_url;
  if (!url) return null;
  return (
    <section class="panel">
      <h2>{t("admin.publish.link")}</h2>
      <QrCode url={url} size={160} />
      <p>
        <a href={url} target="_blank" rel="noopener">
          {url}
        </a>
      </p>
    </section>
  );
}

function AgentForm({ agent, onSaved }: { agent: Agent; onSaved: (a: Agent) => void }) {
  const form = useApiForm();
  const [saved, setSaved] = useState(false);
  const [v, setV] = useState({
    name: agent.name,
    emoji: agent.emoji,
    description: agent.description,
    agent_type: agent.agent_type,
    status: agent.status,
    enabled: agent.enabled,
    system_prompt: agent.system_prompt,
    model: agent.model,
    temperature: agent.temperature as number | null,
    max_tokens: agent.max_tokens as number | null,
    max_conversations: agent.max_conversations as number | null,
    specialties: agent.specialties.join(", "),
    provider_kind: agent.provider.kind,
    base_url: agent.provider.base_url ?? "",
    api_key: "",
  });
  const [settings, setSettings] = useState<Schemas["AgentSettings"]>(agent.settings);
  const [limits, setLimits] = useState<Schemas["AgentLimits"]>(agent.limits);
  const set = <K extends keyof typeof v>(k: K) => (value: (typeof v)[K]) => {
    setSaved(false);
    setV({ ...v, [k]: value });
  };
  const setting = <K extends keyof Schemas["AgentSettings"]>(k: K) => (value: Schemas["AgentSettings"][K] | null) => {
    setSaved(false);
    setSettings({ ...settings, [k]: value ?? undefined });
  };
  const limit = <K extends keyof Schemas["AgentLimits"]>(k: K) => (value: number | null) => {
    setSaved(false);
    setLimits({ ...limits, [k]: value });
  };

  const submit = (e: Event) => {
    e.preventDefault();
    const provider: Schemas["ProviderPatch"] = { kind: v.provider_kind };
    if (v.base_url !== (agent.provider.base_url ?? "")) provider.base_url = v.base_url.trim() ? v.base_url.trim() : null;
    if (v.api_key) provider.api_key = v.api_key;
    const body: Schemas["UpdateAgent"] = {
      name: v.name,
      emoji: v.emoji,
      description: v.description,
      agent_type: v.agent_type,
      status: v.status,
      enabled: v.enabled,
      system_prompt: v.system_prompt,
      model: v.model,
      temperature: v.temperature,
      max_tokens: v.max_tokens,
      max_conversations: v.max_conversations,
      specialties: lines(v.specialties),
      provider,
      settings: { ...settings, welcome_message: settings.welcome_message?.trim() ? settings.welcome_message : null },
      limits,
    };
    form.run(async () => {
      const updated = await must(api.PATCH("/api/v1/agents/{id}", { params: { path: { id: agent.id } }, body }));
      setSaved(true);
      setV((current) => ({ ...current, api_key: "" }));
      onSaved(updated);
    });
  };

  const e = form.errors;
  return (
    <form class="admin-form wide" ref={form.formRef} noValidate onSubmit={submit} aria-label={t("admin.agent.form")}>
      <FormError message={form.general} />
      <fieldset>
        <legend>{t("admin.agent.identity")}</legend>
        <div class="grid2">
          <TextField name="name" label={t("admin.agent.name")} value={v.name} onValue={set("name")} error={e.name} />
          <TextField name="emoji" label={t("admin.agent.emoji")} value={v.emoji} onValue={set("emoji")} error={e.emoji} />
          <SelectField name="agent_type" label={t("admin.agent.type")} value={v.agent_type} options={AGENT_TYPES()} onValue={set("agent_type")} error={e.agent_type} />
          <SelectField name="status" label={t("admin.agent.status")} value={v.status} options={STATUSES()} onValue={set("status")} error={e.status} />
        </div>
        <TextArea name="description" label={t("admin.agent.description")} value={v.description} onValue={set("description")} error={e.description} rows={2} />
        <CheckField name="enabled" label={t("admin.agent.enabled")} checked={v.enabled} onValue={set("enabled")} error={e.enabled} />
      </fieldset>
      <fieldset>
        <legend>{t("admin.agent.model")}</legend>
        <div class="grid2">
          <SelectField name="provider.kind" label={t("admin.agent.provider")} value={v.provider_kind} options={PROVIDERS()} onValue={set("provider_kind")} error={e["provider.kind"]} hint={v.provider_kind === "retrieval" ? t("admin.agent.retrievalHint") : undefined} />
          <TextField name="model" label={t("admin.agent.modelName")} value={v.model} onValue={set("model")} error={e.model} />
          <TextField name="provider.base_url" label={t("admin.agent.baseUrl")} value={v.base_url} onValue={set("base_url")} error={e["provider.base_url"]} hint={t("admin.agent.baseUrlHint")} />
          <TextField
            name="provider.api_key"
            type="password"
            autoComplete="off"
            label={t("admin.agent.apiKey")}
            value={v.api_key}
            onValue={set("api_key")}
            error={e["provider.api_key"]}
            hint={agent.provider.has_api_key ? t("admin.agent.apiKeySet") : t("admin.agent.apiKeyUnset")}
          />
          <NumberField name="temperature" step="0.1" label={t("admin.agent.temperature")} value={v.temperature} onValue={set("temperature")} error={e.temperature} />
          <NumberField name="max_tokens" label={t("admin.agent.maxTokens")} value={v.max_tokens} onValue={set("max_tokens")} error={e.max_tokens} />
        </div>
      </fieldset>
      <fieldset>
        <legend>{t("admin.agent.prompt")}</legend>
        <TextArea name="system_prompt" label={t("admin.agent.systemPrompt")} value={v.system_prompt} onValue={set("system_prompt")} error={e.system_prompt} rows={8} />
      </fieldset>
      <fieldset>
        <legend>{t("admin.agent.limits")}</legend>
        <p class="muted">{t("admin.agent.limitsHint")}</p>
        <div class="grid2">
          <NumberField name="max_conversations" label={t("admin.agent.maxConversations")} value={v.max_conversations} onValue={set("max_conversations")} error={e.max_conversations} />
          <NumberField name="limits.requests_per_minute" label={t("admin.limits.perMinute")} value={limits.requests_per_minute} onValue={limit("requests_per_minute")} error={e["limits.requests_per_minute"]} />
          <NumberField name="limits.requests_per_hour" label={t("admin.limits.perHour")} value={limits.requests_per_hour} onValue={limit("requests_per_hour")} error={e["limits.requests_per_hour"]} />
          <NumberField name="limits.requests_per_day" label={t("admin.limits.perDay")} value={limits.requests_per_day} onValue={limit("requests_per_day")} error={e["limits.requests_per_day"]} />
          <NumberField name="limits.daily_cost_usd" step="0.01" label={t("admin.limits.dailyCost")} value={limits.daily_cost_usd} onValue={limit("daily_cost_usd")} error={e["limits.daily_cost_usd"]} />
          <NumberField name="limits.monthly_cost_usd" step="0.01" label={t("admin.limits.monthlyCost")} value={limits.monthly_cost_usd} onValue={limit("monthly_cost_usd")} error={e["limits.monthly_cost_usd"]} />
          <SelectField name="settings.on_limit" label={t("admin.settings.onLimit")} value={settings.on_limit ?? "wait"} options={ON_LIMIT()} onValue={setting("on_limit")} error={e["settings.on_limit"]} />
        </div>
      </fieldset>
      <fieldset>
        <legend>{t("admin.agent.settings")}</legend>
        <div class="grid2">
          <NumberField name="settings.context_timer_seconds" label={t("admin.settings.contextTimer")} value={settings.context_timer_seconds} onValue={setting("context_timer_seconds")} error={e["settings.context_timer_seconds"]} />
          <NumberField name="settings.history_window" label={t("admin.settings.historyWindow")} value={settings.history_window} onValue={setting("history_window")} error={e["settings.history_window"]} />
          <NumberField name="settings.response_delay_min_seconds" label={t("admin.settings.delayMin")} value={settings.response_delay_min_seconds} onValue={setting("response_delay_min_seconds")} error={e["settings.response_delay_min_seconds"]} />
          <NumberField name="settings.response_delay_max_seconds" label={t("admin.settings.delayMax")} value={settings.response_delay_max_seconds} onValue={setting("response_delay_max_seconds")} error={e["settings.response_delay_max_seconds"]} />
          <NumberField name="settings.memory_every_n_messages" label={t("admin.settings.memoryEvery")} value={settings.memory_every_n_messages} onValue={setting("memory_every_n_messages")} error={e["settings.memory_every_n_messages"]} />
          <NumberField name="settings.escalate_after_messages" label={t("admin.settings.escalateAfter")} value={settings.escalate_after_messages} onValue={setting("escalate_after_messages")} error={e["settings.escalate_after_messages"]} />
          <NumberField name="settings.max_tool_iterations" label={t("admin.settings.maxToolIterations")} value={settings.max_tool_iterations} onValue={setting("max_tool_iterations")} error={e["settings.max_tool_iterations"]} />
        </div>
        <TextArea name="settings.welcome_message" label={t("admin.agent.welcome")} value={settings.welcome_message ?? ""} onValue={setting("welcome_message")} error={e["settings.welcome_message"]} rows={2} />
        <TextField name="specialties" label={t("admin.agent.specialties")} value={v.specialties} onValue={set("specialties")} error={e.specialties} hint={t("admin.commaList")} />
      </fieldset>
      <div class="row">
        <button type="submit" disabled={form.busy}>
          {t("admin.save")}
        </button>
        {saved && (
          <span role="status" class="saved">
            {t("admin.saved")}
          </span>
        )}
      </div>
    </form>
  );
}

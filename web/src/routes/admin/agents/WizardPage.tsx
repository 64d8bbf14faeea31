// The four-step wizard of a new AI agent (who it is · how it speaks · what it collects ·
// where it answers), then a test chat with the draft and publishing: the public link and
// its QR code. One URL per step (/admin/agents/{id}/wizard/{n}); reload keeps the step.
import { useEffect, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { api, must, type Schemas } from "../../../api/client";
import { t, type Key } from "../../../i18n";
import { AdminLayout, Loading, useLoad } from "../ui/layout";
import { CheckField, CheckGroup, FormError, SelectField, TextArea, TextField, lines, useApiForm } from "../ui/form";
import { SandboxChat } from "./SandboxChat";
import { PublishedCard } from "./PublishedCard";
import { AGENT_TYPES, FIELD_TYPES, TONES, TRAITS } from "./words";

type Wizard = Schemas["WizardView"];
const STEPS = [1, 2, 3, 4, 5] as const;

export default function WizardPage() {
  const { params } = useRoute();
  const id = params.id;
  const step = Math.min(5, Math.max(1, Number(params.step) || 1));
  const wizard = useLoad(() => must(api.GET("/api/v1/agents/wizard/{id}", { params: { path: { id } } })), [id]);
  const name = wizard.data?.steps.step_1?.name;

  return (
    <AdminLayout title={name ? t("admin.wizard.titleNamed", { name }) : t("admin.wizard.title")}>
      <Loading state={wizard}>
        {(w) => (
          <>
            <StepNav wizard={w} step={step} />
            {w.status !== "draft" && step < 5 ? (
              <p class="muted">{t("admin.wizard.alreadyPublished")}</p>
            ) : step === 1 ? (
              <Step1Form wizard={w} onSaved={wizard.set} />
            ) : step === 2 ? (
              <Step2Form wizard={w} onSaved={wizard.set} />
            ) : step === 3 ? (
              <Step3Form wizard={w} onSaved={wizard.set} />
            ) : step === 4 ? (
              <Step4Form wizard={w} onSaved={wizard.set} />
            ) : (
              <TestAndPublish wizard={w} onChanged={wizard.reload} />
            )}
          </>
        )}
      </Loading>
    </AdminLayout>
  );
}

const STEP_LABELS: Record<number, Key> = {
  1: "admin.wizard.step1",
  2: "admin.wizard.step2",
  3: "admin.wizard.step3",
  4: "admin.wizard.step4",
  5: "admin.wizard.step5",
};

function StepNav({ wizard, step }: { wizard: Wizard; step: number }) {
  const reachable = (n: number) => n <= (wizard.next_step ?? 5);
  return (
    <ol class="steps" aria-label={t("admin.wizard.progress")}>
      {STEPS.map((n) => (
        <li key={n} class={wizard.completed_steps.includes(n) ? "done" : ""}>
          {reachable(n) ? (
            <a href={`/admin/agents/${wizard.id}/wizard/${n}`} aria-current={n === step ? "step" : undefined}>
              {n}. {t(STEP_LABELS[n])}
            </a>
          ) : (
            <span aria-disabled="true">
              {n}. {t(STEP_LABELS[n])}
            </span>
          )}
        </li>
      ))}
    </ol>
  );
}

/** Saves a step and moves on to the next one. */
function useStep(wizard: Wizard, n: 1 | 2 | 3 | 4, onSaved: (w: Wizard) => void) {
  const form = useApiForm();
  const { route } = useLocation();
  const save = (body: unknown) =>
    form.run(async () => {
      const saved = await must(
        api.PUT("/api/v1/agents/wizard/{id}/step/{step}", {
          params: { path: { id: wizard.id, step: String(n) } },
          // The step's body depends on the step; the document types it as any object.
          body: body as never,
        }),
      );
      onSaved(saved);
      route(`/admin/agents/${wizard.id}/wizard/${n + 1}`);
    });
  return { form, save };
}

function Buttons({ busy, back }: { busy: boolean; back?: string }) {
  return (
    <div class="row">
      {back && (
        <a class="button secondary" href={back}>
          {t("admin.wizard.back")}
        </a>
      )}
      <button type="submit" disabled={busy}>
        {t("admin.wizard.next")}
      </button>
    </div>
  );
}

function Step1Form({ wizard, onSaved }: { wizard: Wizard; onSaved: (w: Wizard) => void }) {
  const saved = wizard.steps.step_1;
  const [v, setV] = useState({
    name: saved?.name ?? "",
    template: (saved?.template ?? "SUPPORT") as Schemas["AgentType"],
    niche: saved?.niche ?? "",
    description: saved?.description ?? "",
    emoji: saved?.emoji ?? "🤖",
  });
  const { form, save } = useStep(wizard, 1, onSaved);
  const set = <K extends keyof typeof v>(k: K) => (value: (typeof v)[K]) => setV({ ...v, [k]: value });
  return (
    <form class="admin-form" ref={form.formRef} noValidate onSubmit={(e) => (e.preventDefault(), save(v))}>
      <h2>{t("admin.wizard.step1.title")}</h2>
      <FormError message={form.general} />
      <TextField name="name" label={t("admin.agent.name")} value={v.name} onValue={set("name")} error={form.errors.name} required />
      <SelectField name="template" label={t("admin.wizard.template")} value={v.template} options={AGENT_TYPES()} onValue={set("template")} error={form.errors.template} hint={t("admin.wizard.templateHint")} />
      <TextField name="niche" label={t("admin.wizard.niche")} value={v.niche} onValue={set("niche")} error={form.errors.niche} hint={t("admin.wizard.nicheHint")} required />
      <TextArea name="description" label={t("admin.agent.description")} value={v.description} onValue={set("description")} error={form.errors.description} rows={2} />
      <TextField name="emoji" label={t("admin.agent.emoji")} value={v.emoji} onValue={set("emoji")} error={form.errors.emoji} />
      <Buttons busy={form.busy} />
    </form>
  );
}

function Step2Form({ wizard, onSaved }: { wizard: Wizard; onSaved: (w: Wizard) => void }) {
  const saved = wizard.steps.step_2;
  const [v, setV] = useState({
    personality: (saved?.personality ?? ["friendly"]) as Schemas["Trait"][],
    tone: (saved?.tone ?? "neutral") as Schemas["Tone"],
    language: (saved?.language ?? "pt-BR") as Schemas["Language"],
    instructions: saved?.instructions ?? "",
  });
  const { form, save } = useStep(wizard, 2, onSaved);
  const set = <K extends keyof typeof v>(k: K) => (value: (typeof v)[K]) => setV({ ...v, [k]: value });
  return (
    <form class="admin-form" ref={form.formRef} noValidate onSubmit={(e) => (e.preventDefault(), save(v))}>
      <h2>{t("admin.wizard.step2.title")}</h2>
      <FormError message={form.general} />
      <CheckGroup name="personality" label={t("admin.wizard.personality")} values={v.personality} options={TRAITS()} onValue={set("personality")} error={form.errors.personality} />
      <SelectField name="tone" label={t("admin.wizard.tone")} value={v.tone} options={TONES()} onValue={set("tone")} error={form.errors.tone} />
      <SelectField
        name="language"
        label={t("admin.wizard.language")}
        value={v.language}
        options={[
          { value: "pt-BR", label: "Português (Brasil)" },
          { value: "en", label: "English" },
        ]}
        onValue={set("language")}
        error={form.errors.language}
      />
      <TextArea name="instructions" label={t("admin.wizard.instructions")} value={v.instructions} onValue={set("instructions")} error={form.errors.instructions} hint={t("admin.wizard.instructionsHint")} />
      <Buttons busy={form.busy} back={`/admin/agents/${wizard.id}/wizard/1`} />
    </form>
  );
}

type CustomField = Schemas["CustomField"];

function Step3Form({ wizard, onSaved }: { wizard: Wizard; onSaved: (w: Wizard) => void }) {
  const [fields, setFields] = useState<CustomField[]>(wizard.steps.step_3?.custom_fields ?? []);
  const { form, save } = useStep(wizard, 3, onSaved);
  const change = (i: number, patch: Partial<CustomField>) => setFields(fields.map((f, j) => (j === i ? { ...f, ...patch } : f)));
  return (
    <form class="admin-form" ref={form.formRef} noValidate onSubmit={(e) => (e.preventDefault(), save({ custom_fields: fields }))}>
      <h2>{t("admin.wizard.step3.title")}</h2>
      <p class="muted">{t("admin.wizard.step3.intro")}</p>
      <FormError message={form.general} />
      {fields.map((f, i) => (
        <fieldset key={i} class="item">
          <legend>{t("admin.wizard.field", { n: i + 1 })}</legend>
          <TextField name={`custom_fields[${i}].label`} label={t("admin.wizard.fieldLabel")} value={f.label} onValue={(label) => change(i, { label })} error={form.errors[`custom_fields[${i}].label`]} />
          <TextField name={`custom_fields[${i}].key`} label={t("admin.wizard.fieldKey")} value={f.key} onValue={(key) => change(i, { key })} error={form.errors[`custom_fields[${i}].key`]} hint={t("admin.wizard.fieldKeyHint")} />
          <SelectField name={`custom_fields[${i}].type`} label={t("admin.wizard.fieldType")} value={f.type} options={FIELD_TYPES()} onValue={(type) => change(i, { type })} error={form.errors[`custom_fields[${i}].type`]} />
          {f.type === "select" && (
            <TextField
              name={`custom_fields[${i}].options`}
              label={t("admin.wizard.fieldOptions")}
              value={(f.options ?? []).join(", ")}
              onValue={(o) => change(i, { options: lines(o) })}
              error={form.errors[`custom_fields[${i}].options`]}
            />
          )}
          <CheckField name={`custom_fields[${i}].required`} label={t("admin.wizard.fieldRequired")} checked={Boolean(f.required)} onValue={(required) => change(i, { required })} />
          <button type="button" class="secondary" onClick={() => setFields(fields.filter((_, j) => j !== i))}>
            {t("admin.remove")}
          </button>
        </fieldset>
      ))}
      {form.errors.custom_fields && (
        <small class="error" role="alert">
          {form.errors.custom_fields}
        </small>
      )}
      <button type="button" class="secondary" name="custom_fields" onClick={() => setFields([...fields, { key: "", label: "", type: "text", required: false }])}>
        {t("admin.wizard.addField")}
      </button>
      <Buttons busy={form.busy} back={`/admin/agents/${wizard.id}/wizard/2`} />
    </form>
  );
}

function Step4Form({ wizard, onSaved }: { wizard: Wizard; onSaved: (w: Wizard) => void }) {
  const saved = wizard.steps.step_4;
  const integrations = useLoad(() => must(api.GET("/api/v1/integrations", { params: { query: { limit: 200 } } })));
  const [chosen, setChosen] = useState<string[]>(saved?.integration_ids ?? []);
  const [welcome, setWelcome] = useState(saved?.welcome_message ?? "");
  const { form, save } = useStep(wizard, 4, onSaved);
  const createWebchat = () =>
    form.run(async () => {
      const created = await must(api.POST("/api/v1/integrations", { body: { kind: "webchat", name: t("admin.wizard.webchatName", { name: wizard.steps.step_1?.name ?? "" }) } }));
      setChosen([...chosen, created.id]);
      integrations.reload();
    });
  return (
    <form class="admin-form" ref={form.formRef} noValidate onSubmit={(e) => (e.preventDefault(), save({ integration_ids: chosen, welcome_message: welcome.trim() ? welcome : null }))}>
      <h2>{t("admin.wizard.step4.title")}</h2>
      <FormError message={form.general} />
      <Loading state={integrations} empty={(p) => (p.items.length ? null : t("admin.wizard.noIntegrations"))}>
        {(page) => (
          <CheckGroup
            name="integration_ids"
            label={t("admin.wizard.channels")}
            values={chosen}
            options={page.items.map((i) => ({ value: i.id, label: `${i.name} (${t(`admin.integration.kind.${i.kind}` as Key)})` }))}
            onValue={setChosen}
            error={form.errors.integration_ids}
          />
        )}
      </Loading>
      <button type="button" class="secondary" onClick={createWebchat}>
        {t("admin.wizard.createWebchat")}
      </button>
      <TextArea name="welcome_message" label={t("admin.agent.welcome")} value={welcome} onValue={setWelcome} error={form.errors.welcome_message} rows={2} />
      <Buttons busy={form.busy} back={`/admin/agents/${wizard.id}/wizard/3`} />
    </form>
  );
}

function TestAndPublish({ wizard, onChanged }: { wizard: Wizard; onChanged: () => void }) {
  const form = useApiForm();
  const [published, setPublished] = useState<{ url: string; slug: string } | null>(wizard.public_url && wizard.slug ? { url: wizard.public_url, slug: wizard.slug } : null);
  useEffect(() => {
    if (wizard.public_url && wizard.slug) setPublished({ url: wizard.public_url, slug: wizard.slug });
  }, [wizard.public_url]);
  const name = wizard.steps.step_1?.name ?? "";
  const publish = () =>
    form.run(async () => {
      const result = await must(api.POST("/api/v1/agents/wizard/{id}/publish", { params: { path: { id: wizard.id } } }));
      setPublished({ url: result.public_url, slug: result.slug });
      onChanged();
    });
  return (
    <div class="wizard-final">
      <section>
        {published ? (
          <PublishedCard name={name} url={published.url} agentId={wizard.id} />
        ) : (
          <form class="admin-form" ref={form.formRef} onSubmit={(e) => (e.preventDefault(), publish())}>
            <h2>{t("admin.wizard.step5.title")}</h2>
            <p class="muted">{t("admin.wizard.step5.intro")}</p>
            <FormError message={form.general} />
            <details>
              <summary>{t("admin.wizard.prompt")}</summary>
              <pre class="prompt">{wizard.system_prompt}</pre>
            </details>
            <div class="row">
              <a class="button secondary" href={`/admin/agents/${wizard.id}/wizard/4`}>
                {t("admin.wizard.back")}
              </a>
              <button type="submit" disabled={form.busy || wizard.next_step != null}>
                {t("admin.wizard.publish")}
              </button>
            </div>
          </form>
        )}
      </section>
      <SandboxChat agentId={wizard.id} name={name} />
    </div>
  );
}

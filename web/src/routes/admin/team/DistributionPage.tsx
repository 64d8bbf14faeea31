// How conversations reach people and AI agents: the method, AI participation, the queue's
// patience and the first-response SLA. Applied to the next assignment.
import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../../api/client";
import { t, type Key } from "../../../i18n";
import { AdminLayout, Loading, useLoad } from "../ui/layout";
import { CheckField, FormError, NumberField, SelectField, useApiForm } from "../ui/form";

type Settings = Schemas["DistributionSettings"];
const METHODS: Schemas["Method"][] = ["round_robin", "by_load", "by_specialty", "by_performance", "by_percentage"];

export default function DistributionPage() {
  const settings = useLoad(() => must(api.GET("/api/v1/settings/distribution")));
  return (
    <AdminLayout title={t("admin.distribution.title")}>
      <Loading state={settings}>{(s) => <DistributionForm initial={s} onSaved={settings.set} />}</Loading>
    </AdminLayout>
  );
}

function DistributionForm({ initial, onSaved }: { initial: Settings; onSaved: (s: Settings) => void }) {
  const form = useApiForm();
  const [v, setV] = useState(initial);
  const [saved, setSaved] = useState(false);
  const set = <K extends keyof Settings>(k: K) => (value: Settings[K] | null) => {
    setSaved(false);
    setV({ ...v, [k]: value ?? 0 });
  };
  const submit = (e: Event) => {
    e.preventDefault();
    form.run(async () => {
      const stored = await must(api.PUT("/api/v1/settings/distribution", { body: v }));
      onSaved(stored);
      setSaved(true);
    });
  };
  return (
    <form class="admin-form panel" ref={form.formRef} noValidate onSubmit={submit} aria-label={t("admin.distribution.title")}>
      <FormError message={form.general} />
      {saved && <p role="status" class="banner ok">{t("admin.saved")}</p>}
      <SelectField name="method" label={t("admin.distribution.method")} value={v.method ?? "round_robin"} options={METHODS.map((m) => ({ value: m, label: t(`admin.method.${m}` as Key) }))} onValue={set("method")} error={form.errors.method} />
      <CheckField name="assign_to_ai_agent" label={t("admin.distribution.ai")} checked={Boolean(v.assign_to_ai_agent)} onValue={set("assign_to_ai_agent")} error={form.errors.assign_to_ai_agent} />
      <CheckField name="prefer_ai" label={t("admin.distribution.preferAi")} checked={Boolean(v.prefer_ai)} onValue={set("prefer_ai")} error={form.errors.prefer_ai} />
      <CheckField name="sticky" label={t("admin.distribution.sticky")} checked={Boolean(v.sticky)} onValue={set("sticky")} error={form.errors.sticky} />
      <NumberField name="max_queue_wait_minutes" label={t("admin.distribution.maxWait")} value={v.max_queue_wait_minutes} onValue={set("max_queue_wait_minutes")} error={form.errors.max_queue_wait_minutes} hint={t("admin.distribution.zeroOff")} min={0} />
      <NumberField name="first_response_minutes" label={t("admin.distribution.sla")} value={v.first_response_minutes} onValue={set("first_response_minutes")} error={form.errors.first_response_minutes} hint={t("admin.distribution.zeroOff")} min={0} />
      <button type="submit" disabled={form.busy}>
        {t("admin.save")}
      </button>
    </form>
  );
}

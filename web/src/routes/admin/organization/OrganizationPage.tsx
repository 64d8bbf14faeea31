// Departments, funnels (with their stages, in order) and tags: the names the rest of the
// console and the AI's tools use.
import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../../api/client";
import { t } from "../../../i18n";
import { AdminLayout, Loading, useLoad } from "../ui/layout";
import { FormError, TextField, describe, useApiForm } from "../ui/form";

export default function OrganizationPage() {
  return (
    <AdminLayout title={t("admin.organization.title")}>
      <div class="cards">
        <Departments />
        <Funnels />
        <Tags />
      </div>
    </AdminLayout>
  );
}

function Departments() {
  const list = useLoad(() => must(api.GET("/api/v1/departments", { params: { query: { limit: 200 } } })));
  const form = useApiForm();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const add = (e: Event) => {
    e.preventDefault();
    form.run(async () => {
      await must(api.POST("/api/v1/departments", { body: { name, description } }));
      setName("");
      setDescription("");
      list.reload();
    });
  };
  return (
    <section class="panel" aria-labelledby="departments-title">
      <h2 id="departments-title">{t("admin.departments.title")}</h2>
      <Loading state={list} empty={(p) => (p.items.length ? null : t("admin.departments.empty"))}>
        {(page) => (
          <ul class="plain">
            {page.items.map((d) => (
              <Removable key={d.id} label={d.name} detail={d.description} remove={() => must(api.DELETE("/api/v1/departments/{id}", { params: { path: { id: d.id } } }))} onRemoved={list.reload} />
            ))}
          </ul>
        )}
      </Loading>
      <form class="admin-form inset" ref={form.formRef} noValidate onSubmit={add} aria-label={t("admin.departments.add")}>
        <FormError message={form.general} />
        <TextField name="name" label={t("admin.departments.name")} value={name} onValue={setName} error={form.errors.name} />
        <TextField name="description" label={t("admin.departments.description")} value={description} onValue={setDescription} error={form.errors.description} />
        <button type="submit" disabled={form.busy}>
          {t("admin.departments.add")}
        </button>
      </form>
    </section>
  );
}

function Funnels() {
  const list = useLoad(() => must(api.GET("/api/v1/funnels", { params: { query: { limit: 200 } } })));
  const form = useApiForm();
  const [name, setName] = useState("");
  const [stages, setStages] = useState("");
  const add = (e: Event) => {
    e.preventDefault();
    form.run(async () => {
      await must(api.POST("/api/v1/funnels", { body: { name, stages: stages.split(/[\n,]/).map((s) => s.trim()).filter(Boolean) } }));
      setName("");
      setStages("");
      list.reload();
    });
  };
  return (
    <section class="panel" aria-labelledby="funnels-title">
      <h2 id="funnels-title">{t("admin.funnels.title")}</h2>
      <Loading state={list} empty={(p) => (p.items.length ? null : t("admin.funnels.empty"))}>
        {(page) => (
          <ul class="plain">
            {page.items.map((f) => (
              <FunnelItem key={`${f.id}-${f.updated_at}`} funnel={f} onChanged={list.reload} />
            ))}
          </ul>
        )}
      </Loading>
      <form class="admin-form inset" ref={form.formRef} noValidate onSubmit={add} aria-label={t("admin.funnels.add")}>
        <FormError message={form.general} />
        <TextField name="name" label={t("admin.funnels.name")} value={name} onValue={setName} error={form.errors.name} />
        <TextField name="stages" label={t("admin.funnels.stages")} value={stages} onValue={setStages} error={form.errors.stages} hint={t("admin.commaList")} />
        <button type="submit" disabled={form.busy}>
          {t("admin.funnels.add")}
        </button>
      </form>
    </section>
  );
}

function FunnelItem({ funnel, onChanged }: { funnel: Schemas["FunnelView"]; onChanged: () => void }) {
  const form = useApiForm();
  const [stage, setStage] = useState("");
  const addStage = (e: Event) => {
    e.preventDefault();
    form.run(async () => {
      await must(api.POST("/api/v1/funnels/{id}/stages", { params: { path: { id: funnel.id } }, body: { name: stage } }));
      setStage("");
      onChanged();
    });
  };
  return (
    <li>
      <strong>{funnel.name}</strong>
      <ol class="stages">
        {[...funnel.stages]
          .sort((a, b) => a.position - b.position)
          .map((s) => (
            <li key={s.id}>{s.name}</li>
          ))}
      </ol>
      <form class="inline-form" ref={form.formRef} noValidate onSubmit={addStage}>
        <FormError message={form.general} />
        <TextField name="name" label={t("admin.funnels.newStage", { funnel: funnel.name })} value={stage} onValue={setStage} error={form.errors.name} />
        <button type="submit" class="secondary" disabled={form.busy}>
          {t("admin.funnels.addStage")}
        </button>
      </form>
    </li>
  );
}

function Tags() {
  const list = useLoad(() => must(api.GET("/api/v1/tags", { params: { query: { limit: 200 } } })));
  const form = useApiForm();
  const [name, setName] = useState("");
  const [color, setColor] = useState("#1d5fd0");
  const add = (e: Event) => {
    e.preventDefault();
    form.run(async () => {
      await must(api.POST("/api/v1/tags", { body: { name, color } }));
      setName("");
      list.reload();
    });
  };
  return (
    <section class="panel" aria-labelledby="tags-title">
      <h2 id="tags-title">{t("admin.tags.title")}</h2>
      <Loading state={list} empty={(p) => (p.items.length ? null : t("admin.tags.empty"))}>
        {(page) => (
          <ul class="plain">
            {page.items.map((tag) => (
              <Removable key={tag.id} label={tag.name} swatch={tag.color} remove={() => must(api.DELETE("/api/v1/tags/{id}", { params: { path: { id: tag.id } } }))} onRemoved={list.reload} />
            ))}
          </ul>
        )}
      </Loading>
      <form class="admin-form inset" ref={form.formRef} noValidate onSubmit={add} aria-label={t("admin.tags.add")}>
        <FormError message={form.general} />
        <TextField name="name" label={t("admin.tags.name")} value={name} onValue={setName} error={form.errors.name} />
        <TextField name="color" type="color" label={t("admin.tags.color")} value={color} onValue={setColor} error={form.errors.color} />
        <button type="submit" disabled={form.busy}>
          {t("admin.tags.add")}
        </button>
      </form>
    </section>
  );
}

function Removable({ label, detail, swatch, remove, onRemoved }: { label: string; detail?: string; swatch?: string; remove: () => Promise<unknown>; onRemoved: () => void }) {
  const [error, setError] = useState<string | null>(null);
  return (
    <li class="removable">
      {swatch && <svg class="swatch" width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill={swatch} /></svg>}
      <span>
        {label} {detail && <small class="muted">{detail}</small>}
      </span>
      <button type="button" class="link" onClick={() => remove().then(onRemoved, (e) => setError(describe(e)))} aria-label={t("admin.removeNamed", { name: label })}>
        {t("admin.remove")}
      </button>
      {error && <small class="error" role="alert">{error}</small>}
    </li>
  );
}

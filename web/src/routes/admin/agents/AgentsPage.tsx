// The tenant's AI agents: status, provider, public link; a new one starts the wizard.
import { useLocation } from "preact-iso";
import { api, must } from "../../../api/client";
import { t, type Key } from "../../../i18n";
import { AdminLayout, Loading, useLoad } from "../ui/layout";
import { FormError, useApiForm } from "../ui/form";

export default function AgentsPage() {
  const agents = useLoad(() => must(api.GET("/api/v1/agents", { params: { query: { limit: 200 } } })));
  const form = useApiForm();
  const { route } = useLocation();
  const start = () =>
    form.run(async () => {
      const draft = await must(api.POST("/api/v1/agents/wizard/start", { body: {} }));
      route(`/admin/agents/${draft.id}/wizard/1`);
    });
  return (
    <AdminLayout
      title={t("admin.agents.title")}
      actions={
        <button type="button" onClick={start} disabled={form.busy}>
          {t("admin.agents.new")}
        </button>
      }
    >
      <form ref={form.formRef} onSubmit={(e) => e.preventDefault()}>
        <FormError message={form.general} />
      </form>
      <Loading state={agents} empty={(p) => (p.items.length ? null : t("admin.agents.empty"))}>
        {(page) => (
          <table class="admin-table">
            <thead>
              <tr>
                <th>{t("admin.agent.name")}</th>
                <th>{t("admin.agent.status")}</th>
                <th>{t("admin.agent.provider")}</th>
                <th>{t("admin.agent.modelName")}</th>
                <th>{t("admin.agents.link")}</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((a) => (
                <tr key={a.id}>
                  <td>
                    <a href={a.status === "draft" ? `/admin/agents/${a.id}/wizard/1` : `/admin/agents/${a.id}`}>
                      {a.emoji} {a.name}
                    </a>
                    {a.status === "draft" && (
                      <>
                        {" · "}
                        <a href={`/admin/agents/${a.id}`} class="muted">
                          {t("admin.agents.edit")}
                        </a>
                      </>
                    )}
                  </td>
                  <td>
                    <span class={`pill status-${a.status}`}>{t(`admin.status.${a.status}` as Key)}</span>
                    {!a.enabled && <span class="pill">{t("admin.disabled")}</span>}
                  </td>
                  <td>{t(`admin.provider.${a.provider.kind}` as Key)}</td>
                  <td>{a.provider.kind === "retrieval" ? "—" : a.model}</td>
                  <td>{a.slug ? <code>/a/{a.slug}</code> : <span class="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loading>
    </AdminLayout>
  );
}

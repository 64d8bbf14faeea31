// Which of the tenant's tools this agent may call (attach / detach, enabled).
import { api, must } from "../../../api/client";
import { t } from "../../../i18n";
import { Loading, useLoad } from "../ui/layout";
import { FormError, useApiForm } from "../ui/form";

export function AgentTools({ agentId }: { agentId: string }) {
  const state = useLoad(async () => {
    const [tools, attached] = await Promise.all([
      must(api.GET("/api/v1/tools", { params: { query: { limit: 200 } } })),
      must(api.GET("/api/v1/agents/{id}/tools", { params: { path: { id: agentId } } })),
    ]);
    return { tools: tools.items, attached: new Set(attached.items.filter((a) => a.enabled).map((a) => a.tool_id)) };
  }, [agentId]);
  const form = useApiForm();
  const toggle = (toolId: string, on: boolean) =>
    form.run(async () => {
      if (on) await must(api.PUT("/api/v1/agents/{id}/tools/{tool_id}", { params: { path: { id: agentId, tool_id: toolId } }, body: { enabled: true } }));
      else await must(api.DELETE("/api/v1/agents/{id}/tools/{tool_id}", { params: { path: { id: agentId, tool_id: toolId } } }));
      state.reload();
    });
  return (
    <section class="panel" aria-labelledby="agent-tools-title">
      <h2 id="agent-tools-title">{t("admin.agentTools.title")}</h2>
      <form ref={form.formRef} onSubmit={(e) => e.preventDefault()}>
        <FormError message={form.general} />
        <Loading state={state} empty={(s) => (s.tools.length ? null : t("admin.agentTools.empty"))}>
          {(s) => (
            <ul class="plain">
              {s.tools.map((tool) => (
                <li key={tool.id}>
                  <label class="check">
                    <input type="checkbox" checked={s.attached.has(tool.id)} disabled={form.busy} onChange={(e) => toggle(tool.id, e.currentTarget.checked)} /> <strong>{tool.name}</strong>{" "}
                    <span class="muted">{tool.description}</span>
                  </label>
                </li>
              ))}
            </ul>
          )}
        </Loading>
      </form>
    </section>
  );
}

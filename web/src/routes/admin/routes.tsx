// The admin screens' routes and their link in the top bar. Every screen is its own chunk,
// loaded when first opened, so the inbox's JavaScript does not grow with them.
import { lazy } from "preact-iso";
import type { ComponentType } from "preact";
import { t } from "../../i18n";

const AgentsPage = lazy(() => import("./agents/AgentsPage"));
const AgentPage = lazy(() => import("./agents/AgentPage"));
const WizardPage = lazy(() => import("./agents/WizardPage"));
const KnowledgePage = lazy(() => import("./knowledge/KnowledgePage"));
const IntegrationsPage = lazy(() => import("./integrations/IntegrationsPage"));
const WebhooksPage = lazy(() => import("./integrations/WebhooksPage"));
const ToolsPage = lazy(() => import("./tools/ToolsPage"));
const AutomationsPage = lazy(() => import("./automations/AutomationsPage"));
const UsersPage = lazy(() => import("./team/UsersPage"));
const OrganizationPage = lazy(() => import("./organization/OrganizationPage"));
const DistributionPage = lazy(() => import("./team/DistributionPage"));

export const adminRoutes: [string, ComponentType<Record<string, unknown>>][] = [
  ["/admin", AgentsPage],
  ["/admin/agents", AgentsPage],
  ["/admin/agents/:id", AgentPage],
  ["/admin/agents/:id/wizard/:step", WizardPage],
  ["/admin/knowledge", KnowledgePage],
  ["/admin/integrations", IntegrationsPage],
  ["/admin/webhooks", WebhooksPage],
  ["/admin/webhooks/:id", WebhooksPage],
  ["/admin/tools", ToolsPage],
  ["/admin/tools/:id", ToolsPage],
  ["/admin/automations", AutomationsPage],
  ["/admin/users", UsersPage],
  ["/admin/organization", OrganizationPage],
  ["/admin/distribution", DistributionPage],
];

/** The top bar's link to the admin screens, for admins and supervisors. */
export function AdminLink({ role }: { role: string }) {
  if (role !== "admin" && role !== "supervisor") return null;
  return <a href="/admin/agents">{t("nav.admin")}</a>;
}

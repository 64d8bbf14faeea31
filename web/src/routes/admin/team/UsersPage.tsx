// The people: who they are, their role (admin, supervisor, agent), how many conversations
// they take at once, their specialties and departments.
import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../../api/client";
import { t, type Key } from "../../../i18n";
import { AdminLayout, Loading, useLoad } from "../ui/layout";
import { CheckField, CheckGroup, FormError, NumberField, SelectField, TextField, lines, useApiForm } from "../ui/form";

type User = Schemas["UserView"];
type Role = Schemas["Role"];
const ROLES: Role[] = ["agent", "supervisor", "admin"];

export default function UsersPage() {
  const users = useLoad(() => must(api.GET("/api/v1/users", { params: { query: { limit: 200 } } })));
  const departments = useLoad(() => must(api.GET("/api/v1/departments", { params: { query: { limit: 200 } } })));
  const [editing, setEditing] = useState<User | "new" | null>(null);
  const deptOptions = (departments.data?.items ?? []).map((d) => ({ value: d.id, label: d.name }));
  return (
    <AdminLayout
      title={t("admin.users.title")}
      actions={
        <button type="button" onClick={() => setEditing("new")}>
          {t("admin.users.add")}
        </button>
      }
    >
      {editing && (
        <UserForm
          key={editing === "new" ? "new" : editing.id}
          user={editing === "new" ? null : editing}
          departments={deptOptions}
          onDone={() => {
            setEditing(null);
            users.reload();
          }}
        />
      )}
      <Loading state={users}>
        {(page) => (
          <table class="admin-table">
            <thead>
              <tr>
                <th>{t("admin.users.name")}</th>
                <th>{t("admin.users.email")}</th>
                <th>{t("admin.users.role")}</th>
                <th>{t("admin.users.max")}</th>
                <th>{t("admin.users.presence")}</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((u) => (
                <tr key={u.id}>
                  <td>
                    <button type="button" class="link" onClick={() => setEditing(u)}>
                      {u.name}
                    </button>
                  </td>
                  <td>{u.email}</td>
                  <td>{t(`admin.role.${u.role}` as Key)}</td>
                  <td>{u.max_conversations}</td>
                  <td>
                    {t(`admin.presence.${u.presence}` as Key)}
                    {!u.available && ` · ${t("admin.users.unavailable")}`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loading>
    </AdminLayout>
  );
}

function UserForm({ user, departments, onDone }: { user: User | null; departments: { value: string; label: string }[]; onDone: () => void }) {
  const form = useApiForm();
  const [v, setV] = useState({
    name: user?.name ?? "",
    email: user?.email ?? "",
    password: "",
    role: (user?.role ?? "agent") as Role,
    max_conversations: (user?.max_conversations ?? 5) as number | null,
    specialties: user?.specialties.join(", ") ?? "",
    department_ids: user?.department_ids ?? [],
    available: user?.available ?? true,
  });
  const set = <K extends keyof typeof v>(k: K) => (value: (typeof v)[K]) => setV({ ...v, [k]: value });
  const submit = (e: Event) => {
    e.preventDefault();
    const common = { name: v.name, email: v.email, role: v.role, max_conversations: v.max_conversations ?? 0, specialties: lines(v.specialties), department_ids: v.department_ids, available: v.available };
    form.run(async () => {
      if (user) await must(api.PATCH("/api/v1/users/{id}", { params: { path: { id: user.id } }, body: { ...common, ...(v.password ? { password: v.password } : {}) } }));
      else await must(api.POST("/api/v1/users", { body: { ...common, password: v.password } }));
      onDone();
    });
  };
  const remove = () =>
    user &&
    form.run(async () => {
      await must(api.DELETE("/api/v1/users/{id}", { params: { path: { id: user.id } } }));
      onDone();
    });
  return (
    <form class="admin-form panel" ref={form.formRef} noValidate onSubmit={submit} aria-label={user?.name ?? t("admin.users.add")}>
      <FormError message={form.general} />
      <TextField name="name" label={t("admin.users.name")} value={v.name} onValue={set("name")} error={form.errors.name} />
      <TextField name="email" type="email" label={t("admin.users.email")} value={v.email} onValue={set("email")} error={form.errors.email} />
      <TextField name="password" type="password" autoComplete="new-password" label={user ? t("admin.users.newPassword") : t("admin.users.password")} value={v.password} onValue={set("password")} error={form.errors.password} hint={user ? t("admin.users.passwordKeep") : undefined} />
      <SelectField name="role" label={t("admin.users.role")} value={v.role} options={ROLES.map((r) => ({ value: r, label: t(`admin.role.${r}`) }))} onValue={set("role")} error={form.errors.role} />
      <NumberField name="max_conversations" label={t("admin.users.max")} value={v.max_conversations} onValue={set("max_conversations")} error={form.errors.max_conversations} />
      <TextField name="specialties" label={t("admin.agent.specialties")} value={v.specialties} onValue={set("specialties")} error={form.errors.specialties} hint={t("admin.commaList")} />
      {departments.length > 0 && <CheckGroup name="department_ids" label={t("admin.users.departments")} values={v.department_ids} options={departments} onValue={set("department_ids")} error={form.errors.department_ids} />}
      <CheckField name="available" label={t("admin.users.available")} checked={v.available} onValue={set("available")} />
      <div class="row">
        <button type="submit" disabled={form.busy}>
          {t("admin.save")}
        </button>
        <button type="button" class="secondary" onClick={onDone}>
          {t("admin.cancel")}
        </button>
        {user && (
          <button type="button" class="secondary danger" onClick={remove}>
            {t("admin.delete")}
          </button>
        )}
      </div>
    </form>
  );
}

// "Respostas prontas" (/canned-responses): the shortcuts everyone may use in the reply box —
// the organisation's (admins manage them) and the person's own. A list, and one form that adds
// a response or edits the one picked; the API's reason for a refused field shows under it.
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "../../api/client";
import { createCanned, deleteCanned, listCanned, updateCanned, type Canned, type CannedScope } from "../../api/desk";
import { useConsole } from "../../console/session";
import { t } from "../../i18n";
import { Field } from "../../components/Field";
import "../../styles/desk.css";
import "../../i18n/desk";

interface Draft {
  shortcut: string;
  content: string;
  scope: CannedScope;
}
const EMPTY: Draft = { shortcut: "", content: "", scope: "personal" };

export default function CannedResponsesPage() {
  const { session } = useConsole();
  const admin = session.user.role === "admin";
  const [items, setItems] = useState<Canned[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Canned | null>(null);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [errors, setErrors] = useState<{ shortcut?: string; content?: string; form?: string }>({});
  const [saving, setSaving] = useState(false);
  const contentRef = useRef<HTMLTextAreaElement>(null);

  const load = () => {
    setLoadError(null);
    listCanned()
      .then(setItems)
      .catch((e: Error) => setLoadError(e.message));
  };
  useEffect(() => {
    document.title = `${t("canned.title")} · ${t("app.name")}`;
    load();
  }, []);

  const mayChange = (c: Canned) => c.scope === "personal" || admin;
  const startEdit = (c: Canned) => {
    setEditing(c);
    setDraft({ shortcut: c.shortcut, content: c.content, scope: c.scope });
    setErrors({});
    window.setTimeout(() => document.getElementById("field-shortcut")?.focus());
  };
  const reset = () => {
    setEditing(null);
    setDraft(EMPTY);
    setErrors({});
  };
  const submit = async () => {
    setSaving(true);
    setErrors({});
    try {
      const saved = editing
        ? await updateCanned(editing.id, { shortcut: draft.shortcut, content: draft.content })
        : await createCanned({ shortcut: draft.shortcut, content: draft.content, scope: draft.scope });
      setItems((current) => [...(current ?? []).filter((c) => c.id !== saved.id), saved].sort((a, b) => a.shortcut.localeCompare(b.shortcut)));
      reset();
    } catch (e) {
      if (e instanceof ApiError && (e.field === "shortcut" || e.field === "content")) {
        setErrors({ [e.field]: e.message });
        if (e.field === "content") contentRef.current?.focus();
        else document.getElementById("field-shortcut")?.focus();
      } else if (e instanceof ApiError && e.status === 409) {
        setErrors({ shortcut: t("canned.taken") });
        document.getElementById("field-shortcut")?.focus();
      } else if (e instanceof ApiError && e.status === 403) setErrors({ form: t("canned.forbidden") });
      else setErrors({ form: e instanceof Error ? e.message : String(e) });
    } finally {
      setSaving(false);
    }
  };
  const remove = async (c: Canned) => {
    if (!window.confirm(t("canned.deleteConfirm", { shortcut: c.shortcut }))) return;
    try {
      await deleteCanned(c.id);
      setItems((current) => (current ?? []).filter((x) => x.id !== c.id));
      if (editing?.id === c.id) reset();
    } catch (e) {
      setErrors({ form: e instanceof Error ? e.message : String(e) });
    }
  };

  return (
    <main class="canned-page" aria-labelledby="canned-title">
      <h1 id="canned-title">{t("canned.title")}</h1>
      <p class="muted">{t("canned.intro")}</p>
      {loadError && (
        <div role="alert" class="error-box">
          {t("app.error", { message: loadError })}{" "}
          <button type="button" class="secondary" onClick={load}>
            {t("app.retry")}
          </button>
        </div>
      )}
      {items === null && !loadError && <div class="skeleton-row" aria-busy="true" />}
      {items?.length === 0 && <p class="muted">{t("canned.empty")}</p>}
      {items && items.length > 0 && (
        <table class="canned-table">
          <caption class="sr-only">{t("canned.list")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("canned.shortcut")}</th>
              <th scope="col">{t("canned.content")}</th>
              <th scope="col">{t("canned.scope")}</th>
              <th scope="col">
                <span class="sr-only">{t("canned.actions")}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((c) => (
              <tr key={c.id}>
                <td>
                  <code>/{c.shortcut}</code>
                </td>
                <td class="canned-content">{c.content}</td>
                <td>{t(c.scope === "personal" ? "canned.scope.personal" : "canned.scope.tenant")}</td>
                <td>
                  {mayChange(c) && (
                    <div class="row">
                      <button type="button" class="secondary" aria-label={`${t("canned.edit")} /${c.shortcut}`} onClick={() => startEdit(c)}>
                        {t("canned.edit")}
                      </button>
                      <button type="button" class="secondary danger" aria-label={`${t("canned.delete")} /${c.shortcut}`} onClick={() => void remove(c)}>
                        {t("canned.delete")}
                      </button>
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="canned-form"
        aria-labelledby="canned-form-title"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <h2 id="canned-form-title">{editing ? t("canned.editing", { shortcut: editing.shortcut }) : t("canned.add")}</h2>
        {errors.form && (
          <p role="alert" class="error">
            {errors.form}
          </p>
        )}
        <Field name="shortcut" label={t("canned.shortcut")} value={draft.shortcut} hint={t("canned.shortcutHint")} error={errors.shortcut} required onValue={(v) => setDraft({ ...draft, shortcut: v })} />
        <div class={`field ${errors.content ? "invalid" : ""}`}>
          <label for="canned-content">{t("canned.content")}</label>
          <textarea
            id="canned-content"
            ref={contentRef}
            rows={4}
            required
            value={draft.content}
            aria-invalid={errors.content ? "true" : undefined}
            aria-describedby={errors.content ? "canned-content-error" : undefined}
            onInput={(e) => setDraft({ ...draft, content: e.currentTarget.value })}
          />
          {errors.content && (
            <small id="canned-content-error" class="error" role="alert">
              {errors.content}
            </small>
          )}
        </div>
        {admin && !editing && (
          <div class="field">
            <label for="canned-scope">{t("canned.scope")}</label>
            <select id="canned-scope" value={draft.scope} onChange={(e) => setDraft({ ...draft, scope: e.currentTarget.value as CannedScope })}>
              <option value="personal">{t("canned.scope.personal")}</option>
              <option value="tenant">{t("canned.scope.tenant")}</option>
            </select>
          </div>
        )}
        <div class="row">
          <button type="submit" disabled={saving || !draft.shortcut.trim() || !draft.content.trim()}>
            {editing ? t("canned.save") : t("canned.create")}
          </button>
          {editing && (
            <button type="button" class="link" onClick={reset}>
              {t("canned.cancel")}
            </button>
          )}
        </div>
      </form>
    </main>
  );
}

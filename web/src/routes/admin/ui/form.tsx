// The admin forms' parts: labelled controls that show the API's error for their field
// (`details.field`) next to them, and a hook that turns an ApiError into those errors,
// focuses the first invalid field and keeps everything typed.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useId, useRef, useState } from "preact/hooks";
import { ApiError } from "../../../api/client";
import { locale, t } from "../../../i18n";
import { apiReasonsPtBR } from "../../../i18n/admin.pt-BR";

export type Errors = Record<string, string>;

/** The form's field errors and its general error, filled from a failed call. */
export function useApiForm() {
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);

  useEffect(() => {
    const first = Object.keys(errors)[0];
    if (!first || !formRef.current) return;
    const target = formRef.current.querySelector<HTMLElement>(`[name="${CSS.escape(first)}"]`);
    target?.focus();
  }, [errors]);

  /** Runs a call; a field error goes next to its field when the form has it, else on top. */
  const run = async <T,>(call: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      return await call();
    } catch (err) {
      const field = err instanceof ApiError ? err.field : undefined;
      const message = describe(err);
      const named = field && formRef.current?.querySelector(`[name="${CSS.escape(field)}"]`);
      if (field && named) setErrors({ [field]: besideField(message, field) });
      else setGeneral(message);
      return undefined;
    } finally {
      setBusy(false);
    }
  };

  return { errors, general, busy, formRef, run, setGeneral };
}

/** The API's sentence shown under its field, which already says which field it is about:
 * "step 3: custom_fields[0].options a select needs options" → "A select needs options". */
export function besideField(message: string, field: string): string {
  for (const lead of [`${field} `, `${field}: `]) {
    const at = message.indexOf(lead);
    if (at >= 0) return inWords(message.slice(at + lead.length));
  }
  return message;
}

/** A reason in the console's language when it is one of the API's usual ones. */
function inWords(reason: string): string {
  if (locale() === "pt-BR") {
    for (const [pattern, text] of apiReasonsPtBR) if (pattern.test(reason)) return reason.replace(pattern, text);
  }
  return reason.charAt(0).toUpperCase() + reason.slice(1);
}

/** An error in words: the API's sentence, or why the request could not be made. */
export function describe(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 403) return t("admin.forbidden");
    if (err.status === 0) return t("admin.network");
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

interface Base {
  name: string;
  label: string;
  error?: string;
  hint?: string;
}

function Wrap({ id, label, error, hint, children, inline }: Base & { id: string; children: ComponentChildren; inline?: boolean }) {
  return (
    <div class={`field ${error ? "invalid" : ""} ${inline ? "inline" : ""}`}>
      {inline ? children : <label for={id}>{label}</label>}
      {inline && <label for={id}>{label}</label>}
      {!inline && children}
      {hint && !error && (
        <small id={`${id}-hint`} class="muted">
          {hint}
        </small>
      )}
      {error && (
        <small id={`${id}-error`} class="error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}

/** A page-unique id for a field: several forms on one page have fields of the same name. */
function useFieldId(name: string): string {
  return `f${useId()}-${name.replace(/[^a-zA-Z0-9_-]/g, "-")}`;
}

function aria(id: string, name: string, error?: string, hint?: string) {
  return {
    id,
    name,
    "aria-invalid": error ? ("true" as const) : undefined,
    "aria-describedby": error ? `${id}-error` : hint ? `${id}-hint` : undefined,
  };
}

export function TextField(props: Base & { value: string; onValue: (v: string) => void; type?: string; required?: boolean; placeholder?: string; autoComplete?: string }) {
  const id = useFieldId(props.name);
  const attributes = {
    ...aria(id, props.name, props.error, props.hint),
    type: props.type ?? "text",
    value: props.value,
    required: props.required,
    placeholder: props.placeholder,
    autoComplete: props.autoComplete,
    onInput: (e: Event) => props.onValue((e.currentTarget as HTMLInputElement).value),
  } as unknown as JSX.IntrinsicElements["input"];
  return (
    <Wrap {...props} id={id}>
      <input {...attributes} />
    </Wrap>
  );
}

/** A number; empty means "not set" (null), e.g. an unlimited limit. */
export function NumberField(props: Base & { value: number | null | undefined; onValue: (v: number | null) => void; step?: string; min?: number }) {
  const id = useFieldId(props.name);
  const attributes = {
    ...aria(id, props.name, props.error, props.hint),
    type: "number",
    step: props.step ?? "1",
    min: props.min,
    value: props.value ?? "",
    onInput: (e: Event) => {
      const raw = (e.currentTarget as HTMLInputElement).value;
      props.onValue(raw === "" ? null : Number(raw));
    },
  } as unknown as JSX.IntrinsicElements["input"];
  return (
    <Wrap {...props} id={id}>
      <input {...attributes} />
    </Wrap>
  );
}

export function TextArea(props: Base & { value: string; onValue: (v: string) => void; rows?: number; code?: boolean }) {
  const id = useFieldId(props.name);
  return (
    <Wrap {...props} id={id}>
      <textarea
        {...aria(id, props.name, props.error, props.hint)}
        class={props.code ? "code" : undefined}
        rows={props.rows ?? 4}
        value={props.value}
        spellcheck={!props.code}
        onInput={(e) => props.onValue(e.currentTarget.value)}
      />
    </Wrap>
  );
}

export function SelectField<V extends string>(props: Base & { value: V; options: readonly { value: V; label: string }[]; onValue: (v: V) => void }) {
  const id = useFieldId(props.name);
  return (
    <Wrap {...props} id={id}>
      <select {...aria(id, props.name, props.error, props.hint)} value={props.value} onChange={(e) => props.onValue(e.currentTarget.value as V)}>
        {props.options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </Wrap>
  );
}

export function CheckField(props: Base & { checked: boolean; onValue: (v: boolean) => void }) {
  const id = useFieldId(props.name);
  return (
    <Wrap {...props} id={id} inline>
      <input {...aria(id, props.name, props.error, props.hint)} type="checkbox" checked={props.checked} onChange={(e) => props.onValue(e.currentTarget.checked)} />
    </Wrap>
  );
}

/** A group of checkboxes (personality traits, webhook events); errors name the group. */
export function CheckGroup<V extends string>(props: Base & { values: V[]; options: readonly { value: V; label: string }[]; onValue: (v: V[]) => void }) {
  const id = useFieldId(props.name);
  return (
    <fieldset class={`field checks ${props.error ? "invalid" : ""}`} aria-describedby={props.error ? `${id}-error` : undefined}>
      <legend>{props.label}</legend>
      {props.options.map((o, i) => (
        <label key={o.value} class="check">
          <input
            type="checkbox"
            name={i === 0 ? props.name : undefined}
            checked={props.values.includes(o.value)}
            onChange={(e) => props.onValue(e.currentTarget.checked ? [...props.values, o.value] : props.values.filter((v) => v !== o.value))}
          />{" "}
          {o.label}
        </label>
      ))}
      {props.error && (
        <small id={`${id}-error`} class="error" role="alert">
          {props.error}
        </small>
      )}
    </fieldset>
  );
}

/** The form's error that no field owns, in words. */
export function FormError({ message }: { message: string | null }) {
  return message ? (
    <p class="error-box" role="alert">
      {message}
    </p>
  ) : null;
}

/** A secret shown once, with a copy button: the API never returns it again. */
export function SecretOnce({ label, value, onDismiss }: { label: string; value: string; onDismiss: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="secret-once" role="status">
      <strong>{label}</strong>
      <p class="muted">{t("admin.secret.once")}</p>
      <code>{value}</code>
      <div class="row">
        <button
          type="button"
          class="secondary"
          onClick={() =>
            navigator.clipboard?.writeText(value).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          {copied ? t("admin.copied") : t("admin.copy")}
        </button>
        <button type="button" onClick={onDismiss}>
          {t("admin.secret.saved")}
        </button>
      </div>
    </div>
  );
}

/** A random secret for a webhook or a generic integration (URL-safe, 32 bytes). */
export function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Lines of a textarea as a list (topics, keywords, specialties). */
export const lines = (text: string) =>
  text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);

import type { JSX } from "preact";

// A labelled input that shows the API's error for its field next to it, in words.
interface Props {
  type?: "text" | "email" | "password";
  autoComplete?: string;
  required?: boolean;
  name: string;
  label: string;
  value: string;
  error?: string | null;
  hint?: string;
  onValue: (value: string) => void;
}

export function Field({ name, label, value, error, hint, onValue, type, autoComplete, required }: Props) {
  const id = `field-${name}`;
  const describedBy = error ? `${id}-error` : hint ? `${id}-hint` : undefined;
  // Preact's input typings are a union per `type`; this one component takes three of them.
  const attributes = {
    id,
    name,
    value,
    type: type ?? "text",
    autoComplete,
    required,
    "aria-invalid": error ? "true" : undefined,
    "aria-describedby": describedBy,
    onInput: (e: Event) => onValue((e.currentTarget as HTMLInputElement).value),
  } as unknown as JSX.IntrinsicElements["input"];
  return (
    <div class={`field ${error ? "invalid" : ""}`}>
      <label for={id}>{label}</label>
      <input {...attributes} />
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

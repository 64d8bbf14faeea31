// The agents' enumerations in words, for selects and lists.
import type { Schemas } from "../../../api/client";
import { t, type Key } from "../../../i18n";

const options = <V extends string>(values: readonly V[], prefix: string) => () => values.map((value) => ({ value, label: t(`${prefix}.${value}` as Key) }));

export const AGENT_TYPES = options<Schemas["AgentType"]>(["SDR", "CS", "CLOSER", "SUPPORT", "CUSTOM"], "admin.agentType");
export const TRAITS = options<Schemas["Trait"]>(["friendly", "professional", "empathetic", "enthusiastic", "consultative", "direct", "patient", "persuasive"], "admin.trait");
export const TONES = options<Schemas["Tone"]>(["formal", "neutral", "informal"], "admin.tone");
export const FIELD_TYPES = options<Schemas["FieldType"]>(["text", "number", "email", "phone", "date", "select"], "admin.fieldType");
export const STATUSES = options<Schemas["AgentStatus"]>(["draft", "active", "inactive"], "admin.status");
export const PROVIDERS = options<Schemas["ProviderKind"]>(["openai", "retrieval"], "admin.provider");
export const ON_LIMIT = options<Schemas["OnLimit"]>(["wait", "handover"], "admin.onLimit");

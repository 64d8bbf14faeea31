//! Tool configuration shapes per kind, their validation, and the handling of secrets in them:
//! HTTP header values and webhook secrets are sealed at rest and never shown again
//! (a view shows `"[redacted]"`, and a PATCH that sends `"[redacted]"` back keeps the value).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::ToolKind;
use crate::domain::tool::secret_slots;
use crate::domain::TenantId;
use crate::secrets::{SealContext, SealedField, SecretBox};

pub const REDACTED: &str = "[redacted]";
pub const MAX_FIELDS: usize = 50;
pub const MAX_HEADERS: usize = 30;
const MIN_WEBHOOK_SECRET: usize = 16;
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// `http`: one request per call. `{{name}}` in `url` (path and query only), `headers`,
/// `query` and `body` is replaced by the argument `name` (URL-encoded in the URL; a body
/// string that is exactly `{{name}}` takes the argument's JSON value). POST/PUT/PATCH
/// without a `body` send the arguments as the JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<Value>,
}

fn get() -> String {
    "GET".into()
}

/// `webhook`: POSTs `{tool, arguments, conversation_id, contact_id, agent_id, sent_at}`
/// signed with `secret` like the platform's own webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
}

/// `search`: how many passages and how close a match must be.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// 1..=10, default 3.
    pub limit: Option<u32>,
    /// 0..=1, default 0.3.
    pub min_score: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    #[default]
    Text,
    Email,
    Phone,
    Number,
    Date,
    Boolean,
    Choice,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormField {
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: FieldType,
    #[serde(default)]
    pub required: bool,
    /// The allowed values of a `choice`.
    #[serde(default)]
    pub options: Vec<String>,
}

/// `form` and `lead_capture`: the fields to collect. A lead capture without fields collects
/// name, e-mail and phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FormConfig {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub fields: Vec<FormField>,
}

impl FormConfig {
    pub fn lead_defaults() -> Vec<FormField> {
        let field = |name: &str, kind: FieldType, required: bool| FormField {
            name: name.into(),
            label: None,
            kind,
            required,
            options: Vec::new(),
        };
        vec![
            field("name", FieldType::Text, true),
            field("email", FieldType::Email, false),
            field("phone", FieldType::Phone, false),
        ]
    }
}

/// Why a config was refused, as a sentence after "config".
pub type Refusal = String;

fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    out
}

fn value_placeholders(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.extend(placeholders(s)),
        Value::Array(items) => items.iter().for_each(|v| value_placeholders(v, out)),
        Value::Object(map) => map.values().for_each(|v| value_placeholders(v, out)),
        _ => {}
    }
}

pub fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_url_template(url: &str) -> Result<(), Refusal> {
    let Some((scheme, rest)) = url.trim().split_once("://") else {
        return Err("url must be an absolute http(s) URL".into());
    };
    if !matches!(scheme, "http" | "https") {
        return Err("url must be an absolute http(s) URL".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // A host taken from the model's arguments is an open door to internal services.
    if authority.contains("{{") || scheme.contains("{{") {
        return Err("url must not take its scheme, host or port from arguments".into());
    }
    let probe = url.replace("{{", "x").replace("}}", "x");
    let parsed = url::Url::parse(probe.trim()).map_err(|_| "url is not a valid URL".to_string())?;
    if parsed.host().is_none() {
        return Err("url must have a host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("url must not contain credentials".into());
    }
    Ok(())
}

fn check_header(name: &str, value: &str) -> Result<(), Refusal> {
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("headers: `{name}` is not a valid header name"));
    }
    if value.chars().any(|c| c == '\r' || c == '\n') {
        return Err(format!("headers: `{name}` must be a single line"));
    }
    Ok(())
}

/// The properties named by a JSON Schema of arguments.
fn argument_names(parameters: &Value) -> Vec<String> {
    parameters
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Validates `config` for `kind`. `parameters` is the tool's argument schema, to check that
/// every placeholder names an argument.
pub fn validate(kind: ToolKind, config: &Value, parameters: &Value) -> Result<(), Refusal> {
    let known = argument_names(parameters);
    let check_placeholders = |found: Vec<String>| -> Result<(), Refusal> {
        match found.into_iter().find(|p| !known.contains(p)) {
            Some(unknown) => Err(format!(
                "placeholder {{{{{unknown}}}}} is not one of the tool's parameters"
            )),
            None => Ok(()),
        }
    };
    match kind {
        ToolKind::Http => {
            let http: HttpConfig = parse(config)?;
            let method = http.method.to_ascii_uppercase();
            if !METHODS.contains(&method.as_str()) {
                return Err("method must be GET, POST, PUT, PATCH or DELETE".into());
            }
            check_url_template(&http.url)?;
            if http.headers.len() > MAX_HEADERS {
                return Err(format!("headers must be at most {MAX_HEADERS}"));
            }
            for (name, value) in &http.headers {
                check_header(name, value)?;
            }
            let mut found = placeholders(&http.url);
            http.headers
                .values()
                .for_each(|v| found.extend(placeholders(v)));
            http.query
                .values()
                .for_each(|v| found.extend(placeholders(v)));
            if let Some(body) = &http.body {
                value_placeholders(body, &mut found);
            }
            check_placeholders(found)
        }
        ToolKind::Webhook => {
            let hook: WebhookConfig = parse(config)?;
            check_url_template(&hook.url)?;
            if hook.url.contains("{{") {
                return Err("url of a webhook takes no placeholders".into());
            }
            if hook.secret != REDACTED && hook.secret.chars().count() < MIN_WEBHOOK_SECRET {
                return Err(format!(
                    "secret must be at least {MIN_WEBHOOK_SECRET} characters"
                ));
            }
            Ok(())
        }
        ToolKind::Search => {
            let search: SearchConfig = parse(config)?;
            if search.limit.is_some_and(|l| !(1..=10).contains(&l)) {
                return Err("limit must be between 1 and 10".into());
            }
            if search
                .min_score
                .is_some_and(|s| !(0.0..=1.0).contains(&s) || !s.is_finite())
            {
                return Err("min_score must be between 0 and 1".into());
            }
            Ok(())
        }
        ToolKind::Form | ToolKind::LeadCapture => {
            let form: FormConfig = parse(config)?;
            if kind == ToolKind::Form && form.fields.is_empty() {
                return Err("fields must list at least one field".into());
            }
            if form.fields.len() > MAX_FIELDS {
                return Err(format!("fields must be at most {MAX_FIELDS}"));
            }
            let mut seen = Vec::new();
            for field in &form.fields {
                if !is_field_name(&field.name) {
                    return Err(format!(
                        "field `{}` must be a name of letters, digits and _",
                        field.name
                    ));
                }
                if seen.contains(&field.name) {
                    return Err(format!("field `{}` is listed twice", field.name));
                }
                seen.push(field.name.clone());
                if field.kind == FieldType::Choice && field.options.is_empty() {
                    return Err(format!(
                        "field `{}` is a choice without options",
                        field.name
                    ));
                }
            }
            Ok(())
        }
        ToolKind::Calculator | ToolKind::System => match config.as_object() {
            Some(map) if map.is_empty() => Ok(()),
            _ => Err("must be an empty object for this tool type".into()),
        },
    }
}

fn parse<T: serde::de::DeserializeOwned>(config: &Value) -> Result<T, Refusal> {
    serde_json::from_value(config.clone())
        .map_err(|e| format!("is not valid for this tool type: {e}"))
}

/// The argument schema of the kinds whose arguments are fixed or derived from the config;
/// `None` for `http` and `webhook`, whose schema the admin writes.
pub fn generated_parameters(kind: ToolKind, config: &Value) -> Option<Value> {
    match kind {
        ToolKind::Calculator => Some(json!({
            "type": "object",
            "properties": {"expression": {"type": "string", "minLength": 1, "maxLength": 500,
                "description": "Arithmetic expression, e.g. (1200 * 0.15) + 30 or sqrt(2)^2"}},
            "required": ["expression"],
            "additionalProperties": false
        })),
        ToolKind::Search => Some(json!({
            "type": "object",
            "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 1000,
                "description": "What to look up in the knowledge base"}},
            "required": ["query"],
            "additionalProperties": false
        })),
        ToolKind::Form | ToolKind::LeadCapture => {
            let form: FormConfig = serde_json::from_value(config.clone()).unwrap_or_default();
            let fields = if form.fields.is_empty() && kind == ToolKind::LeadCapture {
                FormConfig::lead_defaults()
            } else {
                form.fields
            };
            Some(form_schema(&fields))
        }
        ToolKind::Http | ToolKind::Webhook | ToolKind::System => None,
    }
}

fn form_schema(fields: &[FormField]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        let mut property = match field.kind {
            FieldType::Text => json!({"type": "string", "maxLength": 2000}),
            FieldType::Email => json!({"type": "string", "maxLength": 254,
                "description": "An e-mail address"}),
            FieldType::Phone => json!({"type": "string", "maxLength": 32,
                "description": "A phone number with area code"}),
            FieldType::Number => json!({"type": "number"}),
            FieldType::Date => json!({"type": "string", "description": "A date, YYYY-MM-DD"}),
            FieldType::Boolean => json!({"type": "boolean"}),
            FieldType::Choice => json!({"type": "string", "enum": field.options}),
        };
        if let (Some(label), Some(map)) = (&field.label, property.as_object_mut()) {
            map.insert("description".into(), Value::String(label.clone()));
        }
        properties.insert(field.name.clone(), property);
        if field.required {
            required.push(Value::String(field.name.clone()));
        }
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

/// The `url` of a config, when it has one.
fn url_of(config: &Value) -> Option<&str> {
    config.get("url").and_then(Value::as_str)
}

/// Whether secrets stored with `previous` may go to the URL of `next`: same origin (the
/// origin of a templated URL is fixed, since placeholders may only fill its path and query).
fn secrets_may_follow(previous: &Value, next: &Value) -> bool {
    match (url_of(previous), url_of(next)) {
        (Some(old), Some(new)) => crate::outbound::origin::same_origin(old, new),
        _ => false,
    }
}

/// The config as stored: secrets sealed. `previous` is the stored config of the tool being
/// changed, whose sealed values a `"[redacted]"` keeps, as long as the URL stays on the same
/// origin: a header kept for a URL moved elsewhere is dropped, and a webhook secret must be
/// entered again (the refusal says so).
pub fn seal(
    kind: ToolKind,
    config: &Value,
    previous: Option<&Value>,
    secrets: &SecretBox,
    tenant: &TenantId,
) -> Result<Value, Refusal> {
    let context = SealContext::new(tenant, SealedField::ToolConfigSecret);
    let previous = previous.filter(|p| secrets_may_follow(p, config));
    let mut out = config.clone();
    let sealed_or_kept = |key: &str, value: &str| -> Option<Value> {
        if value == REDACTED {
            return previous
                .and_then(|o| o.pointer(key))
                .and_then(Value::as_str)
                .map(|old| Value::String(old.to_string()));
        }
        Some(Value::String(secrets.seal(context, value)))
    };
    match kind {
        ToolKind::Http => {
            if let Some(headers) = out.get_mut("headers").and_then(Value::as_object_mut) {
                let names: Vec<String> = headers.keys().cloned().collect();
                for name in names {
                    let Some(text) = headers.get(&name).and_then(Value::as_str) else {
                        continue;
                    };
                    let pointer =
                        format!("/headers/{}", name.replace('~', "~0").replace('/', "~1"));
                    match sealed_or_kept(&pointer, text) {
                        Some(value) => {
                            headers.insert(name, value);
                        }
                        None => {
                            headers.remove(&name);
                        }
                    }
                }
            }
        }
        ToolKind::Webhook => {
            if let Some(secret) = out
                .get("secret")
                .and_then(Value::as_str)
                .map(str::to_string)
            {
                out["secret"] = sealed_or_kept("/secret", &secret).ok_or_else(|| {
                    "secret must be given again: the url moves to another host, and the stored \
                     secret is never used for it"
                        .to_string()
                })?;
            }
        }
        _ => {}
    }
    Ok(out)
}

/// The config an agent runs a tool with: the tool's, with the agent's overrides on top. An
/// override that moves the URL to another origin gets none of the tool's secrets: its
/// headers are dropped, and a webhook loses its secret (the call then fails, unsigned
/// requests are never sent).
pub fn for_agent(kind: ToolKind, tool: &Value, overrides: &Value) -> Value {
    let mut config = tool.clone();
    merge(&mut config, overrides);
    if secrets_may_follow(tool, &config) {
        return config;
    }
    if let Some(map) = config.as_object_mut() {
        match kind {
            ToolKind::Http => {
                map.remove("headers");
            }
            ToolKind::Webhook => {
                map.remove("secret");
            }
            _ => {}
        }
    }
    config
}

/// The config as an admin may see it: secrets replaced by `"[redacted]"`.
pub fn redact(kind: ToolKind, stored: &Value) -> Value {
    let mut out = stored.clone();
    for slot in secret_slots(kind, &mut out) {
        *slot = Value::String(REDACTED.into());
    }
    out
}

/// The config as a tool runs it: secrets opened. A value that does not open (the
/// encryption key changed) is an error the call reports, not an empty header.
pub fn open(
    kind: ToolKind,
    stored: &Value,
    secrets: &SecretBox,
    tenant: &TenantId,
) -> Result<Value, String> {
    let context = SealContext::new(tenant, SealedField::ToolConfigSecret);
    let mut out = stored.clone();
    for slot in secret_slots(kind, &mut out) {
        if let Some(text) = slot.as_str() {
            let plain = secrets.open(context, text).map_err(|_| {
                "a stored secret of this tool cannot be opened; enter it again".to_string()
            })?;
            *slot = Value::String(plain);
        }
    }
    Ok(out)
}

/// Per-agent config: an object merged key by key over the tool's config. It may not carry
/// secrets (they would be stored in clear), so `headers` and `secret` are refused.
pub fn check_agent_config(
    kind: ToolKind,
    agent: &Value,
    tool: &Value,
    parameters: &Value,
) -> Result<(), Refusal> {
    let Some(map) = agent.as_object() else {
        return Err("must be an object".into());
    };
    if map.contains_key("headers") || map.contains_key("secret") {
        return Err("may not set headers or secret; set them on the tool".into());
    }
    let mut probe = redact(kind, tool);
    merge(&mut probe, agent);
    validate(kind, &probe, parameters)
}

/// `overlay`'s keys replace `base`'s.
pub fn merge(base: &mut Value, overlay: &Value) {
    if let (Some(base), Some(overlay)) = (base.as_object_mut(), overlay.as_object()) {
        for (k, v) in overlay {
            base.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn box_() -> SecretBox {
        SecretBox::new(&secrecy::SecretString::from(
            "a-test-encryption-key-of-enough-length".to_string(),
        ))
    }

    fn params(names: &[&str]) -> Value {
        let properties: Map<String, Value> = names
            .iter()
            .map(|n| (n.to_string(), json!({"type": "string"})))
            .collect();
        json!({"type": "object", "properties": properties})
    }

    #[test]
    fn http_configs_are_checked() {
        let ok = json!({"method": "post", "url": "https://api.example.com/orders/{{id}}",
            "headers": {"Authorization": "Bearer x"}, "body": {"n": "{{id}}"}});
        assert!(validate(ToolKind::Http, &ok, &params(&["id"])).is_ok());
        let host = json!({"url": "https://{{host}}/x"});
        assert!(validate(ToolKind::Http, &host, &params(&["host"]))
            .expect_err("host")
            .contains("host"));
        let unknown = json!({"url": "https://a.example/{{nope}}"});
        assert!(validate(ToolKind::Http, &unknown, &params(&["id"]))
            .expect_err("unknown")
            .contains("nope"));
        assert!(validate(
            ToolKind::Http,
            &json!({"url": "ftp://a.example"}),
            &params(&[])
        )
        .is_err());
        assert!(validate(
            ToolKind::Http,
            &json!({"url": "https://a.example", "method": "TRACE"}),
            &params(&[])
        )
        .is_err());
        assert!(validate(
            ToolKind::Http,
            &json!({"url": "https://a.example", "extra": 1}),
            &params(&[])
        )
        .is_err());
        let crlf = json!({"url": "https://a.example", "headers": {"X": "a\r\nB: c"}});
        assert!(validate(ToolKind::Http, &crlf, &params(&[])).is_err());
    }

    #[test]
    fn forms_and_fixed_kinds_are_checked() {
        let form = json!({"fields": [{"name": "cpf", "required": true},
            {"name": "plano", "type": "choice", "options": ["basic", "pro"]}]});
        assert!(validate(ToolKind::Form, &form, &json!({})).is_ok());
        assert!(validate(ToolKind::Form, &json!({"fields": []}), &json!({})).is_err());
        assert!(validate(ToolKind::LeadCapture, &json!({}), &json!({})).is_ok());
        let twice = json!({"fields": [{"name": "a"}, {"name": "a"}]});
        assert!(validate(ToolKind::Form, &twice, &json!({})).is_err());
        assert!(validate(ToolKind::Calculator, &json!({}), &json!({})).is_ok());
        assert!(validate(ToolKind::Calculator, &json!({"x": 1}), &json!({})).is_err());
        assert!(validate(ToolKind::Search, &json!({"limit": 20}), &json!({})).is_err());
        let schema = generated_parameters(ToolKind::Form, &form).expect("schema");
        assert_eq!(schema["required"], json!(["cpf"]));
        assert_eq!(
            schema["properties"]["plano"]["enum"],
            json!(["basic", "pro"])
        );
        let lead = generated_parameters(ToolKind::LeadCapture, &json!({})).expect("schema");
        assert!(lead["properties"]["email"].is_object());
    }

    #[test]
    fn secrets_are_sealed_redacted_kept_and_opened() {
        let secrets = box_();
        let tenant = TenantId("t".into());
        let config =
            json!({"url": "https://a.example", "headers": {"Authorization": "Bearer s3cret"}});
        let stored = seal(ToolKind::Http, &config, None, &secrets, &tenant).expect("sealed");
        let sealed = stored["headers"]["Authorization"].as_str().expect("sealed");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            redact(ToolKind::Http, &stored)["headers"]["Authorization"],
            REDACTED
        );
        let opened = open(ToolKind::Http, &stored, &secrets, &tenant).expect("opens");
        assert_eq!(opened["headers"]["Authorization"], "Bearer s3cret");
        let resent = redact(ToolKind::Http, &stored);
        let kept = seal(ToolKind::Http, &resent, Some(&stored), &secrets, &tenant).expect("kept");
        assert_eq!(
            kept["headers"]["Authorization"],
            stored["headers"]["Authorization"]
        );

        let hook = seal(
            ToolKind::Webhook,
            &json!({"url": "https://h.example", "secret": "0123456789abcdef"}),
            None,
            &secrets,
            &tenant,
        )
        .expect("sealed");
        assert_eq!(redact(ToolKind::Webhook, &hook)["secret"], REDACTED);
        assert_eq!(
            open(ToolKind::Webhook, &hook, &secrets, &tenant).expect("opens")["secret"],
            "0123456789abcdef"
        );
    }

    #[test]
    fn secrets_do_not_follow_a_url_to_another_host() {
        let secrets = box_();
        let tenant = TenantId("t".into());
        let config = json!({"url": "https://a.example/x",
            "headers": {"Authorization": "Bearer s3cret", "X-Plain": "v"}});
        let stored = seal(ToolKind::Http, &config, None, &secrets, &tenant).expect("sealed");
        let mut moved = redact(ToolKind::Http, &stored);
        moved["url"] = json!("https://b.example/x");
        let resealed =
            seal(ToolKind::Http, &moved, Some(&stored), &secrets, &tenant).expect("sealed");
        assert!(
            resealed["headers"].get("Authorization").is_none(),
            "{resealed}"
        );
        assert!(resealed["headers"].get("X-Plain").is_none());
        moved["headers"]["Authorization"] = json!("Bearer new");
        let renewed =
            seal(ToolKind::Http, &moved, Some(&stored), &secrets, &tenant).expect("sealed");
        let opened = open(ToolKind::Http, &renewed, &secrets, &tenant).expect("opens");
        assert_eq!(opened["headers"]["Authorization"], "Bearer new");
        let mut same_host = redact(ToolKind::Http, &stored);
        same_host["url"] = json!("https://a.example/other?q=1");
        let kept =
            seal(ToolKind::Http, &same_host, Some(&stored), &secrets, &tenant).expect("kept");
        assert_eq!(
            kept["headers"]["Authorization"],
            stored["headers"]["Authorization"]
        );

        let hook = json!({"url": "https://h.example", "secret": "0123456789abcdef"});
        let hook = seal(ToolKind::Webhook, &hook, None, &secrets, &tenant).expect("sealed");
        let mut moved = redact(ToolKind::Webhook, &hook);
        moved["url"] = json!("http://h.example:8080");
        assert!(seal(ToolKind::Webhook, &moved, Some(&hook), &secrets, &tenant).is_err());
        moved["secret"] = json!("fedcba9876543210");
        assert!(seal(ToolKind::Webhook, &moved, Some(&hook), &secrets, &tenant).is_ok());
    }

    #[test]
    fn agent_overrides_moving_the_url_get_no_secrets() {
        let tool = json!({"url": "https://a.example/{{id}}", "headers": {"A": "sealed"}});
        let same = for_agent(
            ToolKind::Http,
            &tool,
            &json!({"url": "https://a.example/v2/{{id}}"}),
        );
        assert_eq!(same["headers"]["A"], "sealed");
        let moved = for_agent(
            ToolKind::Http,
            &tool,
            &json!({"url": "https://b.example/{{id}}"}),
        );
        assert_eq!(moved["url"], "https://b.example/{{id}}");
        assert!(moved.get("headers").is_none(), "{moved}");
        let plain = for_agent(ToolKind::Http, &tool, &json!({"method": "POST"}));
        assert_eq!(plain["headers"]["A"], "sealed");

        let hook = json!({"url": "https://h.example", "secret": "sealed"});
        let moved = for_agent(
            ToolKind::Webhook,
            &hook,
            &json!({"url": "https://evil.example"}),
        );
        assert!(moved.get("secret").is_none(), "{moved}");
        assert!(serde_json::from_value::<WebhookConfig>(moved).is_err());
    }

    #[test]
    fn agent_config_overrides_but_never_carries_secrets() {
        let tool = json!({"url": "https://a.example/{{id}}", "headers": {"A": "sealed"}});
        let p = params(&["id"]);
        assert!(
            check_agent_config(ToolKind::Http, &json!({"query": {"lang": "pt"}}), &tool, &p)
                .is_ok()
        );
        assert!(check_agent_config(ToolKind::Http, &json!({"headers": {}}), &tool, &p).is_err());
        assert!(
            check_agent_config(ToolKind::Http, &json!({"url": "https://{{id}}"}), &tool, &p)
                .is_err()
        );
        let mut merged = tool.clone();
        merge(&mut merged, &json!({"method": "POST"}));
        assert_eq!(merged["method"], "POST");
        assert_eq!(merged["headers"]["A"], "sealed");
    }
}

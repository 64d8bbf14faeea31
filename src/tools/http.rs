//! `http` and `webhook` tools: outbound requests to URLs a tenant admin configured, filled in
//! with the model's arguments. Every target passes the SSRF guard (unless the installation
//! allows private targets), redirects are not followed, and bodies over
//! [`MAX_RESPONSE_BYTES`] (or `outbound.max_response_bytes`, if smaller) are refused rather
//! than read.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};

use super::config::{HttpConfig, WebhookConfig};
use super::{ToolContext, ToolOutcome, ToolRuntime};
use crate::channels::signature;
use crate::outbound::{self, body, guard};

const ERROR_EXCERPT_CHARS: usize = 300;

/// An argument as text: strings as they are, anything else as JSON.
fn arg_text(args: &Value, name: &str) -> String {
    match args.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// RFC 3986 unreserved characters stay, everything else is %-encoded: an argument can never
/// add a path segment, a query parameter or a fragment.
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Replaces every `{{name}}` in `template` with `fill(name)`.
pub fn render(template: &str, fill: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        out.push_str(&fill(after[..end].trim()));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A body template filled in: a string that is exactly `{{name}}` becomes the argument's JSON
/// value (numbers stay numbers); other strings are interpolated as text.
pub fn render_body(template: &Value, args: &Value) -> Value {
    match template {
        Value::String(s) => {
            let trimmed = s.trim();
            if let Some(name) = trimmed
                .strip_prefix("{{")
                .and_then(|r| r.strip_suffix("}}"))
                .filter(|n| !n.contains("{{") && !n.contains("}}"))
            {
                return args.get(name.trim()).cloned().unwrap_or(Value::Null);
            }
            Value::String(render(s, |name| arg_text(args, name)))
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| render_body(v, args)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_body(v, args)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn header_map(headers: impl IntoIterator<Item = (String, String)>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("header `{name}` is not a valid header name"))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("header `{name}` has a value that is not allowed"))?;
        map.insert(name, value);
    }
    Ok(map)
}

pub async fn run_http(config: &Value, args: &Value, rt: &ToolRuntime) -> ToolOutcome {
    let http: HttpConfig = match serde_json::from_value(config.clone()) {
        Ok(http) => http,
        Err(e) => return ToolOutcome::error(format!("the tool is misconfigured: {e}")),
    };
    let Ok(method) = Method::from_bytes(http.method.to_ascii_uppercase().as_bytes()) else {
        return ToolOutcome::error("the tool is misconfigured: bad method");
    };
    let rendered = render(&http.url, |name| encode_component(&arg_text(args, name)));
    let mut url = match guard::check(&rendered, rt.allow_private()).await {
        Ok(url) => url,
        Err(refusal) => return ToolOutcome::error(format!("request refused: {refusal}")),
    };
    if !http.query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (key, value) in &http.query {
            pairs.append_pair(key, &render(value, |name| arg_text(args, name)));
        }
    }
    let headers = match header_map(
        http.headers
            .iter()
            .map(|(k, v)| (k.clone(), render(v, |name| arg_text(args, name)))),
    ) {
        Ok(headers) => headers,
        Err(e) => return ToolOutcome::error(e),
    };
    let body = match (&http.body, &method) {
        (Some(template), _) => Some(render_body(template, args)),
        (None, &Method::POST | &Method::PUT | &Method::PATCH) => Some(args.clone()),
        (None, _) => None,
    };
    let client = match rt.http() {
        Ok(client) => client,
        Err(e) => return ToolOutcome::error(e),
    };
    let mut request = client.request(method, url).headers(headers);
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request, rt.max_response_bytes()).await
}

pub async fn run_webhook(
    tool_name: &str,
    config: &Value,
    args: &Value,
    cx: &ToolContext,
    rt: &ToolRuntime,
) -> ToolOutcome {
    let hook: WebhookConfig = match serde_json::from_value(config.clone()) {
        Ok(hook) => hook,
        Err(e) => return ToolOutcome::error(format!("the tool is misconfigured: {e}")),
    };
    let url = match guard::check(&hook.url, rt.allow_private()).await {
        Ok(url) => url,
        Err(refusal) => return ToolOutcome::error(format!("request refused: {refusal}")),
    };
    let body = json!({
        "tool": tool_name,
        "arguments": args,
        "conversation_id": cx.conversation,
        "contact_id": cx.contact,
        "agent_id": cx.agent,
        "sent_at": chrono::Utc::now().to_rfc3339(),
    })
    .to_string();
    let signed = signature::sign(hook.secret.as_bytes(), body.as_bytes());
    let client = match rt.http() {
        Ok(client) => client,
        Err(e) => return ToolOutcome::error(e),
    };
    let request = client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header(signature::HEADER, signed)
        .body(body);
    send(request, rt.max_response_bytes()).await
}

/// Sends and reads at most `max_bytes`; non-2xx answers are errors for the model.
async fn send(request: reqwest::RequestBuilder, max_bytes: usize) -> ToolOutcome {
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            let reason = if e.is_connect() {
                "could not connect"
            } else if e.is_timeout() {
                "timed out"
            } else {
                "the request failed"
            };
            return ToolOutcome::error(format!("{reason}: {}", chain(e)));
        }
    };
    let status = response.status();
    let bytes = match body::read_capped(response, max_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => return ToolOutcome::error(e.to_string()),
    };
    let text = String::from_utf8_lossy(&bytes);
    if status.is_redirection() {
        return ToolOutcome::error(format!(
            "HTTP {}: redirects are not followed",
            status.as_u16()
        ));
    }
    if !status.is_success() {
        return ToolOutcome::error(format!(
            "HTTP {}: {}",
            status.as_u16(),
            super::truncate(text.trim(), ERROR_EXCERPT_CHARS)
        ));
    }
    let body =
        serde_json::from_str::<Value>(&text).unwrap_or_else(|_| Value::String(text.into_owned()));
    ToolOutcome::ok(json!({"status": status.as_u16(), "body": body}))
}

/// Without the URL: a header or query value there may be a secret.
fn chain(error: reqwest::Error) -> String {
    outbound::error_chain(&error.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_and_encode() {
        let args = json!({"id": "12/34?x=1", "n": 5, "name": "Ana Maria"});
        let url = render("https://a.example/orders/{{id}}", |n| {
            encode_component(&arg_text(&args, n))
        });
        assert_eq!(url, "https://a.example/orders/12%2F34%3Fx%3D1");
        assert_eq!(
            render("Hi {{ name }}!", |n| arg_text(&args, n)),
            "Hi Ana Maria!"
        );
        assert_eq!(render("no {{end", |_| "x".into()), "no {{end");
        let body = render_body(
            &json!({"qty": "{{n}}", "note": "for {{name}}", "list": ["{{id}}"]}),
            &args,
        );
        assert_eq!(
            body,
            json!({"qty": 5, "note": "for Ana Maria", "list": ["12/34?x=1"]})
        );
        assert_eq!(render_body(&json!("{{missing}}"), &args), Value::Null);
    }

    #[test]
    fn bad_headers_are_refused() {
        assert!(header_map([("X-Ok".to_string(), "v".to_string())]).is_ok());
        assert!(header_map([("X Bad".to_string(), "v".to_string())]).is_err());
        assert!(header_map([("X".to_string(), "a\nb".to_string())]).is_err());
    }
}

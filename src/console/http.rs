//! HTTP handlers that serve the embedded console: pages, hashed assets, the widget, and the
//! browser fallback for client routes (`/inbox/mine`, `/c/{id}`, …).

use actix_web::guard::GuardContext;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use super::assets::{self, Framing};
use crate::api::error::ApiError;

/// Shown at `/` when the binary was built without Node.js (or the console build failed).
const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Atende</title></head>
<body>
<h1>Atende is running; its console was not built into this binary</h1>
<p>The console is built by <code>cargo build</code> when Node.js 20+ and npm are installed.
Install them, then build again:</p>
<pre>cargo build --release</pre>
<p>or build it by hand with <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code>
(the build warnings of <code>cargo build</code> say what went wrong).</p>
<p>The API works without it: <a href="/docs/">API reference</a>,
<a href="/api/openapi.json">OpenAPI document</a>.</p>
</body></html>
"#;

/// A browser asking for a page (`Accept: text/html`); API clients get JSON on the same paths.
pub fn wants_html(ctx: &GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn request_wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn accept_encoding(req: &HttpRequest) -> &str {
    req.headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// An embedded file with its caching and encoding headers, or 404.
fn serve(req: &HttpRequest, path: &str) -> Result<HttpResponse, ApiError> {
    let asset = assets::find(path, accept_encoding(req)).ok_or(ApiError::NotFound)?;
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, asset.mime))
        .insert_header((header::CACHE_CONTROL, assets::cache_control(path)))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if let Some(encoding) = asset.encoding {
        response.insert_header((header::CONTENT_ENCODING, encoding.header()));
    }
    Ok(response.body(asset.body.into_owned()))
}

/// A page: the file plus the Content-Security-Policy for this host.
fn page(req: &HttpRequest, path: &str, framing: Framing) -> Result<HttpResponse, ApiError> {
    let mut response = if assets::built() {
        serve(req, path)?
    } else {
        HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(NOT_BUILT)
    };
    let host = req.connection_info().host().to_string();
    let policy = assets::content_security_policy(&host, framing);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if framing == Framing::Deny {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    Ok(response)
}

pub async fn console_page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    page(&req, "index.html", Framing::Deny)
}

/// `/a/{slug}` for a browser: the customer's chat page (it reads the agent's card as JSON).
pub async fn chat_page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    page(&req, "chat.html", Framing::Anywhere)
}

pub async fn widget(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "widget.js")
}

pub async fn asset(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    serve(&req, &format!("assets/{}", path.into_inner()))
}

/// Unmatched paths: a browser navigating to a client route (a reload of `/inbox/queue`)
/// gets the console, which routes on its own; everything else the JSON 404.
pub async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let navigable = req.method() == actix_web::http::Method::GET
        && request_wants_html(&req)
        && !req.path().starts_with("/api/");
    if navigable {
        page(&req, "index.html", Framing::Deny)
    } else {
        Err(ApiError::NotFound)
    }
}

//! `/api/v1/knowledge`: the tenant's knowledge base. Admins and supervisors upload (JSON text
//! or a multipart file: text, Markdown, HTML, PDF) and delete documents; every staff role
//! lists, reads and searches. An upload with the title of an existing document in the same
//! scope (tenant-wide, or the same agent) replaces it.

use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::pagination::{Page, PageQuery};
use super::resource;
use crate::auth::Staff;
use crate::config::KnowledgeSettings;
use crate::domain::{AgentId, Role, TenantId};
use crate::knowledge::documents::{self, Stored, Upload};
use crate::knowledge::extract::{self, SourceType};
use crate::knowledge::{KnowledgeError, KnowledgeIndex, Scope, SearchRequest};
use crate::store::knowledge::{self as store_knowledge, DocumentSummary};
use crate::store::{agents, Store, StoreError};

const MAX_TITLE_CHARS: usize = 200;
/// Room for the multipart framing and the small fields around the file.
const MULTIPART_OVERHEAD_BYTES: usize = 64 * 1024;
/// Largest small multipart field (title, agent_id, content_type).
const MAX_FIELD_BYTES: usize = 4 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: String,
    pub title: String,
    /// text, markdown, html or pdf.
    pub source_type: String,
    /// Size of what was uploaded.
    pub size_bytes: i64,
    pub chunk_count: usize,
    /// Set when only this AI agent may use the document; null: every agent of the tenant.
    pub agent_id: Option<String>,
    /// SHA-256 of the uploaded bytes.
    pub checksum: String,
    pub file_name: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// The extracted text (only when one document is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

impl DocumentView {
    fn from_summary(d: DocumentSummary) -> ApiResult<Self> {
        let metadata: serde_json::Value = serde_json::from_str(&d.metadata).unwrap_or_default();
        Ok(DocumentView {
            chunk_count: documents::chunk_count(&d.metadata),
            file_name: metadata["file_name"].as_str().map(str::to_string),
            id: d.id,
            title: d.title,
            source_type: d.source_type,
            size_bytes: d.size_bytes,
            agent_id: d.agent_id,
            checksum: d.checksum,
            created_at: d.created_at.and_utc(),
            updated_at: d.updated_at.and_utc(),
            content: None,
        })
    }
}

/// JSON upload. Multipart uploads send the same as form fields, with the document in a
/// `file` part (its content type from `content_type`, the part's MIME type or the file
/// name's extension; PDF allowed).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDocument {
    pub title: String,
    pub content: String,
    /// text (default), markdown or html.
    pub content_type: Option<String>,
    /// Only this AI agent may use the document.
    pub agent_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    pub query: String,
    /// Search as this AI agent sees the base (tenant-wide documents and its own); without
    /// it, every document of the tenant.
    pub agent_id: Option<String>,
    /// 1..=`knowledge.search_max_limit` (50), default `knowledge.search_default_limit`.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    pub document_id: String,
    pub chunk_id: String,
    pub title: String,
    pub heading: String,
    /// BM25 score, best first; comparable within one response only.
    pub score: f64,
    /// Share of the query's terms found in the chunk (0..1).
    pub relevance: f64,
    pub excerpt: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    pub results: Vec<SearchResult>,
}

impl From<KnowledgeError> for ApiError {
    fn from(e: KnowledgeError) -> Self {
        match e {
            KnowledgeError::Invalid { field, reason } => ApiError::field(field, &reason),
            KnowledgeError::Store(e) => e.into(),
            KnowledgeError::QuotaExceeded {
                quota,
                limit,
                would_be,
            } => ApiError::QuotaExceeded {
                message: format!(
                    "the knowledge base is full: this upload would bring its {quota} to {would_be}, over the tenant's limit of {limit}"
                ),
                details: serde_json::json!({"quota": quota, "limit": limit}),
            },
            KnowledgeError::Index(e) | KnowledgeError::Worker(e) => ApiError::Internal(e),
        }
    }
}

/// An `agent_id` field: an AI agent of the caller's tenant, or a 400 naming the field.
async fn agent_of_tenant(store: &Store, tenant: &TenantId, raw: &str) -> ApiResult<AgentId> {
    let id = AgentId::parse(raw.trim())
        .ok_or_else(|| ApiError::field("agent_id", "is not a valid id"))?;
    let (tenant, lookup) = (tenant.clone(), id.clone());
    match store
        .run(move |conn| agents::find(conn, &tenant, &lookup).map(|_| ()))
        .await
    {
        Ok(()) => Ok(id),
        Err(StoreError::NotFound) => Err(ApiError::field(
            "agent_id",
            "is not an AI agent of this tenant",
        )),
        Err(e) => Err(e.into()),
    }
}

/// What an upload request said, before the bytes are checked.
#[derive(Default)]
struct Form {
    title: Option<String>,
    agent_id: Option<String>,
    content_type: Option<String>,
    file: Option<Vec<u8>>,
    file_name: Option<String>,
    mime: Option<String>,
}

fn is_content_type(req: &HttpRequest, prefix: &str) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with(prefix))
}

/// Reads a body of at most `limit` bytes; a larger one is refused as soon as it is seen.
async fn read_limited<S, E>(mut stream: S, limit: usize) -> ApiResult<Vec<u8>>
where
    S: futures::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::validation(format!("unreadable request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn json_form(payload: web::Payload, settings: &KnowledgeSettings) -> ApiResult<Form> {
    // JSON escapes can make the text up to twice as long on the wire; the content itself is
    // held to max_document_bytes once decoded.
    let limit = settings
        .max_document_bytes
        .saturating_mul(2)
        .saturating_add(MULTIPART_OVERHEAD_BYTES);
    let body = read_limited(payload, limit).await?;
    let parsed: CreateDocument = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("invalid JSON body: {e}")))?;
    if let Some(declared) = parsed.content_type.as_deref() {
        if SourceType::parse(declared) == Some(SourceType::Pdf) {
            return Err(ApiError::field(
                "content_type",
                "pdf is uploaded as a multipart file, not as JSON text",
            ));
        }
    }
    Ok(Form {
        title: Some(parsed.title),
        agent_id: parsed.agent_id,
        content_type: Some(parsed.content_type.unwrap_or_else(|| "text".into())),
        file: Some(parsed.content.into_bytes()),
        file_name: None,
        mime: None,
    })
}

async fn multipart_form(
    req: &HttpRequest,
    payload: web::Payload,
    settings: &KnowledgeSettings,
) -> ApiResult<Form> {
    let mut multipart = actix_multipart::Multipart::new(req.headers(), payload);
    let mut form = Form::default();
    // A file over the limit is read one byte past it, so the error can say "too large"
    // instead of cutting the connection.
    let file_limit = settings.max_document_bytes.saturating_add(1);
    let mut total = 0usize;
    let total_limit = settings
        .max_document_bytes
        .saturating_add(MULTIPART_OVERHEAD_BYTES);
    while let Some(field) = multipart.next().await {
        let mut field =
            field.map_err(|e| ApiError::validation(format!("invalid multipart body: {e}")))?;
        let name = field.name().unwrap_or_default().to_string();
        let limit = if name == "file" {
            file_limit
        } else {
            MAX_FIELD_BYTES
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::validation(format!("invalid multipart body: {e}")))?;
            total += chunk.len();
            if total > total_limit {
                return Err(ApiError::PayloadTooLarge(total_limit));
            }
            if bytes.len() + chunk.len() > limit {
                if name == "file" {
                    return Err(too_large("file", settings));
                }
                return Err(ApiError::field(field_name(&name), "is too long"));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = || {
            String::from_utf8(bytes.clone())
                .map_err(|_| ApiError::field(field_name(&name), "must be UTF-8 text"))
        };
        match name.as_str() {
            "file" => {
                form.file_name = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .map(str::to_string);
                form.mime = field.content_type().map(|m| m.essence_str().to_string());
                form.file = Some(bytes);
            }
            "title" => form.title = Some(text()?),
            "agent_id" => form.agent_id = Some(text()?).filter(|s| !s.trim().is_empty()),
            "content_type" => form.content_type = Some(text()?).filter(|s| !s.trim().is_empty()),
            // Unknown parts are ignored, like unknown form fields anywhere.
            _ => {}
        }
    }
    Ok(form)
}

/// Field names in errors must be `'static`; the known ones are, anything else is "field".
fn field_name(name: &str) -> &'static str {
    match name {
        "title" => "title",
        "agent_id" => "agent_id",
        "content_type" => "content_type",
        "file" => "file",
        _ => "field",
    }
}

fn too_large(field: &'static str, settings: &KnowledgeSettings) -> ApiError {
    ApiError::field(
        field,
        &format!(
            "is larger than the {} bytes allowed (knowledge.max_document_bytes)",
            settings.max_document_bytes
        ),
    )
}

/// The file name without its extension, as a title for files uploaded without one.
fn title_from_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.rsplit_once('.')
        .map_or(base, |(stem, _)| stem)
        .to_string()
}

#[utoipa::path(post, path = "/api/v1/knowledge/documents", tag = "knowledge",
    request_body(content(
        (CreateDocument = "application/json"),
        (CreateDocument = "multipart/form-data"),
    ), description = "JSON text, or multipart with a `file` part (text, Markdown, HTML or PDF) and optional `title`, `agent_id`, `content_type` fields"),
    responses((status = 201, body = DocumentView), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload(
    staff: Staff,
    store: web::Data<Store>,
    index: web::Data<KnowledgeIndex>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let settings = index.settings();
    let (form, field) = if is_content_type(&req, "multipart/form-data") {
        (multipart_form(&req, payload, settings).await?, "file")
    } else if is_content_type(&req, "application/json") {
        (json_form(payload, settings).await?, "content")
    } else {
        return Err(ApiError::validation(
            "Content-Type must be application/json or multipart/form-data",
        ));
    };
    let bytes = form
        .file
        .ok_or_else(|| ApiError::field(field, "is required"))?;
    if bytes.len() > settings.max_document_bytes {
        return Err(too_large(field, settings));
    }
    let title = match (form.title.as_deref(), form.file_name.as_deref()) {
        (Some(title), _) if !title.trim().is_empty() => title.to_string(),
        (_, Some(name)) => title_from_file_name(name),
        _ => String::new(),
    };
    let title = resource::required_text("title", &title, MAX_TITLE_CHARS)?;
    let source = extract::detect(
        form.content_type.as_deref(),
        form.mime.as_deref(),
        form.file_name.as_deref(),
        &bytes,
    )?;
    let agent = match form.agent_id.as_deref() {
        Some(raw) => Some(agent_of_tenant(&store, &staff.tenant_id, raw).await?),
        None => None,
    };
    let Stored {
        document,
        chunk_count,
    } = documents::upload(
        &store,
        &index,
        Upload {
            tenant: staff.tenant_id.clone(),
            agent,
            title,
            source,
            bytes,
            file_name: form.file_name,
            field,
        },
    )
    .await?;
    let mut view = DocumentView::from_summary(document.into())?;
    view.chunk_count = chunk_count;
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(get, path = "/api/v1/knowledge/documents", tag = "knowledge", params(PageQuery),
    responses((status = 200, description = "A page of documents (without their text)", body = Page<DocumentView>)),
    security(("bearer" = [])))]
pub async fn list(
    staff: Staff,
    store: web::Data<Store>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = super::pagination::tenant_page(
        &store,
        &staff.tenant_id,
        &query,
        |raw| resource::path_id(raw).ok(),
        store_knowledge::list,
        |d| d.id.clone(),
        DocumentView::from_summary,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(get, path = "/api/v1/knowledge/documents/{id}", tag = "knowledge",
    responses((status = 200, description = "The document with its extracted text", body = DocumentView),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    staff: Staff,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = resource::path_id(&path)?;
    let tenant = staff.tenant_id.clone();
    let document = store
        .run(move |conn| store_knowledge::find(conn, &tenant, &id))
        .await?;
    let content = document.content.clone();
    let mut view = DocumentView::from_summary(document.into())?;
    view.content = Some(content);
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(delete, path = "/api/v1/knowledge/documents/{id}", tag = "knowledge",
    responses((status = 204, description = "Deleted with its chunks and index entries"),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    staff: Staff,
    store: web::Data<Store>,
    index: web::Data<KnowledgeIndex>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    staff.require(Role::oversees_tenant)?;
    let id = resource::path_id(&path)?;
    documents::delete(&store, &index, &staff.tenant_id, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/knowledge/search", tag = "knowledge", request_body = SearchBody,
    responses((status = 200, body = SearchResponse), (status = 400, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn search(
    staff: Staff,
    store: web::Data<Store>,
    index: web::Data<KnowledgeIndex>,
    body: web::Json<SearchBody>,
) -> ApiResult<HttpResponse> {
    let settings = index.settings();
    let query = body.query.trim();
    if query.is_empty() {
        return Err(ApiError::field("query", "must not be empty"));
    }
    if query.chars().count() > settings.max_query_chars {
        return Err(ApiError::field(
            "query",
            &format!("must be at most {} characters", settings.max_query_chars),
        ));
    }
    let limit = match body.limit {
        None => settings.search_default_limit,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=settings.search_max_limit).contains(n))
            .ok_or_else(|| {
                ApiError::field(
                    "limit",
                    &format!("must be between 1 and {}", settings.search_max_limit),
                )
            })?,
    };
    let scope = match body.agent_id.as_deref() {
        Some(raw) => Scope::Agent(agent_of_tenant(&store, &staff.tenant_id, raw).await?),
        None => Scope::Operator,
    };
    let hits = index
        .search(SearchRequest {
            tenant: staff.tenant_id.clone(),
            scope,
            query: query.to_string(),
            limit,
            min_relevance: 0.0,
        })
        .await?;
    let results = hits
        .into_iter()
        .map(|h| SearchResult {
            excerpt: crate::tools::truncate(h.passage.content.trim(), settings.excerpt_chars),
            document_id: h.passage.document_id,
            chunk_id: h.passage.chunk_id,
            title: h.passage.title,
            heading: h.passage.heading,
            score: h.score,
            relevance: h.relevance,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SearchResponse { results }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/knowledge/documents")
            .route(web::get().to(list))
            .route(web::post().to(upload)),
    )
    .service(
        web::resource("/knowledge/documents/{id}")
            .route(web::get().to(get))
            .route(web::delete().to(delete)),
    )
    .route("/knowledge/search", web::post().to(search));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_come_from_file_names() {
        assert_eq!(
            title_from_file_name("Política de trocas.pdf"),
            "Política de trocas"
        );
        assert_eq!(title_from_file_name("C:\\docs\\faq.md"), "faq");
        assert_eq!(title_from_file_name("sem-extensao"), "sem-extensao");
    }
}

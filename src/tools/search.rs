//! The `search` tool: the tenant's knowledge base, lexically (see `llm::retrieval`).

use serde_json::{json, Value};

use super::config::SearchConfig;
use super::{ToolContext, ToolOutcome, ToolRuntime};
use crate::llm::retrieval;

const DEFAULT_LIMIT: u32 = 3;
const DEFAULT_MIN_SCORE: f64 = 0.3;
/// Characters of each passage returned; the model needs the gist and the source.
const EXCERPT_CHARS: usize = 1500;

pub async fn run(config: &Value, args: &Value, cx: &ToolContext, rt: &ToolRuntime) -> ToolOutcome {
    let config: SearchConfig = serde_json::from_value(config.clone()).unwrap_or_default();
    let query = args
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let limit = usize::try_from(config.limit.unwrap_or(DEFAULT_LIMIT)).unwrap_or(3);
    let hits = retrieval::search(
        rt.store(),
        &cx.tenant,
        query,
        limit,
        config.min_score.unwrap_or(DEFAULT_MIN_SCORE),
    )
    .await;
    match hits {
        Ok(hits) => ToolOutcome::ok(json!({
            "results": hits.iter().map(|h| json!({
                "title": h.passage.title,
                "content": super::truncate(&h.passage.content, EXCERPT_CHARS),
                "document_id": h.passage.document_id,
                "score": (h.score * 100.0).round() / 100.0,
            })).collect::<Vec<_>>(),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "knowledge search failed");
            ToolOutcome::error("the knowledge base is unavailable; try again later")
        }
    }
}

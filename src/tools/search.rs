//! The `search` tool: the knowledge base as the calling agent sees it (BM25, see
//! `knowledge::index`).

use serde_json::{json, Value};

use super::config::SearchConfig;
use super::{ToolContext, ToolOutcome, ToolRuntime};
use crate::llm::retrieval;

/// Characters of each passage returned; the model needs the gist and the source.
const EXCERPT_CHARS: usize = 1500;

pub async fn run(config: &Value, args: &Value, cx: &ToolContext, rt: &ToolRuntime) -> ToolOutcome {
    let config: SearchConfig = serde_json::from_value(config.clone()).unwrap_or_default();
    let query = args
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Without a tool-level setting the tool finds what the prompt would get.
    let defaults = rt.knowledge().settings();
    let limit = config
        .limit
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(defaults.prompt_passages);
    let hits = retrieval::search(
        rt.knowledge(),
        &cx.tenant,
        Some(&cx.agent),
        query,
        limit,
        config.min_score.unwrap_or(defaults.prompt_min_relevance),
    )
    .await;
    match hits {
        Ok(hits) => ToolOutcome::ok(json!({
            "results": hits.iter().map(|h| json!({
                "title": h.passage.title,
                "content": super::truncate(&h.passage.content, EXCERPT_CHARS),
                "document_id": h.passage.document_id,
                "score": (h.score * 100.0).round() / 100.0,
                "relevance": (h.relevance * 100.0).round() / 100.0,
            })).collect::<Vec<_>>(),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "knowledge search failed");
            ToolOutcome::error("the knowledge base is unavailable; try again later")
        }
    }
}

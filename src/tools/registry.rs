//! The tools of one turn: built from the agent's enabled attachments, described to the model,
//! and called with validated arguments, a timeout and a capped result.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonschema::Validator;
use serde_json::{json, Value};

use super::{
    config, schema, CallRecord, ToolContext, ToolKind, ToolOutcome, ToolRuntime, MAX_RESULT_CHARS,
};
use crate::llm::prompt::ToolBrief;
use crate::llm::{ToolCall, ToolSpec};
use crate::store::tools::{AgentTool, Tool};

/// A tool as a turn uses it.
#[derive(Clone)]
pub struct Registered {
    pub name: String,
    pub description: String,
    pub kind: ToolKind,
    pub parameters: Value,
    validator: Arc<Validator>,
    /// The stored config (secrets still sealed) with the agent's overrides merged in.
    config: Value,
    timeout: Duration,
}

/// The tools offered in one turn.
#[derive(Clone)]
pub struct Toolbox {
    tools: Vec<Registered>,
    runtime: ToolRuntime,
}

impl Toolbox {
    pub fn empty(runtime: ToolRuntime) -> Self {
        Toolbox {
            tools: Vec::new(),
            runtime,
        }
    }

    /// The attachments that are enabled, of tools that are enabled. A tool whose stored
    /// definition no longer holds (kind or schema) is left out with a warning instead of
    /// failing the turn.
    pub fn from_rows(rows: Vec<(AgentTool, Tool)>, runtime: ToolRuntime) -> Self {
        let mut tools: Vec<Registered> = Vec::new();
        for (attachment, tool) in rows {
            if !attachment.enabled || !tool.enabled {
                continue;
            }
            if tools.iter().any(|t| t.name == tool.name) {
                continue;
            }
            match register(&attachment, &tool) {
                Ok(registered) => tools.push(registered),
                Err(e) => {
                    tracing::warn!(tool = %tool.id, name = %tool.name, error = %e, "tool left out of the turn")
                }
            }
        }
        Toolbox { tools, runtime }
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools
            .iter()
            .map(|t| ToolSpec {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: t.parameters.clone(),
            })
            .collect()
    }

    pub fn briefs(&self) -> Vec<ToolBrief> {
        self.tools
            .iter()
            .map(|t| ToolBrief {
                name: t.name.clone(),
                description: t.description.clone(),
            })
            .collect()
    }

    /// Runs one call. Never fails: every problem becomes an error result for the model.
    /// Returns the outcome, the log record and the text to hand back to the model.
    pub async fn call(
        &self,
        call: &ToolCall,
        cx: &ToolContext,
    ) -> (ToolOutcome, CallRecord, String) {
        let started = Instant::now();
        let arguments = schema::parse_arguments(&call.arguments);
        let logged_arguments = match &arguments {
            Ok(value) => super::for_log(value),
            Err(_) => Value::String(super::truncate(&call.arguments, super::MAX_LOG_CHARS)),
        };
        let outcome = match (self.tools.iter().find(|t| t.name == call.name), arguments) {
            (None, _) => {
                let known: Vec<&str> = self.tools.iter().map(|t| t.name.as_str()).collect();
                ToolOutcome::error(format!(
                    "there is no tool named `{}`; available tools: {}",
                    call.name,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            }
            (Some(_), Err(e)) => ToolOutcome::error(e),
            (Some(tool), Ok(args)) => match schema::check_arguments(&tool.validator, &args) {
                Err(e) => ToolOutcome::error(e),
                Ok(()) => {
                    match tokio::time::timeout(tool.timeout, self.execute(tool, args, cx)).await {
                        Ok(outcome) => outcome,
                        Err(_) => ToolOutcome::error(format!(
                            "the tool did not answer within {} ms",
                            tool.timeout.as_millis()
                        )),
                    }
                }
            },
        };
        let for_model = match &outcome.result {
            Ok(data) => super::truncate(
                &json!({"success": true, "data": data}).to_string(),
                MAX_RESULT_CHARS,
            ),
            Err(error) => json!({"success": false, "error": error}).to_string(),
        };
        let record = CallRecord {
            call_id: call.id.clone(),
            name: call.name.clone(),
            arguments: logged_arguments,
            ok: outcome.result.is_ok(),
            result: outcome.result.as_ref().ok().map(super::for_log),
            error: outcome.result.as_ref().err().cloned(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            timestamp: chrono::Utc::now().to_rfc3339(),
        };
        if let Err(error) = &outcome.result {
            tracing::info!(tool = %call.name, %error, "tool call failed");
        }
        (outcome, record, for_model)
    }

    async fn execute(&self, tool: &Registered, args: Value, cx: &ToolContext) -> ToolOutcome {
        let rt = &self.runtime;
        let config = match config::open(tool.kind, &tool.config, rt.secrets(), &cx.tenant) {
            Ok(config) => config,
            Err(e) => return ToolOutcome::error(e),
        };
        match tool.kind {
            ToolKind::Http => super::http::run_http(&config, &args, rt).await,
            ToolKind::Webhook => super::http::run_webhook(&tool.name, &config, &args, cx, rt).await,
            ToolKind::Calculator => super::calculator::run(&args),
            ToolKind::Search => super::search::run(&config, &args, cx, rt).await,
            ToolKind::LeadCapture | ToolKind::Form => {
                super::forms::run(tool.kind, &tool.name, &config, &args, cx, rt).await
            }
            ToolKind::System => super::system::run(&tool.name, args, cx, rt).await,
        }
    }
}

fn register(attachment: &AgentTool, tool: &Tool) -> Result<Registered, String> {
    let kind = ToolKind::parse(&tool.tool_type)
        .ok_or_else(|| format!("unknown tool type `{}`", tool.tool_type))?;
    let stored: Value =
        serde_json::from_str(&tool.config).map_err(|e| format!("config is not JSON: {e}"))?;
    let overrides: Value = serde_json::from_str(&attachment.config).unwrap_or(Value::Null);
    let config = config::for_agent(kind, &stored, &overrides);
    let (description, parameters) = match kind {
        // System tools always run with the built-in schema: the handler relies on it.
        ToolKind::System => {
            let (description, schema) = super::system::definition(&tool.name)
                .ok_or_else(|| format!("unknown system tool `{}`", tool.name))?;
            let description = if tool.description.trim().is_empty() {
                description.to_string()
            } else {
                tool.description.clone()
            };
            (description, schema)
        }
        _ => {
            let parameters = match config::generated_parameters(kind, &config) {
                Some(generated) => generated,
                None => serde_json::from_str(&tool.parameters)
                    .map_err(|e| format!("parameters are not JSON: {e}"))?,
            };
            (tool.description.clone(), parameters)
        }
    };
    let validator = schema::compile(&parameters)?;
    let timeout_ms = tool
        .timeout_ms
        .clamp(super::MIN_TIMEOUT_MS, super::MAX_TIMEOUT_MS);
    Ok(Registered {
        name: tool.name.clone(),
        description,
        kind,
        parameters,
        validator: Arc::new(validator),
        config,
        timeout: Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(10_000)),
    })
}

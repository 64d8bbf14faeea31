//! The automation executor: when a customer's message matches an automation's intent, its
//! actions run instead of the LLM. Data actions (tags, funnel stages) are written here;
//! owner and status changes come back as effects for the conversation, whose actor alone
//! changes them; messages become the turn's answer. The matching rules are pure
//! (`domain::automation`).

use serde_json::{json, Value};

use crate::domain::automation::{Action, Rule};
use crate::domain::conversation::Owner;
use crate::domain::{AgentId, ConversationId, TenantId, UserId};
use crate::store::automations::Automation;
use crate::store::{agents, crm, users, Store};
use crate::tools::Effect;

/// The automation rules of a turn; one whose stored JSON no longer decodes is skipped.
pub fn rules(automations: &[Automation]) -> Vec<Rule> {
    automations
        .iter()
        .filter_map(|a| match (a.intents(), a.actions()) {
            (Ok(intents), Ok(actions)) => Some(Rule::new(
                a.id.clone(),
                a.name.clone(),
                a.priority,
                &intents,
                actions,
            )),
            _ => {
                tracing::warn!(automation = %a.id, "automation skipped: stored JSON is corrupt");
                None
            }
        })
        .collect()
}

/// What running a rule's actions gave.
pub struct Executed {
    /// The messages to send, in order (the turn's answer).
    pub messages: Vec<String>,
    /// Owner and status changes for the conversation.
    pub effects: Vec<Effect>,
    /// One entry per action: the action with its `result` or `error` (the turn log).
    pub log: Vec<Value>,
}

/// Runs every action of a matched rule in order; a failing action is logged and the next
/// one still runs.
pub async fn execute(
    store: Store,
    tenant: TenantId,
    conversation: ConversationId,
    actions: Vec<Action>,
) -> Executed {
    let mut done = Executed {
        messages: Vec::new(),
        effects: Vec::new(),
        log: Vec::new(),
    };
    for action in actions {
        let result: Result<Value, String> = match &action {
            Action::SendMessage { content } => {
                done.messages.push(content.clone());
                Ok(json!({"sent": true}))
            }
            Action::AddTag { tag } => {
                let (tenant, conversation, tag) =
                    (tenant.clone(), conversation.clone(), tag.clone());
                store
                    .run(move |conn| crm::add_conversation_tag(conn, &tenant, &conversation, &tag))
                    .await
                    .map(|added| json!({"added": added}))
                    .map_err(|e| e.to_string())
            }
            Action::MoveToStage { stage_id } => {
                let (tenant, conversation, stage) =
                    (tenant.clone(), conversation.clone(), stage_id.clone());
                store
                    .run(move |conn| crm::move_to_stage(conn, &tenant, &conversation, &stage))
                    .await
                    .map(|name| json!({"stage": name}))
                    .map_err(|e| e.to_string())
            }
            Action::Assign { user_id, agent_id } => {
                assign_owner(&store, &tenant, user_id.as_deref(), agent_id.as_deref())
                    .await
                    .map(|owner| {
                        done.effects.push(Effect::Assign {
                            owner: owner.clone(),
                        });
                        json!({"owner": owner})
                    })
            }
            Action::Close { reason } => {
                done.effects.push(Effect::Close {
                    reason: Some(reason.clone().unwrap_or_else(|| "automation".into())),
                });
                Ok(json!({"closing": true}))
            }
        };
        let mut entry = serde_json::to_value(&action).unwrap_or_default();
        match result {
            Ok(value) => entry["result"] = value,
            Err(error) => {
                tracing::warn!(%error, "automation action failed");
                entry["error"] = Value::String(error);
            }
        }
        done.log.push(entry);
    }
    done
}

/// The owner an automation's `assign` names, checked against the tenant at run time (the
/// user or agent may have been deleted since the automation was saved).
async fn assign_owner(
    store: &Store,
    tenant: &TenantId,
    user_id: Option<&str>,
    agent_id: Option<&str>,
) -> Result<Owner, String> {
    let tenant = tenant.clone();
    match (user_id, agent_id) {
        (Some(user), _) => {
            let id = UserId::parse(user).ok_or("user_id is not an id")?;
            let lookup = id.clone();
            store
                .run(move |conn| users::find(conn, &tenant, &lookup).map(|_| ()))
                .await
                .map_err(|_| "the user does not exist".to_string())?;
            Ok(Owner::User(id))
        }
        (None, Some(agent)) => {
            let id = AgentId::parse(agent).ok_or("agent_id is not an id")?;
            let lookup = id.clone();
            store
                .run(move |conn| agents::find(conn, &tenant, &lookup).map(|_| ()))
                .await
                .map_err(|_| "the agent does not exist".to_string())?;
            Ok(Owner::AiAgent(id))
        }
        (None, None) => Err("assign needs user_id or agent_id".into()),
    }
}

//! `lead_capture` and `form`: the model collects fields from the customer; they are checked
//! (types beyond what JSON Schema says: e-mail, phone, date) and saved — a lead on the contact,
//! a form as an activity of the conversation.

use serde_json::{json, Map, Value};

use super::config::{FieldType, FormConfig, FormField};
use super::{ToolContext, ToolKind, ToolOutcome, ToolRuntime};
use crate::domain::validate;
use crate::store::crm::{self, ContactUpdate, NewActivity};

fn check_field(field: &FormField, value: &Value) -> Result<(), String> {
    let text = value.as_str().map(str::trim);
    match field.kind {
        FieldType::Email if !text.is_some_and(validate::is_email) => {
            Err(format!("{} must be a valid e-mail address", field.name))
        }
        FieldType::Phone
            if !text.is_some_and(|t| {
                let digits = t.chars().filter(char::is_ascii_digit).count();
                (8..=15).contains(&digits)
            }) =>
        {
            Err(format!(
                "{} must be a phone number with 8 to 15 digits",
                field.name
            ))
        }
        FieldType::Date if text.is_none_or(|t| super::system::parse_due(t).is_none()) => {
            Err(format!("{} must be a date (YYYY-MM-DD)", field.name))
        }
        FieldType::Text if text.is_some_and(str::is_empty) && field.required => {
            Err(format!("{} must not be blank", field.name))
        }
        _ => Ok(()),
    }
}

/// The fields in `args` checked against `fields`; the error names every bad field.
pub fn collect(fields: &[FormField], args: &Value) -> Result<Map<String, Value>, String> {
    let mut values = Map::new();
    let mut problems = Vec::new();
    for field in fields {
        match args.get(&field.name) {
            Some(Value::Null) | None if field.required => {
                problems.push(format!("{} is required", field.name))
            }
            Some(Value::Null) | None => {}
            Some(value) => match check_field(field, value) {
                Ok(()) => {
                    let value = match (field.kind, value.as_str()) {
                        (FieldType::Email, Some(e)) => Value::String(validate::normalize_email(e)),
                        (_, Some(t)) => Value::String(t.trim().to_string()),
                        _ => value.clone(),
                    };
                    values.insert(field.name.clone(), value);
                }
                Err(problem) => problems.push(problem),
            },
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(problems.join("; "))
    }
}

pub async fn run(
    kind: ToolKind,
    tool_name: &str,
    config: &Value,
    args: &Value,
    cx: &ToolContext,
    rt: &ToolRuntime,
) -> ToolOutcome {
    let form: FormConfig = serde_json::from_value(config.clone()).unwrap_or_default();
    let fields = if form.fields.is_empty() && kind == ToolKind::LeadCapture {
        FormConfig::lead_defaults()
    } else {
        form.fields.clone()
    };
    let values = match collect(&fields, args) {
        Ok(values) => values,
        Err(problems) => return ToolOutcome::error(problems),
    };
    let Some(contact) = cx.contact.clone() else {
        return ToolOutcome::error("this tool only works inside a customer conversation");
    };
    let tenant = cx.tenant.clone();
    let conversation = cx.conversation.clone();
    let title = form.title.clone().unwrap_or_else(|| tool_name.to_string());
    let saved_fields: Vec<String> = values.keys().cloned().collect();
    let result = rt
        .store()
        .run(move |conn| {
            if kind == ToolKind::LeadCapture {
                let mut custom = values.clone();
                let mut take = |key: &str| {
                    custom
                        .remove(key)
                        .and_then(|v| v.as_str().map(str::to_string))
                };
                let update = ContactUpdate {
                    name: take("name"),
                    email: take("email"),
                    phone: take("phone"),
                    custom_fields: custom,
                };
                crm::update_contact(conn, &tenant, &contact, &update)?;
            }
            crm::insert_activity(
                conn,
                &NewActivity {
                    tenant_id: tenant.clone(),
                    contact_id: Some(contact.clone()),
                    conversation_id: conversation.clone(),
                    kind: if kind == ToolKind::LeadCapture {
                        "lead".into()
                    } else {
                        "form".into()
                    },
                    title,
                    description: String::new(),
                    due_at: None,
                    data: Value::Object(values).to_string(),
                },
            )
        })
        .await;
    match result {
        Ok(activity) => ToolOutcome::ok(json!({"saved": saved_fields, "activity_id": activity})),
        Err(e) => {
            tracing::warn!(error = %e, "form tool could not save");
            ToolOutcome::error("the data store is unavailable; try again later")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_typed_required_and_normalized() {
        let fields = FormConfig::lead_defaults();
        let ok = collect(
            &fields,
            &json!({"name": " Ana ", "email": "Ana@Example.COM", "phone": "+55 11 98765-4321"}),
        )
        .expect("valid");
        assert_eq!(ok["name"], "Ana");
        assert_eq!(ok["email"], "ana@example.com");
        let err = collect(&fields, &json!({"email": "nope", "phone": "12"})).expect_err("bad");
        assert!(err.contains("name is required"), "{err}");
        assert!(err.contains("email"), "{err}");
        assert!(err.contains("phone"), "{err}");
    }
}

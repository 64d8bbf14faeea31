//! JSON Schemas of tool arguments: checked when an admin saves a tool, and every call's
//! arguments are validated against them before the tool runs (the `jsonschema` crate).

use jsonschema::Validator;
use serde_json::Value;

/// Errors listed back to the model per call; the first few say enough to fix the call.
const MAX_REPORTED_ERRORS: usize = 5;
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// Why an admin's schema was refused, as a sentence fragment after "parameters".
pub fn check_definition(schema: &Value) -> Result<(), String> {
    if schema.to_string().len() > MAX_SCHEMA_BYTES {
        return Err(format!("must be at most {MAX_SCHEMA_BYTES} bytes"));
    }
    let Some(object) = schema.as_object() else {
        return Err("must be a JSON Schema object".into());
    };
    // Function calling passes one JSON object of named arguments.
    if object.get("type").and_then(Value::as_str) != Some("object") {
        return Err("must be a schema of \"type\": \"object\"".into());
    }
    if let Some(properties) = object.get("properties") {
        if !properties.is_object() {
            return Err("properties must be an object".into());
        }
    }
    jsonschema::meta::validate(schema).map_err(|e| format!("is not a valid JSON Schema: {e}"))?;
    compile(schema).map(|_| ())
}

/// Compiles a schema; references to other documents are refused (no network, no files).
pub fn compile(schema: &Value) -> Result<Validator, String> {
    jsonschema::validator_for(schema).map_err(|e| format!("is not a usable JSON Schema: {e}"))
}

/// Checks `arguments` against `validator`; the error lists what is wrong, path by path.
pub fn check_arguments(validator: &Validator, arguments: &Value) -> Result<(), String> {
    let errors: Vec<String> = validator
        .iter_errors(arguments)
        .take(MAX_REPORTED_ERRORS)
        .map(|e| {
            let path = e.instance_path().to_string();
            if path.is_empty() {
                e.to_string()
            } else {
                format!("{path}: {e}")
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid arguments: {}", errors.join("; ")))
    }
}

/// The model's argument text as JSON. Empty text is no arguments; anything that is not a
/// JSON object is an error the model can correct.
pub fn parse_arguments(raw: &str) -> Result<Value, String> {
    if raw.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err("arguments must be a JSON object".into()),
        Err(e) => Err(format!("arguments are not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order_schema() -> Value {
        json!({
            "type": "object",
            "properties": {"order_id": {"type": "integer", "minimum": 1}},
            "required": ["order_id"],
            "additionalProperties": false
        })
    }

    #[test]
    fn good_and_bad_definitions() {
        assert!(check_definition(&order_schema()).is_ok());
        assert!(check_definition(&json!({"type": "object"})).is_ok());
        assert!(check_definition(&json!("object")).is_err());
        assert!(check_definition(&json!({"type": "string"})).is_err());
        assert!(check_definition(&json!({"type": "object", "properties": []})).is_err());
        assert!(
            check_definition(&json!({"type": "object", "properties": {"a": {"type": 5}}})).is_err()
        );
    }

    #[test]
    fn arguments_are_checked_path_by_path() {
        let validator = compile(&order_schema()).expect("compiles");
        assert!(check_arguments(&validator, &json!({"order_id": 12345})).is_ok());
        let err = check_arguments(&validator, &json!({"order_id": "abc"})).expect_err("string");
        assert!(err.contains("/order_id"), "{err}");
        let err = check_arguments(&validator, &json!({})).expect_err("missing");
        assert!(err.contains("order_id"), "{err}");
        assert!(check_arguments(&validator, &json!({"order_id": 1, "x": 2})).is_err());
    }

    #[test]
    fn argument_text_must_be_a_json_object() {
        assert_eq!(parse_arguments("").expect("empty"), json!({}));
        assert_eq!(
            parse_arguments(r#"{"a":1}"#).expect("object"),
            json!({"a": 1})
        );
        assert!(parse_arguments("[1]").is_err());
        assert!(parse_arguments("{not json").is_err());
    }
}

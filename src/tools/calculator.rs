//! The calculator tool: arithmetic through a real expression parser (`exmex`), so what the
//! model sends is parsed as math and never executed as code.

use serde_json::{json, Value};

use super::ToolOutcome;

const MAX_EXPRESSION_CHARS: usize = 500;

/// Evaluates `expression`: numbers, + - * / ^, parentheses and functions such as sqrt, abs,
/// sin, ln, exp. Commas are read as decimal points, the way customers in Brazil write them,
/// unless the expression already uses points.
pub fn evaluate(expression: &str) -> Result<f64, String> {
    let expression = expression.trim();
    if expression.is_empty() {
        return Err("expression is empty".into());
    }
    if expression.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(format!(
            "expression must be at most {MAX_EXPRESSION_CHARS} characters"
        ));
    }
    let normalized = if expression.contains(',') && !expression.contains('.') {
        expression.replace(',', ".")
    } else {
        expression.to_string()
    };
    let value = exmex::eval_str::<f64>(&normalized)
        .map_err(|e| format!("could not evaluate the expression: {}", e.msg()))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err("the result is not a finite number (division by zero?)".into())
    }
}

pub fn run(args: &Value) -> ToolOutcome {
    let expression = args
        .get("expression")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match evaluate(expression) {
        Ok(result) => ToolOutcome::ok(json!({"expression": expression, "result": result})),
        Err(e) => ToolOutcome::error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn arithmetic_and_functions() {
        assert!(close(evaluate("(1200 * 0.15) + 30").expect("ok"), 210.0));
        assert!(close(evaluate("2^10").expect("ok"), 1024.0));
        assert!(close(evaluate("sqrt(16) + abs(-2)").expect("ok"), 6.0));
        assert!(close(evaluate("199,90 * 3").expect("ok"), 599.7));
    }

    #[test]
    fn code_and_nonsense_are_refused() {
        for bad in [
            "",
            "std::process::exit(1)",
            "import os",
            "1 +",
            "x + 1",
            "1/0",
            "system(\"ls\")",
        ] {
            assert!(evaluate(bad).is_err(), "{bad}");
        }
        assert!(evaluate(&"1+".repeat(300)).is_err());
    }
}

//! Departments as queues (issue 16, item 2). Pure rules: which department's queue a
//! conversation waits in, who may be offered it, whether the department has room, and its
//! first-response target. The distributor gathers the rows and applies the answers.
//!
//! A conversation's department comes from, in order: the conversation itself (set by staff
//! with `PATCH`, by a transfer, or earlier by these rules), the department whose
//! `categories` hold the conversation's classification category, the integration's
//! `default_department_id`. The category mapping is per tenant and lives on the departments
//! (`/departments` `categories`), so each tenant routes its own way without a restart; a
//! category belongs to at most one department of a tenant.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::classification::Category;

/// Upper bound of a department's `max_conversations` (0 = no cap).
pub const MAX_DEPARTMENT_CONVERSATIONS: u32 = 100_000;
/// Upper bound of a department's `first_response_seconds` (0 = the tenant's target): a week,
/// like the tenant's minute settings.
pub const MAX_FIRST_RESPONSE_SECONDS: u32 = 7 * 24 * 60 * 60;

/// Why a conversation is in a department's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// It already was (staff, a transfer, or an earlier routing).
    Conversation,
    /// Its classification category is mapped to the department.
    Category,
    /// Its integration's `default_department_id`.
    Integration,
}

/// A department as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub id: String,
    pub categories: Vec<Category>,
    /// 0 = no cap.
    pub max_conversations: u32,
    /// 0 = the tenant's `first_response_minutes`.
    pub first_response_seconds: u32,
}

/// The department whose queue the conversation waits in, and why; `None`: no department,
/// everyone may take it. A category is read the way classification spells it or the way
/// staff typed it (`Category::parse`: `técnico` is `technical`).
pub fn resolve<'a>(
    current: Option<&'a str>,
    category: Option<&str>,
    departments: &'a [Queue],
    integration_default: Option<&'a str>,
) -> Option<(&'a str, Source)> {
    if let Some(current) = current.filter(|c| !c.is_empty()) {
        return Some((current, Source::Conversation));
    }
    let mapped = category.and_then(Category::parse).and_then(|category| {
        departments
            .iter()
            .find(|d| d.categories.contains(&category))
    });
    if let Some(department) = mapped {
        return Some((department.id.as_str(), Source::Category));
    }
    integration_default
        .filter(|d| !d.is_empty())
        .map(|d| (d, Source::Integration))
}

/// Whether someone who belongs to `member_of` may be offered a conversation of
/// `department`: everyone when it has none, otherwise only the department's members.
pub fn serves(member_of: &[String], department: Option<&str>) -> bool {
    department.is_none_or(|d| member_of.iter().any(|m| m == d))
}

/// Whether a department handling `open` conversations may take one more (`max` 0 = no cap).
pub fn has_room(open: u64, max: u32) -> bool {
    max == 0 || open < u64::from(max)
}

/// The first-response target in seconds: the department's own when set, else the tenant's
/// minutes; 0 = no target.
pub fn first_response_target(department_seconds: u32, tenant_minutes: u32) -> u32 {
    if department_seconds > 0 {
        department_seconds
    } else {
        tenant_minutes.saturating_mul(60)
    }
}

/// Whether a first response still missing at `now` is late against a target of `seconds`
/// (0 = no target). Exactly at the deadline is still on time.
pub fn first_response_late(assigned_at: NaiveDateTime, now: NaiveDateTime, seconds: u32) -> bool {
    seconds > 0 && now - assigned_at > chrono::Duration::seconds(i64::from(seconds))
}

/// The categories a department takes, parsed; the first unknown name is the error.
pub fn parse_categories(raw: &[String]) -> Result<Vec<Category>, String> {
    let mut out: Vec<Category> = Vec::new();
    for name in raw {
        let category = Category::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
            format!(
                "`{}` is not a category (one of {})",
                name.chars().take(40).collect::<String>(),
                known.join(", ")
            )
        })?;
        if !out.contains(&category) {
            out.push(category);
        }
    }
    Ok(out)
}

/// The category of `wanted` that another department (not `except`) already takes.
pub fn taken_category<'a>(
    wanted: &[Category],
    departments: &'a [Queue],
    except: Option<&str>,
) -> Option<(Category, &'a str)> {
    departments
        .iter()
        .filter(|d| Some(d.id.as_str()) != except)
        .find_map(|d| {
            wanted
                .iter()
                .find(|c| d.categories.contains(c))
                .map(|c| (*c, d.id.as_str()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(id: &str, categories: &[Category]) -> Queue {
        Queue {
            id: id.into(),
            categories: categories.to_vec(),
            max_conversations: 0,
            first_response_seconds: 0,
        }
    }

    #[test]
    fn the_conversation_then_its_category_then_the_integration_decide() {
        let departments = [
            queue("suporte", &[Category::Technical, Category::Support]),
            queue("vendas", &[Category::Commercial]),
        ];
        assert_eq!(
            resolve(Some("vendas"), Some("technical"), &departments, Some("x")),
            Some(("vendas", Source::Conversation))
        );
        assert_eq!(
            resolve(None, Some("técnico"), &departments, Some("x")),
            Some(("suporte", Source::Category))
        );
        assert_eq!(
            resolve(None, Some("praise"), &departments, Some("geral")),
            Some(("geral", Source::Integration))
        );
        assert_eq!(
            resolve(None, Some("not a category"), &departments, Some("geral")),
            Some(("geral", Source::Integration))
        );
        assert_eq!(resolve(None, None, &departments, None), None);
        assert_eq!(resolve(Some(""), None, &departments, Some("")), None);
    }

    #[test]
    fn only_members_serve_a_department_and_everyone_serves_none() {
        let member = vec!["suporte".to_string()];
        assert!(serves(&member, Some("suporte")));
        assert!(!serves(&member, Some("vendas")));
        assert!(!serves(&[], Some("vendas")));
        assert!(serves(&[], None));
    }

    #[test]
    fn capacity_zero_means_no_cap() {
        assert!(has_room(1_000, 0));
        assert!(has_room(1, 2));
        assert!(!has_room(2, 2));
        assert!(!has_room(3, 2));
    }

    #[test]
    fn the_department_target_overrides_the_tenant_minutes() {
        assert_eq!(first_response_target(30, 5), 30);
        assert_eq!(first_response_target(0, 5), 300);
        assert_eq!(first_response_target(0, 0), 0);
    }

    #[test]
    fn a_response_is_late_only_past_the_target() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 3, 10)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .expect("valid time");
        let after = |s: i64| at + chrono::Duration::seconds(s);
        assert!(!first_response_late(at, after(30), 30));
        assert!(first_response_late(at, after(31), 30));
        assert!(!first_response_late(at, after(100_000), 0));
    }

    #[test]
    fn categories_parse_in_either_language_and_clash_across_departments() {
        let parsed = parse_categories(&["Técnico".into(), "technical".into(), "vendas".into()])
            .expect("known categories");
        assert_eq!(parsed, vec![Category::Technical, Category::Commercial]);
        assert!(parse_categories(&["weather".into()])
            .expect_err("unknown category")
            .contains("weather"));
        let departments = [queue("suporte", &[Category::Technical])];
        assert_eq!(
            taken_category(&[Category::Technical], &departments, None),
            Some((Category::Technical, "suporte"))
        );
        assert_eq!(
            taken_category(&[Category::Technical], &departments, Some("suporte")),
            None
        );
    }
}

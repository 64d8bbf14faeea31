//! Keyset pagination shared by list endpoints: `?limit=&cursor=` in,
//! `{"items": [...], "next_cursor": string|null}` out.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1..=200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> ApiResult<i64> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::field("limit", "must be between 1 and 200")),
        }
    }

    pub fn cursor_id<T>(&self, parse: impl Fn(&str) -> Option<T>) -> ApiResult<Option<T>> {
        match &self.cursor {
            None => Ok(None),
            Some(raw) => parse(raw)
                .map(Some)
                .ok_or_else(|| ApiError::field("cursor", "is not a cursor of this list")),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only signals a next page.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: i64,
        cursor_of: impl Fn(&R) -> String,
        view: impl Fn(R) -> ApiResult<T>,
    ) -> ApiResult<Self> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&cursor_of)
        } else {
            None
        };
        let items = rows.into_iter().map(view).collect::<ApiResult<Vec<T>>>()?;
        Ok(Page { items, next_cursor })
    }
}

/// A repository's keyset list: tenant, limit, rows after an id.
pub type TenantList<Id, Row> = fn(
    &mut crate::store::DbConn,
    &crate::domain::TenantId,
    i64,
    Option<&Id>,
) -> crate::store::StoreResult<Vec<Row>>;
/// A tenant's page of a resource listed by id: the body every keyset list endpoint shares.
pub async fn tenant_page<Id, Row, View>(
    store: &crate::store::Store,
    tenant: &crate::domain::TenantId,
    query: &PageQuery,
    parse_id: fn(&str) -> Option<Id>,
    list: TenantList<Id, Row>,
    cursor_of: fn(&Row) -> String,
    view: fn(Row) -> ApiResult<View>,
) -> ApiResult<Page<View>>
where
    Id: Send + 'static,
    Row: Send + 'static,
{
    let limit = query.limit()?;
    let after = query.cursor_id(parse_id)?;
    let tenant = tenant.clone();
    let rows = store
        .run(move |conn| list(conn, &tenant, limit + 1, after.as_ref()))
        .await?;
    Page::from_rows(rows, limit, cursor_of, view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_row_becomes_the_cursor() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| n.to_string(), Ok).expect("page");
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let last = Page::from_rows(vec![1, 2], 2, |n| n.to_string(), Ok).expect("page");
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn limits_are_bounded() {
        let q = |limit| PageQuery {
            limit: Some(limit),
            cursor: None,
        };
        assert!(q(0).limit().is_err());
        assert!(q(201).limit().is_err());
        assert_eq!(q(200).limit().expect("ok"), 200);
    }
}

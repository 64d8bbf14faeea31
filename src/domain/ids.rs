//! Id newtypes. Ids are UUIDv7 strings: time-ordered (good index locality), unique across
//! nodes (a cluster adds nodes without an id authority) and stored as portable TEXT.

use std::fmt;

macro_rules! id_type {
    ($($name:ident),* $(,)?) => {$(
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[serde(transparent)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub struct $name(pub String);

        impl $name {
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// Accepts only well-formed ids, so a malformed path segment is a plain 404
            /// without a database round trip.
            pub fn parse(raw: &str) -> Option<Self> {
                uuid::Uuid::parse_str(raw).ok().map(|u| Self(u.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                self.0.to_sql(out)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                String::from_sql(bytes).map(Self)
            }
        }
    )*};
}

id_type!(
    TenantId,
    UserId,
    ContactId,
    ConversationId,
    MessageId,
    AgentId,
    SubAgentId,
    IntegrationId,
    ToolId,
    DepartmentId,
    WebhookId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_parse_back_and_sort_by_time() {
        let a = ConversationId::new();
        let b = ConversationId::new();
        assert_eq!(ConversationId::parse(a.as_str()), Some(a.clone()));
        assert!(a < b, "UUIDv7 ids are time ordered");
    }

    #[test]
    fn malformed_ids_are_rejected() {
        assert_eq!(UserId::parse("1 OR 1=1"), None);
        assert_eq!(UserId::parse(""), None);
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = UserId("0192f0a0-0000-7000-8000-000000000000".into());
        assert_eq!(
            serde_json::to_string(&id).expect("serializes"),
            "\"0192f0a0-0000-7000-8000-000000000000\""
        );
    }
}

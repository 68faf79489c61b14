//! Queries over the policies: which resources a principal may act on, which principals may act on
//! a resource, and a resource filter for data held elsewhere (a condition and its SQL).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::EntityRef;

/// `POST /v1/query/resources`: the resources of one type `principal` may take `action` on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceQuery {
    pub principal: EntityRef,
    pub action: EntityRef,
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(type = "Record<string, unknown>"))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub context: Option<Value>,
    /// At most this many per page (default 100, at most 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A page of resources, sorted by id; `next` is set when more follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceList {
    pub resources: Vec<EntityRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub bundle_digest: String,
}

/// `POST /v1/query/principals`: the principals of one type that may take `action` on `resource`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrincipalQuery {
    pub action: EntityRef,
    pub resource: EntityRef,
    pub principal_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(type = "Record<string, unknown>"))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub context: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A page of principals, sorted by id; `next` is set when more follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrincipalList {
    pub principals: Vec<EntityRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub bundle_digest: String,
}

/// `POST /v1/query/plan`: a filter on resources of one type, for data that lives elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanRequest {
    pub principal: EntityRef,
    pub action: EntityRef,
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(type = "Record<string, unknown>"))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub context: Option<Value>,
    /// Where the resources' data lives; with it the answer carries the SQL `WHERE` clause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<SqlMapping>,
}

/// The plan: decided for every resource of the type, or a condition on the resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanResponse {
    pub plan: Plan,
    /// The condition as a parameterized `WHERE` clause, when a mapping was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<SqlFilter>,
    pub bundle_digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Plan {
    AlwaysAllowed,
    AlwaysDenied,
    Condition { condition: Condition },
}

/// One step of an attribute path: `attribute` (an attribute, then record fields) read on an
/// entity of `entity_type`. A path's steps go from the resource outward; an empty path is the
/// resource itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PathStep {
    pub entity_type: String,
    pub attribute: Vec<String>,
}

/// A condition on the resource (docs/query.md). Literals are JSON strings, numbers and booleans,
/// or entity references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Condition {
    True,
    False,
    And {
        #[cfg_attr(feature = "openapi", schema(no_recursion))]
        args: Vec<Condition>,
    },
    Or {
        #[cfg_attr(feature = "openapi", schema(no_recursion))]
        args: Vec<Condition>,
    },
    Not {
        #[cfg_attr(feature = "openapi", schema(no_recursion))]
        arg: Box<Condition>,
    },
    /// The value at `path` equals `value`.
    Eq {
        path: Vec<PathStep>,
        #[cfg_attr(feature = "typescript", ts(type = "unknown"))]
        value: Value,
    },
    /// The value at `path` is one of `values` (literals or entity references; a set-valued
    /// path: one of its elements is).
    OneOf {
        path: Vec<PathStep>,
        #[cfg_attr(feature = "typescript", ts(type = "Array<unknown>"))]
        values: Vec<Value>,
    },
    /// The entity at `path` is one of `entities` or a descendant of one (Cedar's `in`).
    In {
        path: Vec<PathStep>,
        entities: Vec<EntityRef>,
    },
    /// The set at `path` holds `value`.
    Contains {
        path: Vec<PathStep>,
        #[cfg_attr(feature = "typescript", ts(type = "unknown"))]
        value: Value,
    },
    /// The attribute at `path` is present.
    Has {
        path: Vec<PathStep>,
    },
    /// The number at `path` compares to `value` (`<`, `<=`, `>`, `>=`).
    Compare {
        path: Vec<PathStep>,
        cmp: String,
        value: i64,
    },
}

/// How the resources' data is laid out in SQL tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SqlMapping {
    pub dialect: SqlDialect,
    /// Keyed by entity type.
    pub tables: BTreeMap<String, TableMapping>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SqlDialect {
    Postgres,
    Sqlite,
}

/// One entity type's table: its id column, a column per attribute (nested record fields joined
/// with `.`, entity references as the referenced entity's id), a join table per set-valued
/// attribute, and optionally a table of its ancestors (every ancestor, not only parents).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TableMapping {
    pub table: String,
    pub id: String,
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    #[serde(default)]
    pub sets: BTreeMap<String, JoinTable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ancestors: Option<JoinTable>,
}

/// A two-column table: `owner` (the entity's id) to `value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinTable {
    pub table: String,
    pub owner: String,
    pub value: String,
}

/// A `WHERE` clause (the resource table named by its own name) and its parameters, in order:
/// `$1, $2, …` for PostgreSQL, `?1, ?2, …` for SQLite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SqlFilter {
    #[serde(rename = "where")]
    pub where_clause: String,
    #[cfg_attr(feature = "typescript", ts(type = "Array<unknown>"))]
    pub params: Vec<Value>,
}

//! Errors of the core, as enums with stable codes. Every face (browser, wasmtime guest, HTTP)
//! turns these into the same JSON body (`wire::ErrorBody`), so the codes are part of the API.

use serde::{Deserialize, Serialize};

/// Stable, machine-readable error codes. Renaming one is a breaking change of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorCode {
    /// Input was not valid JSON (or YAML for test files).
    MalformedJson,
    /// A file path is not usable inside a bundle (absolute, `..`, empty).
    InvalidPath,
    /// The bundle has no schema, or more than one.
    SchemaMissing,
    /// The schema does not parse or is inconsistent.
    SchemaInvalid,
    /// A policy file does not parse.
    PolicyParse,
    /// A policy has no `@id("...")` annotation.
    PolicyIdMissing,
    /// Two policies share one `@id`.
    PolicyIdDuplicate,
    /// A policy does not type-check against the schema.
    PolicyValidation,
    /// A policy is suspicious but valid (validator warning).
    PolicyWarning,
    /// An entity file or entity delta is invalid (shape, types, schema conformance).
    EntityInvalid,
    /// Entity parents form a cycle.
    EntityCycle,
    /// Two different entities with the same uid.
    EntityDuplicate,
    /// The manifest is invalid.
    ManifestInvalid,
    /// A test file is invalid.
    TestInvalid,
    /// An access profile grants more than its base profile.
    ProfileWiderThanBase,
    /// An access profile grants more than its licence.
    ProfileWiderThanLicence,
    /// An access profile is malformed (bad level, unknown base or licence).
    ProfileInvalid,
    /// Not exactly one default access profile.
    DefaultProfile,
    /// A user holds a client-side role that the client's plan does not include.
    ClientRoleOutsidePlan,
    /// A request does not conform to the schema (unknown type, wrong action, bad context).
    InvalidRequest,
    /// A named entity, profile or action does not exist.
    NotFound,
    /// The bundle does not declare what an operation needs (e.g. field actions for a matrix).
    Unsupported,
    /// A file in the bundle is not a known kind and was ignored.
    FileIgnored,
    /// The bundle's policies deny the acting user an administration operation.
    Forbidden,
    /// Another user already has this e-mail address.
    DuplicateEmail,
    /// Cedar text nests deeper than Sesame's limits (`nesting::MAX_NESTING`,
    /// `nesting::MAX_EXPRESSION_DEPTH`); refused before Cedar's recursive parser sees it.
    TooDeep,
    /// A template link (links file or link request) names no template, a wrong slot, a bad
    /// entity uid or a used id.
    LinkInvalid,
    /// Under a declared firm model: an entity that would belong to two firms (it reaches both
    /// through its parents and entity references).
    CrossTenant,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::InvalidPath => "invalid_path",
            Self::SchemaMissing => "schema_missing",
            Self::SchemaInvalid => "schema_invalid",
            Self::PolicyParse => "policy_parse",
            Self::PolicyIdMissing => "policy_id_missing",
            Self::PolicyIdDuplicate => "policy_id_duplicate",
            Self::PolicyValidation => "policy_validation",
            Self::PolicyWarning => "policy_warning",
            Self::EntityInvalid => "entity_invalid",
            Self::EntityCycle => "entity_cycle",
            Self::EntityDuplicate => "entity_duplicate",
            Self::ManifestInvalid => "manifest_invalid",
            Self::TestInvalid => "test_invalid",
            Self::ProfileWiderThanBase => "profile_wider_than_base",
            Self::ProfileWiderThanLicence => "profile_wider_than_licence",
            Self::ProfileInvalid => "profile_invalid",
            Self::DefaultProfile => "default_profile",
            Self::ClientRoleOutsidePlan => "client_role_outside_plan",
            Self::InvalidRequest => "invalid_request",
            Self::NotFound => "not_found",
            Self::Unsupported => "unsupported",
            Self::FileIgnored => "file_ignored",
            Self::Forbidden => "forbidden",
            Self::DuplicateEmail => "duplicate_email",
            Self::TooDeep => "too_deep",
            Self::LinkInvalid => "link_invalid",
            Self::CrossTenant => "cross_tenant",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a problem is: a bundle file, 1-based line and column (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a bundle, a request or a delta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Diagnostic {
    pub code: ErrorCode,
    pub severity: Severity,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub location: Option<Location>,
    /// Byte length of the offending text at `location`, for editors that underline it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Error,
            message: message.into(),
            location: None,
            length: None,
            help: None,
        }
    }

    pub fn warning(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    pub fn with_length(mut self, length: Option<u32>) -> Self {
        self.length = length;
        self
    }

    pub fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        write!(f, "{level}[{}]: {}", self.code, self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// A bundle that failed to load: every problem found, not just the first.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the bundle has {} error(s); first: {}", .diagnostics.iter().filter(|d| d.is_error()).count(), first_error(.diagnostics))]
pub struct BundleError {
    pub diagnostics: Vec<Diagnostic>,
}

fn first_error(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .find(|d| d.is_error())
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Failures of engine calls. The engine is unchanged when one is returned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("malformed json: {0}")]
    MalformedJson(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("invalid entities: {0}")]
    EntityInvalid(String),
    #[error("entity hierarchy has a cycle: {0}")]
    EntityCycle(String),
    #[error("duplicate entity: {0}")]
    EntityDuplicate(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("{0}")]
    Bundle(#[from] BundleError),
    /// Entity data that would break a rule of the domain (a profile wider than its base or
    /// licence, no single default profile); every broken rule is listed.
    #[error("{}", .0.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; "))]
    Rules(Vec<Diagnostic>),
    /// An administration operation the bundle's policies deny to the acting user.
    #[error("{message}")]
    Forbidden {
        message: String,
        determining_policies: Vec<String>,
    },
    #[error("{0}")]
    DuplicateEmail(String),
}

impl EngineError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MalformedJson(_) => ErrorCode::MalformedJson,
            Self::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Self::EntityInvalid(_) => ErrorCode::EntityInvalid,
            Self::EntityCycle(_) => ErrorCode::EntityCycle,
            Self::EntityDuplicate(_) => ErrorCode::EntityDuplicate,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Unsupported(_) => ErrorCode::Unsupported,
            Self::Rules(d) => d
                .first()
                .map(|d| d.code)
                .unwrap_or(ErrorCode::EntityInvalid),
            Self::Forbidden { .. } => ErrorCode::Forbidden,
            Self::DuplicateEmail(_) => ErrorCode::DuplicateEmail,
            Self::Bundle(e) => e
                .diagnostics
                .iter()
                .find(|d| d.is_error())
                .map(|d| d.code)
                .unwrap_or(ErrorCode::SchemaInvalid),
        }
    }

    /// The located diagnostics behind this error (empty for request-level errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Self::Bundle(e) => &e.diagnostics,
            Self::Rules(d) => d,
            _ => &[],
        }
    }
}

/// Renders an error and its whole `source()` chain on one line: Cedar's top-level messages are
/// generic ("error during entity deserialization"); the useful part is underneath.
pub(crate) fn render_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if parts.last().map(|p| !p.contains(&s)).unwrap_or(true) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}

//! The versioned policy store: bundle versions (immutable, content-addressed by digest), the
//! active pointer and its history, the entity data, the audit chain and the decision log.
//!
//! One trait, one SQL implementation of it ([`sql::SqlStore`]), two databases behind a small
//! seam ([`dialect`]): SQLite is the embedded default (no setup, a file under the data dir),
//! PostgreSQL the store several replicas share. The trait is synchronous: the server calls it
//! from blocking tasks, and every mutation that must stay consistent with another (a deploy, its
//! activation and its audit record) is one method, so that it is one transaction.

pub mod audit;
pub mod dialect;
pub mod invitations;
pub mod postgres;
pub mod sql;
pub mod sqlite;

use std::collections::BTreeMap;
use std::path::Path;

use policy_core::wire::{EntityDelta, EntityRef};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use audit::{AuditDraft, AuditKind, AuditRecord, ChainCheck};
pub use invitations::{
    InvitationState, InvitationWrite, IssuedInvitation, OutboxDraft, OutboxEvent, StoredInvitation,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Backend(String),
    #[error("no version {0} in the store")]
    UnknownVersion(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("this invitation was used or expired meanwhile")]
    InvitationUsed,
}

/// A stored version's metadata (its files are fetched separately: they can be large).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionMeta {
    pub digest: String,
    /// 1, 2, 3... in the order versions were first stored.
    pub number: u64,
    pub author: String,
    pub message: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The version that was active when this one was deployed.
    pub parent: Option<String>,
}

/// A version to store.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub digest: String,
    pub files: BTreeMap<String, String>,
    pub author: String,
    pub message: String,
}

/// Why the active pointer moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum ActivationKind {
    Deploy,
    Activate,
    Rollback,
    Bootstrap,
}

impl ActivationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Activate => "activate",
            Self::Rollback => "rollback",
            Self::Bootstrap => "bootstrap",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Deploy,
            Self::Activate,
            Self::Rollback,
            Self::Bootstrap,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// One move of the active pointer: the history is the list of these, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Activation {
    pub seq: u64,
    pub digest: String,
    pub previous: Option<String>,
    pub kind: ActivationKind,
    pub actor: String,
    pub at: String,
}

/// One logged entity write: `op` is `replace_entities` or `apply_delta`, `input` its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityWrite {
    pub revision: u64,
    pub op: String,
    pub input: String,
}

/// One sampled decision, as logged (context already masked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionRecord {
    pub at: String,
    pub request: Value,
    pub decision: String,
    pub determining_policies: Vec<String>,
    pub digest: String,
    pub latency_us: u64,
}

/// The storage trait every driver implements.
pub trait PolicyStore: Send + Sync {
    /// Stores a version (a no-op returning the existing metadata if the digest is known) and,
    /// when `activate` is given, moves the active pointer to it; the audit record is written in
    /// the same transaction.
    fn deploy(
        &self,
        version: NewVersion,
        activate: Option<ActivationKind>,
        audit: AuditDraft,
    ) -> Result<VersionMeta, StoreError>;
    /// Moves the active pointer to a stored version, with its audit record, atomically.
    fn activate(
        &self,
        digest: &str,
        kind: ActivationKind,
        audit: AuditDraft,
    ) -> Result<Activation, StoreError>;
    fn active(&self) -> Result<Option<VersionMeta>, StoreError>;
    fn version(&self, digest: &str) -> Result<Option<VersionMeta>, StoreError>;
    fn version_files(&self, digest: &str) -> Result<BTreeMap<String, String>, StoreError>;
    /// Every stored version, oldest first.
    fn versions(&self) -> Result<Vec<VersionMeta>, StoreError>;
    /// Every move of the active pointer, oldest first.
    fn history(&self) -> Result<Vec<Activation>, StoreError>;

    /// The data entities (Cedar entity JSON), in uid order.
    fn entities(&self) -> Result<Vec<Value>, StoreError> {
        Ok(self.entity_snapshot()?.0)
    }
    /// The data entities and the entity revision they reflect, read together.
    fn entity_snapshot(&self) -> Result<(Vec<Value>, u64), StoreError>;
    /// Replaces the data entities, each stored with its tenant from `tenants` (unassigned when
    /// absent); returns the new entity revision.
    fn replace_entities(
        &self,
        records: &[Value],
        tenants: &Tenants,
        audit: AuditDraft,
    ) -> Result<u64, StoreError>;
    /// Applies a delta, upserted records stored with their tenants; returns the new entity
    /// revision.
    fn apply_delta(
        &self,
        delta: &EntityDelta,
        tenants: &Tenants,
        audit: AuditDraft,
    ) -> Result<u64, StoreError>;

    /// Applies a directory write's delta together with what it does to the invitations
    /// ([`InvitationWrite`]: a token issued and its outbox event, or a token used), in one
    /// transaction; returns the new entity revision. An acceptance whose token is not open
    /// any more (used by a concurrent request) fails with [`StoreError::InvitationUsed`] and
    /// writes nothing.
    fn apply_delta_inviting(
        &self,
        delta: &EntityDelta,
        tenants: &Tenants,
        audit: AuditDraft,
        invitation: &InvitationWrite,
    ) -> Result<u64, StoreError>;
    /// The invitation whose token hashes to `token_hash`, if any.
    fn invitation(&self, token_hash: &str) -> Result<Option<StoredInvitation>, StoreError>;
    /// Outbox events with `id > after`, at most `limit`, oldest first; with `tenants`, only
    /// those of these tenants (firm ids, as tokens are bound to them).
    fn outbox(
        &self,
        after: u64,
        limit: usize,
        tenants: Option<&[String]>,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// Whether every entity row has a tenant assigned under `model` (see [`Tenants`]).
    fn tenants_assigned(&self, model: &str) -> Result<bool, StoreError>;
    /// Assigns the tenant of every row (`tenants.by_uid`, '' for the rows it does not name)
    /// and records `tenants.model` as the model they were assigned under.
    fn assign_tenants(&self, tenants: &Tenants) -> Result<(), StoreError>;
    /// One tenant's entity records ('' for the shared ones), in uid order, and the entity
    /// revision they reflect.
    fn partition(&self, tenant: &str) -> Result<(Vec<Value>, u64), StoreError>;
    /// The tenant of the row `uid` (`Type::"id"`): `None` when there is no such row, `Some("")`
    /// when it is shared or not assigned yet.
    fn tenant_of(&self, uid: &str) -> Result<Option<String>, StoreError>;
    /// The records whose JSON contains `text`, case-insensitively (a superset: `_` in `text`
    /// matches any character). For checks that span every tenant (a unique e-mail).
    fn entities_mentioning(&self, text: &str) -> Result<Vec<Value>, StoreError>;
    /// The record of the row `uid`, if any.
    fn entity_record(&self, uid: &str) -> Result<Option<Value>, StoreError>;
    /// Every tenant some row belongs to (not the shared ''), sorted.
    fn tenant_names(&self) -> Result<Vec<String>, StoreError>;
    /// The version (digest) every tenant's rows were last checked against, if any.
    fn tenants_checked_for(&self) -> Result<Option<String>, StoreError>;
    fn set_tenants_checked_for(&self, digest: &str) -> Result<(), StoreError>;
    /// Entity writes after `revision`, oldest first, for replicas sharing the store. Entries
    /// before the last full replace may have been pruned: a list that does not start at
    /// `revision + 1` starts with a replace.
    fn entity_writes_since(&self, revision: u64) -> Result<Vec<EntityWrite>, StoreError>;

    /// Whether other server processes share this store (they must then follow its changes).
    fn is_shared(&self) -> bool {
        false
    }
    /// A signal each time another process may have changed the store (LISTEN/NOTIFY for
    /// Postgres); `None` when the store is not shared.
    fn watch(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<()>> {
        None
    }

    /// Appends a standalone audit record (rejected deploys, denied admin calls).
    fn append_audit(&self, audit: AuditDraft) -> Result<AuditRecord, StoreError>;
    /// Audit records with `seq > after`, at most `limit`, oldest first.
    fn audit(&self, after: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
    /// The last audit record.
    fn audit_head(&self) -> Result<Option<AuditRecord>, StoreError>;

    fn append_decisions(&self, records: &[DecisionRecord]) -> Result<(), StoreError>;
    /// The newest `limit` decision records, oldest first.
    fn decisions(&self, limit: usize) -> Result<Vec<DecisionRecord>, StoreError>;
    /// Deletes, oldest first, decision records logged before `older_than` (RFC 3339, as
    /// [`now_rfc3339`] writes it) and those beyond the newest `max_bytes` bytes of records;
    /// returns how many were deleted. Deletes in short transactions, so that a large backlog
    /// never holds the store for long.
    fn prune_decisions(&self, older_than: &str, max_bytes: u64) -> Result<u64, StoreError>;
}

/// The store of a server: the PostgreSQL database at `database_url` when one is given, else the
/// SQLite file in `data_dir`.
pub fn open(
    data_dir: &Path,
    database_url: Option<&str>,
) -> Result<Box<dyn PolicyStore>, StoreError> {
    Ok(match database_url {
        Some(url) => Box::new(postgres::PgStore::open(url)?),
        None => Box::new(sqlite::SqliteStore::open(data_dir)?),
    })
}

/// The tenant of each written entity, as the engine found it under the active version's firm
/// model (`Engine::tenants_of`): the key of the firm it belongs to (`Firm::"dupont"`), or ''
/// for a shared entity. `model` names the firm model (its JSON; '' for plain Cedar): rows
/// assigned under another one are assigned again before partitions are loaded.
#[derive(Debug, Clone, Default)]
pub struct Tenants {
    pub model: String,
    /// The version (digest) the write was checked against: rows written under another one
    /// than every tenant was last checked against make that check stale.
    pub version: String,
    pub by_uid: std::collections::HashMap<String, String>,
}

/// Rows one pruning transaction deletes at most.
pub const PRUNE_CHUNK: i64 = 5_000;

/// The key an entity record is stored under (`Type::"id"`), or an error naming the record.
pub fn entity_key(record: &Value) -> Result<String, StoreError> {
    let uid = record
        .get("uid")
        .and_then(|u| serde_json::from_value::<EntityRef>(u.clone()).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("entity record without a uid: {record}")))?;
    Ok(uid.to_string())
}

/// Now, RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// `time` as RFC 3339 UTC with milliseconds. The fixed width makes these strings sort like the
/// times they stand for.
pub fn rfc3339(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_rfc3339() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
        assert_eq!(&t[10..11], "T");
        let day = std::time::Duration::from_secs(86_400);
        let epoch = std::time::UNIX_EPOCH;
        assert_eq!(rfc3339(epoch + day * 365), "1971-01-01T00:00:00.000Z");
        let later = epoch + std::time::Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(later), "2023-11-14T22:13:20.123Z");
        assert!(rfc3339(epoch + day) < rfc3339(epoch + day * 20));
    }
}

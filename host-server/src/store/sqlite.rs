//! The embedded default driver: one SQLite file (`sesame.db`) under the data dir.
//!
//! WAL journal with `synchronous = FULL`: a write is on disk when the call returns, so a crash
//! after an acknowledged deploy or entity write loses nothing. One connection behind a mutex:
//! admin writes are rare and short, and serializing them is what keeps the history linear and
//! the audit chain gap-free. The decision log is written in batches by a background thread.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use policy_core::json_api::Op;
use policy_core::wire::EntityDelta;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::Value;

use super::audit::{AuditDraft, AuditRecord, GENESIS};
use super::{
    entity_key, now_rfc3339, Activation, ActivationKind, DecisionRecord, EntityWrite, NewVersion,
    PolicyStore, StoreError, VersionMeta,
};

/// Schema migrations, applied in order at open; `user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE versions (
        number     INTEGER PRIMARY KEY,
        digest     TEXT NOT NULL UNIQUE,
        files      TEXT NOT NULL,
        author     TEXT NOT NULL,
        message    TEXT NOT NULL,
        created_at TEXT NOT NULL,
        parent     TEXT
    );
    CREATE TABLE activations (
        seq      INTEGER PRIMARY KEY,
        digest   TEXT NOT NULL REFERENCES versions(digest),
        previous TEXT,
        kind     TEXT NOT NULL,
        actor    TEXT NOT NULL,
        at       TEXT NOT NULL
    );
    CREATE TABLE entities (
        uid    TEXT PRIMARY KEY,
        record TEXT NOT NULL
    );
    CREATE TABLE audit (
        seq       INTEGER PRIMARY KEY,
        at        TEXT NOT NULL,
        draft     TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
    CREATE TABLE decisions (
        id     INTEGER PRIMARY KEY,
        record TEXT NOT NULL
    );
"#,
    r#"
    CREATE TABLE entity_log (
        rev   INTEGER PRIMARY KEY,
        op    TEXT NOT NULL,
        input TEXT NOT NULL
    );
"#,
    // Decision-log retention: the time of each record and its end offset (bytes of records
    // logged up to and including it), so that pruning by age or size finds its cut in the
    // rows it deletes, without summing the table.
    r#"
    ALTER TABLE decisions ADD COLUMN at TEXT;
    ALTER TABLE decisions ADD COLUMN end_offset INTEGER;
    UPDATE decisions SET at = json_extract(record, '$.at');
    UPDATE decisions SET end_offset = w.total
      FROM (SELECT id, SUM(length(CAST(record AS BLOB))) OVER (ORDER BY id) AS total
            FROM decisions) AS w
     WHERE decisions.id = w.id;
"#,
];

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/sesame.db` and applies pending migrations.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Backend(format!("cannot create data dir {}: {e}", dir.display()))
        })?;
        let conn = Connection::open(dir.join("sesame.db")).map_err(backend)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(backend)?;
        let applied: usize = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            conn.execute_batch(&format!(
                "BEGIN; {migration}; PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))
            .map_err(backend)?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn with_tx<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Backend("store lock poisoned".into()))?;
        let tx = conn.transaction().map_err(backend)?;
        let out = f(&tx)?;
        tx.commit().map_err(backend)?;
        Ok(out)
    }
}

fn version_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<VersionMeta> {
    Ok(VersionMeta {
        number: row.get::<_, i64>(0)? as u64,
        digest: row.get(1)?,
        author: row.get(2)?,
        message: row.get(3)?,
        created_at: row.get(4)?,
        parent: row.get(5)?,
    })
}

const VERSION_COLUMNS: &str = "number, digest, author, message, created_at, parent";

fn find_version(tx: &Connection, digest: &str) -> Result<Option<VersionMeta>, StoreError> {
    tx.query_row(
        &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE digest = ?1"),
        [digest],
        version_row,
    )
    .optional()
    .map_err(backend)
}

fn active_digest(tx: &Connection) -> Result<Option<String>, StoreError> {
    tx.query_row(
        "SELECT digest FROM activations ORDER BY seq DESC LIMIT 1",
        [],
        |r| r.get(0),
    )
    .optional()
    .map_err(backend)
}

fn append_audit_in(tx: &Connection, draft: AuditDraft) -> Result<AuditRecord, StoreError> {
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(backend)?;
    let (seq, prev) = last.map_or((1, GENESIS.to_string()), |(s, h)| (s as u64 + 1, h));
    let record = AuditRecord::seal(seq, now_rfc3339(), draft, &prev);
    tx.execute(
        "INSERT INTO audit (seq, at, draft, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            record.seq as i64,
            record.at,
            serde_json::to_string(&record.draft).map_err(backend)?,
            record.prev_hash,
            record.hash
        ],
    )
    .map_err(backend)?;
    Ok(record)
}

fn activate_in(
    tx: &Connection,
    digest: &str,
    kind: ActivationKind,
    actor: &str,
) -> Result<Activation, StoreError> {
    if find_version(tx, digest)?.is_none() {
        return Err(StoreError::UnknownVersion(digest.to_string()));
    }
    let previous = active_digest(tx)?;
    let at = now_rfc3339();
    tx.execute(
        "INSERT INTO activations (digest, previous, kind, actor, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![digest, previous, kind.as_str(), actor, at],
    )
    .map_err(backend)?;
    Ok(Activation {
        seq: tx.last_insert_rowid() as u64,
        digest: digest.to_string(),
        previous,
        kind,
        actor: actor.to_string(),
        at,
    })
}

/// Appends an entity write to the log (after a replace, older entries are pruned: the
/// replace alone rebuilds the state) and returns its revision.
fn log_entity_write(tx: &Connection, op: Op, input: &str) -> Result<u64, StoreError> {
    tx.execute(
        "INSERT INTO entity_log (op, input) VALUES (?1, ?2)",
        params![op.as_str(), input],
    )
    .map_err(backend)?;
    let rev = tx.last_insert_rowid();
    if op == Op::ReplaceEntities {
        tx.execute("DELETE FROM entity_log WHERE rev < ?1", [rev])
            .map_err(backend)?;
    }
    Ok(rev as u64)
}

fn entity_revision(tx: &Connection) -> Result<u64, StoreError> {
    tx.query_row("SELECT COALESCE(MAX(rev), 0) FROM entity_log", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|r| r as u64)
    .map_err(backend)
}

fn upsert_entities(tx: &Connection, records: &[Value]) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached("INSERT OR REPLACE INTO entities (uid, record) VALUES (?1, ?2)")
        .map_err(backend)?;
    for record in records {
        stmt.execute(params![entity_key(record)?, record.to_string()])
            .map_err(backend)?;
    }
    Ok(())
}

impl PolicyStore for SqliteStore {
    fn deploy(
        &self,
        version: NewVersion,
        activate: Option<ActivationKind>,
        audit: AuditDraft,
    ) -> Result<VersionMeta, StoreError> {
        self.with_tx(|tx| {
            let meta = match find_version(tx, &version.digest)? {
                Some(existing) => existing,
                None => {
                    let parent = active_digest(tx)?;
                    let created_at = now_rfc3339();
                    tx.execute(
                        "INSERT INTO versions (digest, files, author, message, created_at, parent)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            version.digest,
                            serde_json::to_string(&version.files).map_err(backend)?,
                            version.author,
                            version.message,
                            created_at,
                            parent
                        ],
                    )
                    .map_err(backend)?;
                    VersionMeta {
                        number: tx.last_insert_rowid() as u64,
                        digest: version.digest.clone(),
                        author: version.author.clone(),
                        message: version.message.clone(),
                        created_at,
                        parent,
                    }
                }
            };
            if let Some(kind) = activate {
                activate_in(tx, &meta.digest, kind, &audit.actor)?;
            }
            append_audit_in(tx, audit)?;
            Ok(meta)
        })
    }

    fn activate(
        &self,
        digest: &str,
        kind: ActivationKind,
        audit: AuditDraft,
    ) -> Result<Activation, StoreError> {
        self.with_tx(|tx| {
            let activation = activate_in(tx, digest, kind, &audit.actor)?;
            append_audit_in(tx, audit)?;
            Ok(activation)
        })
    }

    fn active(&self) -> Result<Option<VersionMeta>, StoreError> {
        self.with_tx(|tx| match active_digest(tx)? {
            Some(digest) => find_version(tx, &digest),
            None => Ok(None),
        })
    }

    fn version(&self, digest: &str) -> Result<Option<VersionMeta>, StoreError> {
        self.with_tx(|tx| find_version(tx, digest))
    }

    fn version_files(&self, digest: &str) -> Result<BTreeMap<String, String>, StoreError> {
        self.with_tx(|tx| {
            let text: Option<String> = tx
                .query_row(
                    "SELECT files FROM versions WHERE digest = ?1",
                    [digest],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            let text = text.ok_or_else(|| StoreError::UnknownVersion(digest.to_string()))?;
            serde_json::from_str(&text).map_err(corrupt)
        })
    }

    fn versions(&self) -> Result<Vec<VersionMeta>, StoreError> {
        self.with_tx(|tx| {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {VERSION_COLUMNS} FROM versions ORDER BY number"
                ))
                .map_err(backend)?;
            let rows = stmt.query_map([], version_row).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
    }

    fn history(&self) -> Result<Vec<Activation>, StoreError> {
        self.with_tx(|tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT seq, digest, previous, kind, actor, at FROM activations ORDER BY seq",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, digest, previous, kind, actor, at) = row.map_err(backend)?;
                out.push(Activation {
                    seq: seq as u64,
                    digest,
                    previous,
                    kind: ActivationKind::parse(&kind)
                        .ok_or_else(|| corrupt(format!("unknown activation kind {kind}")))?,
                    actor,
                    at,
                });
            }
            Ok(out)
        })
    }

    fn entity_snapshot(&self) -> Result<(Vec<Value>, u64), StoreError> {
        self.with_tx(|tx| {
            let mut stmt = tx
                .prepare("SELECT record FROM entities ORDER BY uid")
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(serde_json::from_str(&row.map_err(backend)?).map_err(corrupt)?);
            }
            Ok((out, entity_revision(tx)?))
        })
    }

    fn entity_writes_since(&self, revision: u64) -> Result<Vec<EntityWrite>, StoreError> {
        self.with_tx(|tx| {
            let mut stmt = tx
                .prepare("SELECT rev, op, input FROM entity_log WHERE rev > ?1 ORDER BY rev")
                .map_err(backend)?;
            let rows = stmt
                .query_map([revision as i64], |r| {
                    Ok(EntityWrite {
                        revision: r.get::<_, i64>(0)? as u64,
                        op: r.get(1)?,
                        input: r.get(2)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
    }

    fn replace_entities(&self, records: &[Value], audit: AuditDraft) -> Result<u64, StoreError> {
        self.with_tx(|tx| {
            tx.execute("DELETE FROM entities", []).map_err(backend)?;
            upsert_entities(tx, records)?;
            append_audit_in(tx, audit)?;
            let input = serde_json::to_string(records).map_err(backend)?;
            log_entity_write(tx, Op::ReplaceEntities, &input)
        })
    }

    fn apply_delta(&self, delta: &EntityDelta, audit: AuditDraft) -> Result<u64, StoreError> {
        self.with_tx(|tx| {
            {
                let mut stmt = tx
                    .prepare_cached("DELETE FROM entities WHERE uid = ?1")
                    .map_err(backend)?;
                for uid in &delta.remove {
                    stmt.execute([uid.to_string()]).map_err(backend)?;
                }
            }
            upsert_entities(tx, &delta.upsert)?;
            append_audit_in(tx, audit)?;
            let input = serde_json::to_string(delta).map_err(backend)?;
            log_entity_write(tx, Op::ApplyDelta, &input)
        })
    }

    fn append_audit(&self, audit: AuditDraft) -> Result<AuditRecord, StoreError> {
        self.with_tx(|tx| append_audit_in(tx, audit))
    }

    fn audit(&self, after: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.with_tx(|tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT seq, at, draft, prev_hash, hash FROM audit WHERE seq > ?1
                     ORDER BY seq LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![after as i64, limit as i64], audit_row)
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(audit_record(row.map_err(backend)?)?);
            }
            Ok(out)
        })
    }

    fn append_decisions(&self, records: &[DecisionRecord]) -> Result<(), StoreError> {
        self.with_tx(|tx| {
            let mut offset: i64 = tx
                .query_row(
                    "SELECT end_offset FROM decisions ORDER BY id DESC LIMIT 1",
                    [],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .optional()
                .map_err(backend)?
                .flatten()
                .unwrap_or(0);
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO decisions (record, at, end_offset) VALUES (?1, ?2, ?3)",
                )
                .map_err(backend)?;
            for record in records {
                let text = serde_json::to_string(record).map_err(backend)?;
                offset = offset.saturating_add(i64::try_from(text.len()).unwrap_or(i64::MAX));
                stmt.execute(params![text, record.at, offset])
                    .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn prune_decisions(&self, older_than: &str, max_bytes: u64) -> Result<u64, StoreError> {
        // The first record to keep; every record before it goes. Each lookup scans from the
        // oldest record and stops at the first one kept: it reads what it deletes, no more.
        let keep_from: Option<i64> = self.with_tx(|tx| {
            let last: Option<(i64, Option<i64>)> = tx
                .query_row(
                    "SELECT id, end_offset FROM decisions ORDER BY id DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(backend)?;
            let Some((last_id, end)) = last else {
                return Ok(None);
            };
            let first_where = |condition: &str, value: &dyn rusqlite::ToSql| {
                tx.query_row(
                    &format!("SELECT id FROM decisions WHERE {condition} ORDER BY id LIMIT 1"),
                    [value],
                    |r| r.get::<_, i64>(0),
                )
                .optional()
                .map_err(backend)
                .map(|id| id.unwrap_or(last_id + 1))
            };
            let by_age = first_where("at >= ?1", &older_than)?;
            let max = i64::try_from(max_bytes).unwrap_or(i64::MAX);
            // Kept: the records that start within the newest `max_bytes` (a record's start is
            // its end offset less its length), so that what is kept fits in the cap.
            let by_size = match end {
                Some(end) if end > max => first_where(
                    "end_offset - length(CAST(record AS BLOB)) >= ?1",
                    &(end - max),
                )?,
                _ => 0,
            };
            Ok(Some(by_age.max(by_size)))
        })?;
        let Some(keep_from) = keep_from else {
            return Ok(0);
        };
        let mut deleted = 0u64;
        loop {
            let n = self.with_tx(|tx| {
                tx.execute(
                    "DELETE FROM decisions WHERE id IN
                       (SELECT id FROM decisions WHERE id < ?1 ORDER BY id LIMIT ?2)",
                    params![keep_from, super::PRUNE_CHUNK],
                )
                .map_err(backend)
            })?;
            deleted += n as u64;
            if (n as i64) < super::PRUNE_CHUNK {
                return Ok(deleted);
            }
        }
    }

    fn audit_head(&self) -> Result<Option<AuditRecord>, StoreError> {
        self.with_tx(|tx| {
            let last = tx
                .query_row(
                    "SELECT seq, at, draft, prev_hash, hash FROM audit ORDER BY seq DESC LIMIT 1",
                    [],
                    audit_row,
                )
                .optional()
                .map_err(backend)?;
            last.map(audit_record).transpose()
        })
    }

    fn decisions(&self, limit: usize) -> Result<Vec<DecisionRecord>, StoreError> {
        self.with_tx(|tx| {
            let mut stmt = tx
                .prepare("SELECT record FROM decisions ORDER BY id DESC LIMIT ?1")
                .map_err(backend)?;
            let rows = stmt
                .query_map([limit as i64], |r| r.get::<_, String>(0))
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(serde_json::from_str(&row.map_err(backend)?).map_err(corrupt)?);
            }
            out.reverse();
            Ok(out)
        })
    }
}

/// One row of `SELECT seq, at, draft, prev_hash, hash FROM audit`, as read.
type AuditRow = (i64, String, String, String, String);

fn audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn audit_record((seq, at, draft, prev_hash, hash): AuditRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        seq: seq as u64,
        at,
        draft: serde_json::from_str(&draft).map_err(corrupt)?,
        prev_hash,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::verify;

    fn draft(action: &str) -> AuditDraft {
        AuditDraft {
            actor: "t".into(),
            role: "admin".into(),
            action: action.into(),
            version_before: None,
            version_after: None,
            detail: Value::Null,
        }
    }

    fn version(digest: &str) -> NewVersion {
        NewVersion {
            digest: digest.into(),
            files: BTreeMap::from([("a.cedar".to_string(), digest.to_string())]),
            author: "t".into(),
            message: format!("v {digest}"),
        }
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sesame-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn versions_history_and_audit_survive_reopening() -> Result<(), StoreError> {
        let dir = temp_dir("reopen");
        {
            let store = SqliteStore::open(&dir)?;
            store.deploy(
                version("d1"),
                Some(ActivationKind::Bootstrap),
                draft("deploy"),
            )?;
            store.deploy(version("d2"), Some(ActivationKind::Deploy), draft("deploy"))?;
            // Same content again: the existing version, no new number.
            let again = store.deploy(version("d2"), None, draft("deploy"))?;
            assert_eq!(again.number, 2);
            store.activate("d1", ActivationKind::Rollback, draft("rollback"))?;
            store.apply_delta(
                &EntityDelta {
                    upsert: vec![serde_json::json!({"uid": {"type": "User", "id": "a"}, "attrs": {}, "parents": []})],
                    remove: vec![],
                },
                draft("apply_delta"),
            )?;
        }
        let store = SqliteStore::open(&dir)?;
        assert_eq!(store.active()?.map(|v| v.digest), Some("d1".into()));
        let history = store.history()?;
        assert_eq!(history.len(), 3);
        assert_eq!(history[2].previous.as_deref(), Some("d2"));
        assert_eq!(
            store.version("d2")?.and_then(|v| v.parent),
            Some("d1".into())
        );
        assert_eq!(store.entities()?.len(), 1);
        let audit = store.audit(0, 100)?;
        assert_eq!(audit.len(), 5);
        assert!(verify(&audit).ok);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    fn decision(at: &str, padding: usize) -> DecisionRecord {
        DecisionRecord {
            at: at.into(),
            request: serde_json::json!({"padding": "x".repeat(padding)}),
            decision: "allow".into(),
            determining_policies: vec![],
            digest: "d".into(),
            latency_us: 1,
        }
    }

    #[test]
    fn the_decision_log_is_pruned_by_age_and_by_size_oldest_first() -> Result<(), StoreError> {
        let dir = temp_dir("prune");
        let store = SqliteStore::open(&dir)?;
        let old: Vec<_> = (0..3)
            .map(|_| decision("2020-01-01T00:00:00.000Z", 10))
            .collect();
        let new: Vec<_> = (0..10)
            .map(|_| decision("2030-01-01T00:00:00.000Z", 1000))
            .collect();
        store.append_decisions(&old)?;
        store.append_decisions(&new)?;
        assert_eq!(
            store.prune_decisions("2025-01-01T00:00:00.000Z", u64::MAX)?,
            3
        );
        assert_eq!(store.decisions(100)?.len(), 10);
        // About 1,100 bytes a record: 5,000 bytes keep the newest four.
        assert_eq!(store.prune_decisions("2025-01-01T00:00:00.000Z", 5_000)?, 6);
        assert_eq!(store.decisions(100)?.len(), 4);
        assert_eq!(store.prune_decisions("2025-01-01T00:00:00.000Z", 5_000)?, 0);
        // Everything is older than the cut: everything goes.
        assert_eq!(
            store.prune_decisions("2031-01-01T00:00:00.000Z", u64::MAX)?,
            4
        );
        assert!(store.decisions(100)?.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn activating_an_unknown_version_changes_nothing() -> Result<(), StoreError> {
        let dir = temp_dir("unknown");
        let store = SqliteStore::open(&dir)?;
        store.deploy(
            version("d1"),
            Some(ActivationKind::Bootstrap),
            draft("deploy"),
        )?;
        let err = store.activate("nope", ActivationKind::Activate, draft("activate"));
        assert!(matches!(err, Err(StoreError::UnknownVersion(_))));
        assert_eq!(store.history()?.len(), 1);
        assert_eq!(
            store.audit(0, 100)?.len(),
            1,
            "the audit record rolled back too"
        );
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

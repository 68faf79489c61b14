//! The PostgreSQL driver: the same store shared by several `sesame serve` replicas.
//!
//! - Every mutating transaction first takes one transaction-scoped advisory lock, so deploys,
//!   activations and entity writes from any replica are serialized by the database: the history
//!   stays linear and the audit chain gap-free (transactions, not luck).
//! - Each mutating transaction ends with `pg_notify('sesame', ...)`, delivered at commit;
//!   [`PgStore::watch`] LISTENs on a connection of its own and signals the server, which then
//!   re-reads the active pointer and the entity log (it also checks periodically, so a missed
//!   notification heals itself).
//! - Migrations: a short ordered list below, applied at start under the same lock and recorded
//!   in `sesame_migrations`. No migration crate: sqlx would bring compile-time query checking
//!   against a live database (or offline data) and its own async runtime, refinery a macro
//!   layer; five DDL statements do not need either.
//! - The connection is re-established on the next call after it breaks: a replica that loses
//!   the database keeps answering from memory and catches up when it returns.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use policy_core::json_api::Op;
use policy_core::wire::EntityDelta;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, GenericClient, NoTls, Transaction};
use serde_json::Value;

use super::audit::{AuditDraft, AuditRecord, GENESIS};
use super::{
    entity_key, now_rfc3339, Activation, ActivationKind, DecisionRecord, EntityWrite, NewVersion,
    PolicyStore, StoreError, VersionMeta,
};

/// The advisory lock every mutating transaction takes (any constant unique to Sesame).
const WRITE_LOCK: i64 = 0x5e5a_3e01;
const CHANNEL: &str = "sesame";

const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE versions (
        number     BIGSERIAL PRIMARY KEY,
        digest     TEXT NOT NULL UNIQUE,
        files      TEXT NOT NULL,
        author     TEXT NOT NULL,
        message    TEXT NOT NULL,
        created_at TEXT NOT NULL,
        parent     TEXT
    );
    CREATE TABLE activations (
        seq      BIGSERIAL PRIMARY KEY,
        digest   TEXT NOT NULL REFERENCES versions(digest),
        previous TEXT,
        kind     TEXT NOT NULL,
        actor    TEXT NOT NULL,
        at       TEXT NOT NULL
    );
    CREATE TABLE entities (uid TEXT PRIMARY KEY, record TEXT NOT NULL);
    CREATE TABLE audit (
        seq       BIGINT PRIMARY KEY,
        at        TEXT NOT NULL,
        draft     TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
    CREATE TABLE decisions (id BIGSERIAL PRIMARY KEY, record TEXT NOT NULL);
    CREATE TABLE entity_log (rev BIGSERIAL PRIMARY KEY, op TEXT NOT NULL, input TEXT NOT NULL);
"#,
    // Decision-log retention: each record's time and end offset (bytes of records logged up
    // to and including it), so that pruning finds its cut in the rows it deletes. Replicas
    // append without the write lock, so offsets are approximate by at most one batch.
    r#"
    ALTER TABLE decisions ADD COLUMN at TEXT;
    ALTER TABLE decisions ADD COLUMN end_offset BIGINT;
    UPDATE decisions SET at = record::json->>'at';
    UPDATE decisions AS d SET end_offset = w.total
      FROM (SELECT id, SUM(octet_length(record)) OVER (ORDER BY id) AS total FROM decisions) AS w
     WHERE d.id = w.id;
"#,
];

pub struct PgStore {
    url: String,
    client: Mutex<Option<Client>>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl PgStore {
    /// Connects and applies pending migrations.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let store = Self {
            url: url.to_string(),
            client: Mutex::new(None),
        };
        store.with_tx(true, |tx| {
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS sesame_migrations (version INT PRIMARY KEY, at TEXT NOT NULL)",
            )
            .map_err(backend)?;
            let applied: i64 = tx
                .query_one("SELECT COUNT(*) FROM sesame_migrations", &[])
                .map_err(backend)?
                .get(0);
            for (i, migration) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
                tx.batch_execute(migration).map_err(backend)?;
                tx.execute(
                    "INSERT INTO sesame_migrations (version, at) VALUES ($1, $2)",
                    &[&(i as i32 + 1), &now_rfc3339()],
                )
                .map_err(backend)?;
            }
            Ok(())
        })?;
        Ok(store)
    }

    /// Runs `f` in a transaction; `write` takes the cluster-wide write lock first and notifies
    /// the other replicas at commit.
    fn with_tx<T>(
        &self,
        write: bool,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self
            .client
            .lock()
            .map_err(|_| StoreError::Backend("store lock poisoned".into()))?;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(Client::connect(&self.url, NoTls).map_err(backend)?);
        }
        let client = guard
            .as_mut()
            .ok_or_else(|| StoreError::Backend("no database connection".into()))?;
        let result = (|| {
            let mut tx = client.transaction().map_err(backend)?;
            if write {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                    .map_err(backend)?;
            }
            let out = f(&mut tx)?;
            if write {
                tx.execute("SELECT pg_notify($1, 'change')", &[&CHANNEL])
                    .map_err(backend)?;
            }
            tx.commit().map_err(backend)?;
            Ok(out)
        })();
        if result.is_err() && client.is_closed() {
            *guard = None;
        }
        result
    }
}

fn version_row(row: &postgres::Row) -> VersionMeta {
    VersionMeta {
        number: row.get::<_, i64>(0) as u64,
        digest: row.get(1),
        author: row.get(2),
        message: row.get(3),
        created_at: row.get(4),
        parent: row.get(5),
    }
}

const VERSION_COLUMNS: &str = "number, digest, author, message, created_at, parent";

fn find_version(
    tx: &mut impl GenericClient,
    digest: &str,
) -> Result<Option<VersionMeta>, StoreError> {
    Ok(tx
        .query_opt(
            &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE digest = $1"),
            &[&digest],
        )
        .map_err(backend)?
        .map(|r| version_row(&r)))
}

fn active_digest(tx: &mut impl GenericClient) -> Result<Option<String>, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT digest FROM activations ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .map_err(backend)?
        .map(|r| r.get(0)))
}

fn append_audit_in(
    tx: &mut impl GenericClient,
    draft: AuditDraft,
) -> Result<AuditRecord, StoreError> {
    let last = tx
        .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
        .map_err(backend)?;
    let (seq, prev) = last.map_or((1, GENESIS.to_string()), |r| {
        (r.get::<_, i64>(0) as u64 + 1, r.get::<_, String>(1))
    });
    let record = AuditRecord::seal(seq, now_rfc3339(), draft, &prev);
    tx.execute(
        "INSERT INTO audit (seq, at, draft, prev_hash, hash) VALUES ($1, $2, $3, $4, $5)",
        &[
            &(record.seq as i64),
            &record.at,
            &serde_json::to_string(&record.draft).map_err(backend)?,
            &record.prev_hash,
            &record.hash,
        ],
    )
    .map_err(backend)?;
    Ok(record)
}

fn activate_in(
    tx: &mut impl GenericClient,
    digest: &str,
    kind: ActivationKind,
    actor: &str,
) -> Result<Activation, StoreError> {
    if find_version(tx, digest)?.is_none() {
        return Err(StoreError::UnknownVersion(digest.to_string()));
    }
    let previous = active_digest(tx)?;
    let at = now_rfc3339();
    let seq: i64 = tx
        .query_one(
            "INSERT INTO activations (digest, previous, kind, actor, at) VALUES ($1, $2, $3, $4, $5) RETURNING seq",
            &[&digest, &previous, &kind.as_str(), &actor, &at],
        )
        .map_err(backend)?
        .get(0);
    Ok(Activation {
        seq: seq as u64,
        digest: digest.to_string(),
        previous,
        kind,
        actor: actor.to_string(),
        at,
    })
}

fn log_entity_write(tx: &mut impl GenericClient, op: Op, input: &str) -> Result<u64, StoreError> {
    let rev: i64 = tx
        .query_one(
            "INSERT INTO entity_log (op, input) VALUES ($1, $2) RETURNING rev",
            &[&op.as_str(), &input],
        )
        .map_err(backend)?
        .get(0);
    if op == Op::ReplaceEntities {
        tx.execute("DELETE FROM entity_log WHERE rev < $1", &[&rev])
            .map_err(backend)?;
    }
    Ok(rev as u64)
}

fn upsert_entities(tx: &mut impl GenericClient, records: &[Value]) -> Result<(), StoreError> {
    for record in records {
        tx.execute(
            "INSERT INTO entities (uid, record) VALUES ($1, $2)
             ON CONFLICT (uid) DO UPDATE SET record = EXCLUDED.record",
            &[&entity_key(record)?, &record.to_string()],
        )
        .map_err(backend)?;
    }
    Ok(())
}

impl PolicyStore for PgStore {
    fn deploy(
        &self,
        version: NewVersion,
        activate: Option<ActivationKind>,
        audit: AuditDraft,
    ) -> Result<VersionMeta, StoreError> {
        self.with_tx(true, |tx| {
            let meta = match find_version(tx, &version.digest)? {
                Some(existing) => existing,
                None => {
                    let parent = active_digest(tx)?;
                    let created_at = now_rfc3339();
                    let number: i64 = tx
                        .query_one(
                            "INSERT INTO versions (digest, files, author, message, created_at, parent)
                             VALUES ($1, $2, $3, $4, $5, $6) RETURNING number",
                            &[
                                &version.digest,
                                &serde_json::to_string(&version.files).map_err(backend)?,
                                &version.author,
                                &version.message,
                                &created_at,
                                &parent,
                            ],
                        )
                        .map_err(backend)?
                        .get(0);
                    VersionMeta {
                        number: number as u64,
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
        self.with_tx(true, |tx| {
            let activation = activate_in(tx, digest, kind, &audit.actor)?;
            append_audit_in(tx, audit)?;
            Ok(activation)
        })
    }

    fn active(&self) -> Result<Option<VersionMeta>, StoreError> {
        self.with_tx(false, |tx| match active_digest(tx)? {
            Some(digest) => find_version(tx, &digest),
            None => Ok(None),
        })
    }

    fn version(&self, digest: &str) -> Result<Option<VersionMeta>, StoreError> {
        self.with_tx(false, |tx| find_version(tx, digest))
    }

    fn version_files(&self, digest: &str) -> Result<BTreeMap<String, String>, StoreError> {
        self.with_tx(false, |tx| {
            let row = tx
                .query_opt("SELECT files FROM versions WHERE digest = $1", &[&digest])
                .map_err(backend)?
                .ok_or_else(|| StoreError::UnknownVersion(digest.to_string()))?;
            serde_json::from_str(&row.get::<_, String>(0)).map_err(corrupt)
        })
    }

    fn versions(&self) -> Result<Vec<VersionMeta>, StoreError> {
        self.with_tx(false, |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {VERSION_COLUMNS} FROM versions ORDER BY number"),
                    &[],
                )
                .map_err(backend)?
                .iter()
                .map(version_row)
                .collect())
        })
    }

    fn history(&self) -> Result<Vec<Activation>, StoreError> {
        self.with_tx(false, |tx| {
            tx.query(
                "SELECT seq, digest, previous, kind, actor, at FROM activations ORDER BY seq",
                &[],
            )
            .map_err(backend)?
            .iter()
            .map(|r| {
                let kind: String = r.get(3);
                Ok(Activation {
                    seq: r.get::<_, i64>(0) as u64,
                    digest: r.get(1),
                    previous: r.get(2),
                    kind: ActivationKind::parse(&kind)
                        .ok_or_else(|| corrupt(format!("unknown activation kind {kind}")))?,
                    actor: r.get(4),
                    at: r.get(5),
                })
            })
            .collect()
        })
    }

    fn entity_snapshot(&self) -> Result<(Vec<Value>, u64), StoreError> {
        self.with_tx(false, |tx| {
            // One snapshot for both reads.
            tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .map_err(backend)?;
            let records = tx
                .query("SELECT record FROM entities ORDER BY uid", &[])
                .map_err(backend)?
                .iter()
                .map(|r| serde_json::from_str(&r.get::<_, String>(0)).map_err(corrupt))
                .collect::<Result<Vec<Value>, _>>()?;
            let rev: i64 = tx
                .query_one("SELECT COALESCE(MAX(rev), 0) FROM entity_log", &[])
                .map_err(backend)?
                .get(0);
            Ok((records, rev as u64))
        })
    }

    fn replace_entities(&self, records: &[Value], audit: AuditDraft) -> Result<u64, StoreError> {
        self.with_tx(true, |tx| {
            tx.execute("DELETE FROM entities", &[]).map_err(backend)?;
            upsert_entities(tx, records)?;
            append_audit_in(tx, audit)?;
            let input = serde_json::to_string(records).map_err(backend)?;
            log_entity_write(tx, Op::ReplaceEntities, &input)
        })
    }

    fn apply_delta(&self, delta: &EntityDelta, audit: AuditDraft) -> Result<u64, StoreError> {
        self.with_tx(true, |tx| {
            for uid in &delta.remove {
                tx.execute("DELETE FROM entities WHERE uid = $1", &[&uid.to_string()])
                    .map_err(backend)?;
            }
            upsert_entities(tx, &delta.upsert)?;
            append_audit_in(tx, audit)?;
            let input = serde_json::to_string(delta).map_err(backend)?;
            log_entity_write(tx, Op::ApplyDelta, &input)
        })
    }

    fn entity_writes_since(&self, revision: u64) -> Result<Vec<EntityWrite>, StoreError> {
        self.with_tx(false, |tx| {
            Ok(tx
                .query(
                    "SELECT rev, op, input FROM entity_log WHERE rev > $1 ORDER BY rev",
                    &[&(revision as i64)],
                )
                .map_err(backend)?
                .iter()
                .map(|r| EntityWrite {
                    revision: r.get::<_, i64>(0) as u64,
                    op: r.get(1),
                    input: r.get(2),
                })
                .collect())
        })
    }

    fn append_audit(&self, audit: AuditDraft) -> Result<AuditRecord, StoreError> {
        self.with_tx(true, |tx| append_audit_in(tx, audit))
    }

    fn audit(&self, after: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.with_tx(false, |tx| {
            tx.query(
                "SELECT seq, at, draft, prev_hash, hash FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&(after as i64), &(limit.min(i64::MAX as usize) as i64)],
            )
            .map_err(backend)?
            .iter()
            .map(audit_record)
            .collect()
        })
    }

    fn append_decisions(&self, records: &[DecisionRecord]) -> Result<(), StoreError> {
        self.with_tx(false, |tx| {
            let mut offset: i64 = tx
                .query_opt(
                    "SELECT end_offset FROM decisions ORDER BY id DESC LIMIT 1",
                    &[],
                )
                .map_err(backend)?
                .and_then(|r| r.get::<_, Option<i64>>(0))
                .unwrap_or(0);
            for record in records {
                let text = serde_json::to_string(record).map_err(backend)?;
                offset = offset.saturating_add(i64::try_from(text.len()).unwrap_or(i64::MAX));
                tx.execute(
                    "INSERT INTO decisions (record, at, end_offset) VALUES ($1, $2, $3)",
                    &[&text, &record.at, &offset],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn prune_decisions(&self, older_than: &str, max_bytes: u64) -> Result<u64, StoreError> {
        // The first record to keep (see the SQLite driver: each lookup reads what it deletes).
        let keep_from: Option<i64> = self.with_tx(false, |tx| {
            let Some(last) = tx
                .query_opt(
                    "SELECT id, end_offset FROM decisions ORDER BY id DESC LIMIT 1",
                    &[],
                )
                .map_err(backend)?
            else {
                return Ok(None);
            };
            let (last_id, end): (i64, Option<i64>) = (last.get(0), last.get(1));
            let by_age = tx
                .query_opt(
                    "SELECT id FROM decisions WHERE at >= $1 ORDER BY id LIMIT 1",
                    &[&older_than],
                )
                .map_err(backend)?
                .map_or(last_id + 1, |r| r.get(0));
            let max = i64::try_from(max_bytes).unwrap_or(i64::MAX);
            // Kept: the records that start within the newest `max_bytes`.
            let by_size = match end {
                Some(end) if end > max => tx
                    .query_opt(
                        "SELECT id FROM decisions WHERE end_offset - octet_length(record) >= $1
                         ORDER BY id LIMIT 1",
                        &[&(end - max)],
                    )
                    .map_err(backend)?
                    .map_or(last_id + 1, |r| r.get(0)),
                _ => 0,
            };
            Ok(Some(by_age.max(by_size)))
        })?;
        let Some(keep_from) = keep_from else {
            return Ok(0);
        };
        let mut deleted = 0u64;
        loop {
            let n = self.with_tx(false, |tx| {
                tx.execute(
                    "DELETE FROM decisions WHERE id IN
                       (SELECT id FROM decisions WHERE id < $1 ORDER BY id LIMIT $2)",
                    &[&keep_from, &super::PRUNE_CHUNK],
                )
                .map_err(backend)
            })?;
            deleted += n;
            if (n as i64) < super::PRUNE_CHUNK {
                return Ok(deleted);
            }
        }
    }

    fn audit_head(&self) -> Result<Option<AuditRecord>, StoreError> {
        self.with_tx(false, |tx| {
            tx.query_opt(
                "SELECT seq, at, draft, prev_hash, hash FROM audit ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .map_err(backend)?
            .map(|r| audit_record(&r))
            .transpose()
        })
    }

    fn decisions(&self, limit: usize) -> Result<Vec<DecisionRecord>, StoreError> {
        self.with_tx(false, |tx| {
            let mut out = tx
                .query(
                    "SELECT record FROM decisions ORDER BY id DESC LIMIT $1",
                    &[&(limit.min(i64::MAX as usize) as i64)],
                )
                .map_err(backend)?
                .iter()
                .map(|r| serde_json::from_str(&r.get::<_, String>(0)).map_err(corrupt))
                .collect::<Result<Vec<DecisionRecord>, _>>()?;
            out.reverse();
            Ok(out)
        })
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn watch(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<()>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let url = self.url.clone();
        std::thread::Builder::new()
            .name("sesame-listen".into())
            .spawn(move || listen_loop(&url, &tx))
            .ok()?;
        Some(rx)
    }
}

/// LISTENs on its own connection; reconnects after a failure and signals once on every
/// (re)connect, since notifications sent meanwhile are lost.
fn listen_loop(url: &str, signal: &tokio::sync::mpsc::UnboundedSender<()>) {
    while !signal.is_closed() {
        let mut client = match Client::connect(url, NoTls) {
            Ok(c) => c,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        if client.batch_execute(&format!("LISTEN {CHANNEL}")).is_err() {
            continue;
        }
        let _ = signal.send(());
        loop {
            let next = client
                .notifications()
                .timeout_iter(Duration::from_secs(1))
                .next();
            match next {
                Ok(Some(_)) => {
                    let _ = signal.send(());
                }
                Ok(None) if signal.is_closed() => return,
                Ok(None) if client.is_closed() => break,
                Ok(None) => {}
                Err(_) => break,
            }
        }
    }
}

/// One row of `SELECT seq, at, draft, prev_hash, hash FROM audit`.
fn audit_record(r: &postgres::Row) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        seq: r.get::<_, i64>(0) as u64,
        at: r.get(1),
        draft: serde_json::from_str(&r.get::<_, String>(2)).map_err(corrupt)?,
        prev_hash: r.get(3),
        hash: r.get(4),
    })
}

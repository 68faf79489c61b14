//! The one SQL store: every rule of the [`PolicyStore`] trait (a deploy, its activation and its
//! audit record in one transaction; the audit chain sealed here; the entity log pruned after a
//! replace; the decision log's retention) written once, over a [`Dialect`] that opens the
//! transactions and binds and reads the values.

use std::collections::BTreeMap;

use policy_core::json_api::Op;
use policy_core::wire::EntityDelta;
use serde_json::Value;

use super::audit::{AuditDraft, AuditKind, AuditRecord, GENESIS};
use super::dialect::{backend, corrupt, migrate, Conn, Dialect, Isolation, Param, Row};
use super::{
    entity_key, now_rfc3339, Activation, ActivationKind, DecisionRecord, EntityWrite,
    InvitationState, InvitationWrite, IssuedInvitation, NewVersion, OutboxEvent, PolicyStore,
    StoreError, StoredInvitation, Tenants, VersionMeta, PRUNE_CHUNK,
};

/// A [`PolicyStore`] in a SQL database.
pub struct SqlStore<D: Dialect> {
    db: D,
}

impl<D: Dialect> SqlStore<D> {
    /// The store in `db`, its schema brought up to date.
    pub fn new(db: D) -> Result<Self, StoreError> {
        migrate(&db)?;
        Ok(Self { db })
    }

    /// Reads, and the decision log's writes.
    fn plain<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.transaction(Isolation::Plain, f)
    }

    fn serialized<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.transaction(Isolation::Serialized, f)
    }
}

/// A count or limit as an SQL integer (one beyond `i64` is as good as no limit).
fn number(n: impl TryInto<i64>) -> Param<'static> {
    Param::Int(n.try_into().unwrap_or(i64::MAX))
}

const VERSION_COLUMNS: &str = "number, digest, author, message, created_at, parent";

fn version_row(mut r: Row) -> Result<VersionMeta, StoreError> {
    Ok(VersionMeta {
        number: r.count(0)?,
        digest: r.text(1)?,
        author: r.text(2)?,
        message: r.text(3)?,
        created_at: r.text(4)?,
        parent: r.opt_text(5)?,
    })
}

fn find_version(conn: &mut dyn Conn, digest: &str) -> Result<Option<VersionMeta>, StoreError> {
    conn.first(
        &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE digest = ?1"),
        &[digest.into()],
    )?
    .map(version_row)
    .transpose()
}

fn active_digest(conn: &mut dyn Conn) -> Result<Option<String>, StoreError> {
    conn.first(
        "SELECT digest FROM activations ORDER BY seq DESC LIMIT 1",
        &[],
    )?
    .map(|mut r| r.text(0))
    .transpose()
}

const AUDIT_COLUMNS: &str = "seq, at, draft, prev_hash, hash, kind";

fn audit_row(mut r: Row) -> Result<AuditRecord, StoreError> {
    let kind = match r.opt_text(5)? {
        Some(kind) => Some(
            AuditKind::parse(&kind).ok_or_else(|| corrupt(format!("unknown audit kind {kind}")))?,
        ),
        None => None,
    };
    let draft: AuditDraft = serde_json::from_str(&r.text(2)?).map_err(corrupt)?;
    Ok(AuditRecord {
        seq: r.count(0)?,
        at: r.text(1)?,
        draft: AuditDraft { kind, ..draft },
        prev_hash: r.text(3)?,
        hash: r.text(4)?,
    })
}

/// Removes and upserts a delta's entities, with its audit record and its entity-log entry.
fn apply_delta_in(
    conn: &mut dyn Conn,
    delta: &EntityDelta,
    tenants: &Tenants,
    audit: AuditDraft,
) -> Result<u64, StoreError> {
    for uid in &delta.remove {
        conn.execute(
            "DELETE FROM entities WHERE uid = ?1",
            &[(&uid.to_string()).into()],
        )?;
    }
    upsert_entities(conn, &delta.upsert, tenants)?;
    append_audit_in(conn, audit)?;
    let input = serde_json::to_string(delta).map_err(backend)?;
    log_entity_write(conn, Op::ApplyDelta, &input)
}

/// Stores a new token for a user (his open ones are replaced) and its outbox event.
fn issue_invitation_in(conn: &mut dyn Conn, issued: &IssuedInvitation) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE invitations SET state = ?1 WHERE user_uid = ?2 AND state = ?3",
        &[
            InvitationState::Replaced.as_str().into(),
            issued.user.as_str().into(),
            InvitationState::Open.as_str().into(),
        ],
    )?;
    let now = now_rfc3339();
    conn.execute(
        "INSERT INTO invitations (token_hash, user_uid, firm, expires_at, state, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            issued.token_hash.as_str().into(),
            issued.user.as_str().into(),
            issued.firm.as_str().into(),
            issued.expires_at.as_str().into(),
            InvitationState::Open.as_str().into(),
            now.as_str().into(),
        ],
    )?;
    let payload = serde_json::to_string(&issued.event.payload).map_err(backend)?;
    conn.execute(
        "INSERT INTO outbox (at, kind, tenant, payload) VALUES (?1, ?2, ?3, ?4)",
        &[
            now.as_str().into(),
            issued.event.kind.as_str().into(),
            issued.firm.as_str().into(),
            payload.as_str().into(),
        ],
    )?;
    Ok(())
}

/// Seals `draft` after the chain's last record and stores it. The kind has a column of its own
/// (queried without parsing drafts); the draft column holds the rest.
fn append_audit_in(conn: &mut dyn Conn, draft: AuditDraft) -> Result<AuditRecord, StoreError> {
    let last = conn.first("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?;
    let (seq, prev) = match last {
        Some(mut r) => (r.count(0)? + 1, r.text(1)?),
        None => (1, GENESIS.to_string()),
    };
    let record = AuditRecord::seal(seq, now_rfc3339(), draft, &prev);
    let stored = AuditDraft {
        kind: None,
        ..record.draft.clone()
    };
    conn.execute(
        "INSERT INTO audit (seq, at, draft, prev_hash, hash, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            number(record.seq),
            (&record.at).into(),
            (&serde_json::to_string(&stored).map_err(backend)?).into(),
            (&record.prev_hash).into(),
            (&record.hash).into(),
            record.draft.kind.map(AuditKind::as_str).into(),
        ],
    )?;
    Ok(record)
}

fn activate_in(
    conn: &mut dyn Conn,
    digest: &str,
    kind: ActivationKind,
    actor: &str,
) -> Result<Activation, StoreError> {
    if find_version(conn, digest)?.is_none() {
        return Err(StoreError::UnknownVersion(digest.to_string()));
    }
    let previous = active_digest(conn)?;
    let at = now_rfc3339();
    let seq = conn
        .one(
            "INSERT INTO activations (digest, previous, kind, actor, at)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
            &[
                digest.into(),
                previous.as_deref().into(),
                kind.as_str().into(),
                actor.into(),
                (&at).into(),
            ],
        )?
        .count(0)?;
    Ok(Activation {
        seq,
        digest: digest.to_string(),
        previous,
        kind,
        actor: actor.to_string(),
        at,
    })
}

/// Appends an entity write to the log (after a replace, older entries are pruned: the replace
/// alone rebuilds the state) and returns its revision.
fn log_entity_write(conn: &mut dyn Conn, op: Op, input: &str) -> Result<u64, StoreError> {
    let rev = conn
        .one(
            "INSERT INTO entity_log (op, input) VALUES (?1, ?2) RETURNING rev",
            &[op.as_str().into(), input.into()],
        )?
        .int(0)?;
    if op == Op::ReplaceEntities {
        conn.execute("DELETE FROM entity_log WHERE rev < ?1", &[rev.into()])?;
    }
    u64::try_from(rev).map_err(corrupt)
}

fn upsert_entities(
    conn: &mut dyn Conn,
    records: &[Value],
    tenants: &Tenants,
) -> Result<(), StoreError> {
    for record in records {
        let key = entity_key(record)?;
        let tenant = tenants.by_uid.get(&key).map(String::as_str);
        conn.execute(
            "INSERT INTO entities (uid, record, tenant) VALUES (?1, ?2, ?3)
             ON CONFLICT (uid) DO UPDATE SET record = excluded.record, tenant = excluded.tenant",
            &[(&key).into(), (&record.to_string()).into(), tenant.into()],
        )?;
    }
    // Rows written under another firm model than the one the others were assigned under (or
    // left unassigned) make the whole assignment stale: it is made again before partitions
    // are loaded on demand.
    let unassigned = records
        .iter()
        .any(|r| entity_key(r).map_or(true, |k| !tenants.by_uid.contains_key(&k)));
    let model = (!unassigned).then_some(tenants.model.as_str());
    conn.execute(
        "UPDATE tenancy SET model = NULL WHERE model IS DISTINCT FROM ?1",
        &[model.into()],
    )?;
    let version = (!tenants.version.is_empty()).then_some(tenants.version.as_str());
    conn.execute(
        "UPDATE tenancy SET validated = NULL WHERE validated IS DISTINCT FROM ?1",
        &[version.into()],
    )?;
    Ok(())
}

/// The JSON of every row's first column, parsed.
fn parse_each<T: serde::de::DeserializeOwned>(rows: Vec<Row>) -> Result<Vec<T>, StoreError> {
    rows.into_iter()
        .map(|mut r| serde_json::from_str(&r.text(0)?).map_err(corrupt))
        .collect()
}

impl<D: Dialect> PolicyStore for SqlStore<D> {
    fn deploy(
        &self,
        version: NewVersion,
        activate: Option<ActivationKind>,
        audit: AuditDraft,
    ) -> Result<VersionMeta, StoreError> {
        self.serialized(|conn| {
            let meta = match find_version(conn, &version.digest)? {
                Some(existing) => existing,
                None => {
                    let parent = active_digest(conn)?;
                    let created_at = now_rfc3339();
                    let number = conn.one("INSERT INTO versions (digest, files, author, message, created_at, parent)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING number",
                        &[
                            (&version.digest).into(),
                            (&serde_json::to_string(&version.files).map_err(backend)?).into(),
                            (&version.author).into(),
                            (&version.message).into(),
                            (&created_at).into(),
                            parent.as_deref().into(),
                        ],
                    )?
                    .count(0)?;
                    VersionMeta {
                        number,
                        digest: version.digest,
                        author: version.author,
                        message: version.message,
                        created_at,
                        parent,
                    }
                }
            };
            if let Some(kind) = activate {
                activate_in(conn, &meta.digest, kind, &audit.actor)?;
            }
            append_audit_in(conn, audit)?;
            Ok(meta)
        })
    }

    fn activate(
        &self,
        digest: &str,
        kind: ActivationKind,
        audit: AuditDraft,
    ) -> Result<Activation, StoreError> {
        self.serialized(|conn| {
            let activation = activate_in(conn, digest, kind, &audit.actor)?;
            append_audit_in(conn, audit)?;
            Ok(activation)
        })
    }

    fn active(&self) -> Result<Option<VersionMeta>, StoreError> {
        self.plain(|conn| match active_digest(conn)? {
            Some(digest) => find_version(conn, &digest),
            None => Ok(None),
        })
    }

    fn version(&self, digest: &str) -> Result<Option<VersionMeta>, StoreError> {
        self.plain(|conn| find_version(conn, digest))
    }

    fn version_files(&self, digest: &str) -> Result<BTreeMap<String, String>, StoreError> {
        self.plain(|conn| {
            let mut row = conn
                .first(
                    "SELECT files FROM versions WHERE digest = ?1",
                    &[digest.into()],
                )?
                .ok_or_else(|| StoreError::UnknownVersion(digest.to_string()))?;
            serde_json::from_str(&row.text(0)?).map_err(corrupt)
        })
    }

    fn versions(&self) -> Result<Vec<VersionMeta>, StoreError> {
        self.plain(|conn| {
            conn.query(
                &format!("SELECT {VERSION_COLUMNS} FROM versions ORDER BY number"),
                &[],
            )?
            .into_iter()
            .map(version_row)
            .collect()
        })
    }

    fn history(&self) -> Result<Vec<Activation>, StoreError> {
        self.plain(|conn| {
            conn.query(
                "SELECT seq, digest, previous, kind, actor, at FROM activations ORDER BY seq",
                &[],
            )?
            .into_iter()
            .map(|mut r| {
                let kind = r.text(3)?;
                Ok(Activation {
                    seq: r.count(0)?,
                    digest: r.text(1)?,
                    previous: r.opt_text(2)?,
                    kind: ActivationKind::parse(&kind)
                        .ok_or_else(|| corrupt(format!("unknown activation kind {kind}")))?,
                    actor: r.text(4)?,
                    at: r.text(5)?,
                })
            })
            .collect()
        })
    }

    fn entity_snapshot(&self) -> Result<(Vec<Value>, u64), StoreError> {
        self.db.transaction(Isolation::Snapshot, |conn| {
            let records = parse_each(conn.query("SELECT record FROM entities ORDER BY uid", &[])?)?;
            let rev = conn
                .one("SELECT COALESCE(MAX(rev), 0) FROM entity_log", &[])?
                .count(0)?;
            Ok((records, rev))
        })
    }

    fn replace_entities(
        &self,
        records: &[Value],
        tenants: &Tenants,
        audit: AuditDraft,
    ) -> Result<u64, StoreError> {
        self.serialized(|conn| {
            conn.execute("DELETE FROM entities", &[])?;
            // A whole new assignment: valid if every record has its tenant.
            conn.execute("UPDATE tenancy SET model = ?1", &[(&tenants.model).into()])?;
            upsert_entities(conn, records, tenants)?;
            append_audit_in(conn, audit)?;
            let input = serde_json::to_string(records).map_err(backend)?;
            log_entity_write(conn, Op::ReplaceEntities, &input)
        })
    }

    fn apply_delta(
        &self,
        delta: &EntityDelta,
        tenants: &Tenants,
        audit: AuditDraft,
    ) -> Result<u64, StoreError> {
        self.serialized(|conn| apply_delta_in(conn, delta, tenants, audit))
    }

    fn apply_delta_inviting(
        &self,
        delta: &EntityDelta,
        tenants: &Tenants,
        audit: AuditDraft,
        invitation: &InvitationWrite,
    ) -> Result<u64, StoreError> {
        self.serialized(|conn| {
            match invitation {
                InvitationWrite::Issue(issued) => issue_invitation_in(conn, issued)?,
                InvitationWrite::Accept { token_hash } => {
                    // Open and not expired, checked again in this transaction.
                    let now = now_rfc3339();
                    let used = conn.execute(
                        "UPDATE invitations SET state = ?1 \
                         WHERE token_hash = ?2 AND state = ?3 AND expires_at > ?4",
                        &[
                            InvitationState::Accepted.as_str().into(),
                            token_hash.as_str().into(),
                            InvitationState::Open.as_str().into(),
                            now.as_str().into(),
                        ],
                    )?;
                    // Used by a concurrent acceptance (or expired meanwhile): this one writes
                    // nothing.
                    if used != 1 {
                        return Err(StoreError::InvitationUsed);
                    }
                }
            }
            apply_delta_in(conn, delta, tenants, audit)
        })
    }

    fn invitation(&self, token_hash: &str) -> Result<Option<StoredInvitation>, StoreError> {
        self.plain(|conn| {
            conn.first(
                "SELECT user_uid, firm, expires_at, state FROM invitations WHERE token_hash = ?1",
                &[token_hash.into()],
            )?
            .map(|mut r| {
                let state = r.text(3)?;
                Ok(StoredInvitation {
                    user: r.text(0)?,
                    firm: r.text(1)?,
                    expires_at: r.text(2)?,
                    state: InvitationState::parse(&state)
                        .ok_or_else(|| corrupt(format!("unknown invitation state {state}")))?,
                })
            })
            .transpose()
        })
    }

    fn outbox(
        &self,
        after: u64,
        limit: usize,
        tenants: Option<&[String]>,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        // A caller bound to tenants reads theirs only: one placeholder a tenant.
        let (filter, named): (String, &[String]) = match tenants {
            None => (String::new(), &[]),
            Some(tenants) => {
                let marks: Vec<String> = (3..3 + tenants.len()).map(|i| format!("?{i}")).collect();
                (format!(" AND tenant IN ({})", marks.join(", ")), tenants)
            }
        };
        if tenants.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        let mut params = vec![number(after), number(limit)];
        params.extend(named.iter().map(Param::from));
        self.plain(|conn| {
            conn.query(
                &format!(
                    "SELECT id, at, kind, payload FROM outbox WHERE id > ?1{filter} \
                     ORDER BY id LIMIT ?2"
                ),
                &params,
            )?
            .into_iter()
            .map(|mut r| {
                Ok(OutboxEvent {
                    id: r.count(0)?,
                    at: r.text(1)?,
                    kind: r.text(2)?,
                    payload: serde_json::from_str(&r.text(3)?).map_err(corrupt)?,
                })
            })
            .collect()
        })
    }

    fn tenants_assigned(&self, model: &str) -> Result<bool, StoreError> {
        self.plain(|conn| {
            let recorded = conn
                .first("SELECT model FROM tenancy WHERE id = 1", &[])?
                .map(|mut r| r.opt_text(0))
                .transpose()?
                .flatten();
            let unassigned = conn
                .first("SELECT 1 FROM entities WHERE tenant IS NULL LIMIT 1", &[])?
                .is_some();
            Ok(recorded.as_deref() == Some(model) && !unassigned)
        })
    }

    fn assign_tenants(&self, tenants: &Tenants) -> Result<(), StoreError> {
        self.serialized(|conn| {
            conn.execute("UPDATE entities SET tenant = ''", &[])?;
            for (uid, tenant) in tenants.by_uid.iter().filter(|(_, t)| !t.is_empty()) {
                conn.execute(
                    "UPDATE entities SET tenant = ?1 WHERE uid = ?2",
                    &[tenant.into(), uid.into()],
                )?;
            }
            conn.execute("UPDATE tenancy SET model = ?1", &[(&tenants.model).into()])?;
            Ok(())
        })
    }

    fn partition(&self, tenant: &str) -> Result<(Vec<Value>, u64), StoreError> {
        self.db.transaction(Isolation::Snapshot, |conn| {
            let records = parse_each(conn.query(
                "SELECT record FROM entities WHERE tenant = ?1 ORDER BY uid",
                &[tenant.into()],
            )?)?;
            let rev = conn
                .one("SELECT COALESCE(MAX(rev), 0) FROM entity_log", &[])?
                .count(0)?;
            Ok((records, rev))
        })
    }

    fn tenant_of(&self, uid: &str) -> Result<Option<String>, StoreError> {
        self.plain(|conn| {
            conn.first("SELECT tenant FROM entities WHERE uid = ?1", &[uid.into()])?
                .map(|mut r| Ok(r.opt_text(0)?.unwrap_or_default()))
                .transpose()
        })
    }

    fn entities_mentioning(&self, text: &str) -> Result<Vec<Value>, StoreError> {
        let pattern = format!("%{}%", text.to_lowercase().replace('%', "_"));
        self.plain(|conn| {
            parse_each(conn.query(
                "SELECT record FROM entities WHERE LOWER(record) LIKE ?1",
                &[(&pattern).into()],
            )?)
        })
    }

    fn entity_record(&self, uid: &str) -> Result<Option<Value>, StoreError> {
        self.plain(|conn| {
            conn.first("SELECT record FROM entities WHERE uid = ?1", &[uid.into()])?
                .map(|mut r| serde_json::from_str(&r.text(0)?).map_err(corrupt))
                .transpose()
        })
    }

    fn tenant_names(&self) -> Result<Vec<String>, StoreError> {
        self.plain(|conn| {
            conn.query(
                "SELECT DISTINCT tenant FROM entities WHERE tenant <> '' ORDER BY tenant",
                &[],
            )?
            .into_iter()
            .map(|mut r| r.text(0))
            .collect()
        })
    }

    fn tenants_checked_for(&self) -> Result<Option<String>, StoreError> {
        self.plain(|conn| {
            Ok(conn
                .first("SELECT validated FROM tenancy WHERE id = 1", &[])?
                .map(|mut r| r.opt_text(0))
                .transpose()?
                .flatten())
        })
    }

    fn set_tenants_checked_for(&self, digest: &str) -> Result<(), StoreError> {
        self.serialized(|conn| {
            conn.execute("UPDATE tenancy SET validated = ?1", &[digest.into()])?;
            Ok(())
        })
    }

    fn entity_writes_since(&self, revision: u64) -> Result<Vec<EntityWrite>, StoreError> {
        self.plain(|conn| {
            conn.query(
                "SELECT rev, op, input FROM entity_log WHERE rev > ?1 ORDER BY rev",
                &[number(revision)],
            )?
            .into_iter()
            .map(|mut r| {
                Ok(EntityWrite {
                    revision: r.count(0)?,
                    op: r.text(1)?,
                    input: r.text(2)?,
                })
            })
            .collect()
        })
    }

    fn is_shared(&self) -> bool {
        self.db.is_shared()
    }

    fn watch(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<()>> {
        self.db.watch()
    }

    fn append_audit(&self, audit: AuditDraft) -> Result<AuditRecord, StoreError> {
        self.serialized(|conn| append_audit_in(conn, audit))
    }

    fn audit(&self, after: u64, max: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.plain(|conn| {
            conn.query(
                &format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
                &[number(after), number(max)],
            )?
            .into_iter()
            .map(audit_row)
            .collect()
        })
    }

    fn audit_head(&self) -> Result<Option<AuditRecord>, StoreError> {
        self.plain(|conn| {
            conn.first(
                &format!("SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq DESC LIMIT 1"),
                &[],
            )?
            .map(audit_row)
            .transpose()
        })
    }

    /// Appended without the write serialization: replicas log decisions side by side, so in a
    /// shared store the end offsets are approximate by at most one batch.
    fn append_decisions(&self, records: &[DecisionRecord]) -> Result<(), StoreError> {
        self.plain(|conn| {
            let mut offset = conn
                .first(
                    "SELECT end_offset FROM decisions ORDER BY id DESC LIMIT 1",
                    &[],
                )?
                .map(|mut r| r.opt_int(0))
                .transpose()?
                .flatten()
                .unwrap_or(0);
            for record in records {
                let text = serde_json::to_string(record).map_err(backend)?;
                offset = offset.saturating_add(i64::try_from(text.len()).unwrap_or(i64::MAX));
                conn.execute(
                    "INSERT INTO decisions (record, at, end_offset) VALUES (?1, ?2, ?3)",
                    &[(&text).into(), (&record.at).into(), offset.into()],
                )?;
            }
            Ok(())
        })
    }

    fn decisions(&self, max: usize) -> Result<Vec<DecisionRecord>, StoreError> {
        self.plain(|conn| {
            let mut out = parse_each(conn.query(
                "SELECT record FROM decisions ORDER BY id DESC LIMIT ?1",
                &[number(max)],
            )?)?;
            out.reverse();
            Ok(out)
        })
    }

    fn prune_decisions(&self, older_than: &str, max_bytes: u64) -> Result<u64, StoreError> {
        // The first record to keep; every record before it goes. Each lookup scans from the
        // oldest record and stops at the first one kept: it reads what it deletes, no more.
        let keep_from: Option<i64> = self.plain(|conn| {
            let Some(mut last) = conn.first(
                "SELECT id, end_offset FROM decisions ORDER BY id DESC LIMIT 1",
                &[],
            )?
            else {
                return Ok(None);
            };
            let (last_id, end) = (last.int(0)?, last.opt_int(1)?);
            let mut first_where = |condition: &str, value: Param<'_>| {
                conn.first(
                    &format!("SELECT id FROM decisions WHERE {condition} ORDER BY id LIMIT 1"),
                    &[value],
                )?
                .map_or(Ok(last_id + 1), |mut r| r.int(0))
            };
            let by_age = first_where("at >= ?1", older_than.into())?;
            let max = i64::try_from(max_bytes).unwrap_or(i64::MAX);
            // Kept: the records that start within the newest `max_bytes` (a record's start is
            // its end offset less its length), so that what is kept fits in the cap.
            let by_size = match end {
                Some(end) if end > max => first_where(
                    "end_offset - octet_length(record) >= ?1",
                    (end - max).into(),
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
            let n = self.plain(|conn| {
                conn.execute(
                    "DELETE FROM decisions WHERE id IN
                       (SELECT id FROM decisions WHERE id < ?1 ORDER BY id LIMIT ?2)",
                    &[keep_from.into(), PRUNE_CHUNK.into()],
                )
            })?;
            deleted += n;
            if n < PRUNE_CHUNK.unsigned_abs() {
                return Ok(deleted);
            }
        }
    }
}

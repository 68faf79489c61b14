//! (Here, beside the CLI, because it runs `sesame audit verify` on each store.)
//! One suite for the store, run against each database it speaks: SQLite in a temp dir, and a
//! throwaway PostgreSQL server (a fresh database a case). What one database keeps, the other
//! must keep too: versions, history and audit across reopening; a failed activation changes
//! nothing; the entity log and its pruning; the decision log's retention; audit kinds; and
//! `sesame audit verify` on the store, with and without a published head.

#[path = "../../host-server/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use host_server::store::audit::verify;
use host_server::store::postgres::PgStore;
use host_server::store::sqlite::SqliteStore;
use host_server::store::{
    ActivationKind, AuditDraft, AuditKind, DecisionRecord, InvitationState, InvitationWrite,
    IssuedInvitation, NewVersion, OutboxDraft, PolicyStore, StoreError, Tenants,
};
use policy_core::wire::{EntityDelta, EntityRef};
use serde_json::{json, Value};
use support::{Postgres, TestResult};

/// One fresh store, and what a case needs around it.
enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Db {
    /// Opens the store (again).
    fn open(&self) -> Result<Box<dyn PolicyStore>, StoreError> {
        Ok(match self {
            Self::Sqlite(dir) => Box::new(SqliteStore::open(dir)?),
            Self::Postgres(url) => Box::new(PgStore::open(url)?),
        })
    }

    /// The arguments that name this store to `sesame audit verify`.
    fn cli_args(&self) -> Vec<String> {
        match self {
            Self::Sqlite(dir) => vec!["--data".into(), dir.display().to_string()],
            Self::Postgres(url) => vec!["--database-url".into(), url.clone()],
        }
    }

    /// Takes the schema back to before audit kinds (and the tenants and invitations after them).
    fn forget_audit_kinds(&self) -> TestResult {
        self.tamper(match self {
            Self::Sqlite(_) => {
                "DROP TABLE invitations; DROP TABLE outbox;
                 DROP TABLE tenancy; DROP INDEX entities_by_tenant;
                 ALTER TABLE entities DROP COLUMN tenant;
                 ALTER TABLE audit DROP COLUMN kind; PRAGMA user_version = 3;"
            }
            Self::Postgres(_) => {
                "DROP TABLE invitations; DROP TABLE outbox;
                 DROP TABLE tenancy; DROP INDEX entities_by_tenant;
                 ALTER TABLE entities DROP COLUMN tenant;
                 ALTER TABLE audit DROP COLUMN kind; DELETE FROM sesame_migrations WHERE version >= 3;"
            }
        })
    }

    /// Runs `sql` on the database behind the store's back, as someone with access to it could.
    fn tamper(&self, sql: &str) -> TestResult {
        match self {
            Self::Sqlite(dir) => {
                rusqlite::Connection::open(dir.join("sesame.db"))?.execute_batch(sql)?;
            }
            Self::Postgres(url) => {
                postgres::Client::connect(url, postgres::NoTls)?.batch_execute(sql)?;
            }
        }
        Ok(())
    }
}

type Case = fn(&Db) -> TestResult;

const CASES: &[(&str, Case)] = &[
    ("reopening", versions_history_and_audit_survive_reopening),
    (
        "unknown version",
        activating_an_unknown_version_changes_nothing,
    ),
    (
        "entity log",
        entity_writes_are_logged_and_a_replace_prunes_the_log,
    ),
    (
        "decision log",
        the_decision_log_is_pruned_by_age_and_by_size_oldest_first,
    ),
    ("audit kinds", audit_kinds_are_stored_and_hashed),
    (
        "audit verify",
        audit_verify_reads_the_store_and_catches_truncation,
    ),
    (
        "older schema",
        a_store_from_before_audit_kinds_opens_and_still_verifies,
    ),
    ("tenants", entity_rows_keep_their_tenants),
    (
        "invitations",
        invitations_and_their_events_are_written_with_the_entities,
    ),
];

#[test]
fn every_rule_holds_on_sqlite() -> TestResult {
    for (name, case) in CASES {
        let dir = std::env::temp_dir().join(format!(
            "sesame-store-{}-{}",
            name.replace(' ', "-"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let outcome = case(&Db::Sqlite(dir.clone()));
        let _ = std::fs::remove_dir_all(&dir);
        outcome.map_err(|e| format!("sqlite, {name}: {e}"))?;
    }
    Ok(())
}

#[test]
fn every_rule_holds_on_postgres() -> TestResult {
    let pg = Postgres::start("store")?;
    let server = pg.url();
    let base = server
        .strip_suffix("/postgres")
        .ok_or("a server URL that does not end in /postgres")?;
    let mut admin = postgres::Client::connect(&server, postgres::NoTls)?;
    for (i, (name, case)) in CASES.iter().enumerate() {
        admin.batch_execute(&format!("CREATE DATABASE case{i}"))?;
        case(&Db::Postgres(format!("{base}/case{i}")))
            .map_err(|e| format!("postgres, {name}: {e}"))?;
    }
    Ok(())
}

fn draft(action: &str) -> AuditDraft {
    AuditDraft {
        actor: "t".into(),
        role: "admin".into(),
        action: action.into(),
        kind: Some(AuditKind::Deploy),
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

fn user(id: &str, email: &str) -> Value {
    json!({"uid": {"type": "User", "id": id}, "attrs": {"email": email}, "parents": []})
}

fn versions_history_and_audit_survive_reopening(db: &Db) -> TestResult {
    {
        let store = db.open()?;
        let first = store.deploy(
            version("d1"),
            Some(ActivationKind::Bootstrap),
            draft("deploy"),
        )?;
        assert_eq!(first.number, 1);
        assert_eq!(first.parent, None);
        store.deploy(version("d2"), Some(ActivationKind::Deploy), draft("deploy"))?;
        // Same content again: the existing version, no new number.
        let again = store.deploy(version("d2"), None, draft("deploy"))?;
        assert_eq!(again.number, 2);
        let rollback = store.activate("d1", ActivationKind::Rollback, draft("rollback"))?;
        assert_eq!(
            (rollback.seq, rollback.previous.as_deref()),
            (3, Some("d2"))
        );
        store.apply_delta(
            &EntityDelta {
                upsert: vec![user("a", "a@example.com")],
                remove: vec![],
            },
            &Tenants::default(),
            draft("apply_delta"),
        )?;
    }
    let store = db.open()?;
    assert_eq!(store.active()?.map(|v| v.digest), Some("d1".into()));
    let history = store.history()?;
    let kinds: Vec<_> = history.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            ActivationKind::Bootstrap,
            ActivationKind::Deploy,
            ActivationKind::Rollback
        ]
    );
    assert_eq!(history[2].previous.as_deref(), Some("d2"));
    let d2 = store.version("d2")?.ok_or("no d2")?;
    assert_eq!((d2.number, d2.parent.as_deref()), (2, Some("d1")));
    assert_eq!(
        store
            .versions()?
            .iter()
            .map(|v| v.number)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(store.version_files("d2")?["a.cedar"], "d2");
    assert!(matches!(
        store.version_files("nope"),
        Err(StoreError::UnknownVersion(_))
    ));
    assert_eq!(store.entities()?, [user("a", "a@example.com")]);
    let audit = store.audit(0, 100)?;
    assert_eq!(audit.len(), 5);
    assert!(verify(&audit).ok);
    assert_eq!(
        store.audit(3, 1)?[0].seq,
        4,
        "paged after a sequence number"
    );
    assert_eq!(store.audit_head()?.map(|r| r.seq), Some(5));
    Ok(())
}

fn activating_an_unknown_version_changes_nothing(db: &Db) -> TestResult {
    let store = db.open()?;
    store.deploy(
        version("d1"),
        Some(ActivationKind::Bootstrap),
        draft("deploy"),
    )?;
    let err = store.activate("nope", ActivationKind::Activate, draft("activate"));
    assert!(matches!(err, Err(StoreError::UnknownVersion(_))), "{err:?}");
    assert_eq!(store.history()?.len(), 1);
    assert_eq!(
        store.audit(0, 100)?.len(),
        1,
        "the audit record rolled back too"
    );
    Ok(())
}

fn entity_writes_are_logged_and_a_replace_prunes_the_log(db: &Db) -> TestResult {
    let store = db.open()?;
    assert_eq!(store.entity_snapshot()?, (vec![], 0));
    let delta = |upsert: Vec<Value>, remove: Vec<EntityRef>| EntityDelta { upsert, remove };
    assert_eq!(
        store.apply_delta(
            &delta(vec![user("b", "b@x")], vec![]),
            &Tenants::default(),
            draft("apply_delta")
        )?,
        1
    );
    let rev = store.replace_entities(
        &[user("c", "c@x"), user("a", "a@x")],
        &Tenants::default(),
        draft("replace_entities"),
    )?;
    assert_eq!(rev, 2);
    // An upsert replaces the record under the same uid; a removal of an absent one is ignored.
    let rev = store.apply_delta(
        &delta(
            vec![user("a", "new@x")],
            vec![EntityRef::new("User", "c"), EntityRef::new("User", "zz")],
        ),
        &Tenants::default(),
        draft("apply_delta"),
    )?;
    assert_eq!(rev, 3);
    assert_eq!(store.entity_snapshot()?, (vec![user("a", "new@x")], 3));
    // The write before the replace is gone: the replace alone rebuilds the state.
    let writes = store.entity_writes_since(0)?;
    let ops: Vec<_> = writes.iter().map(|w| (w.revision, w.op.as_str())).collect();
    assert_eq!(ops, [(2, "replace_entities"), (3, "apply_delta")]);
    assert_eq!(store.entity_writes_since(2)?.len(), 1);
    let replayed: Vec<Value> = serde_json::from_str(&writes[0].input)?;
    assert_eq!(replayed.len(), 2);
    assert!(verify(&store.audit(0, 100)?).ok);
    Ok(())
}

fn decision(at: &str, padding: usize) -> DecisionRecord {
    DecisionRecord {
        at: at.into(),
        request: json!({"padding": "x".repeat(padding)}),
        decision: "allow".into(),
        determining_policies: vec![],
        digest: "d".into(),
        latency_us: 1,
    }
}

fn the_decision_log_is_pruned_by_age_and_by_size_oldest_first(db: &Db) -> TestResult {
    let store = db.open()?;
    assert_eq!(store.prune_decisions("2025-01-01T00:00:00.000Z", 0)?, 0);
    let old: Vec<_> = (0..3)
        .map(|_| decision("2020-01-01T00:00:00.000Z", 10))
        .collect();
    let new: Vec<_> = (0..10)
        .map(|i| decision("2030-01-01T00:00:00.000Z", 1000 + i))
        .collect();
    store.append_decisions(&old)?;
    store.append_decisions(&new)?;
    let cut = "2025-01-01T00:00:00.000Z";
    assert_eq!(store.prune_decisions(cut, u64::MAX)?, 3);
    assert_eq!(store.decisions(100)?, new);
    // About 1,100 bytes a record: 5,000 bytes keep the newest four.
    assert_eq!(store.prune_decisions(cut, 5_000)?, 6);
    assert_eq!(store.decisions(100)?, new[6..]);
    assert_eq!(store.decisions(2)?, new[8..], "the newest, oldest first");
    assert_eq!(store.prune_decisions(cut, 5_000)?, 0);
    // Everything is older than the cut: everything goes.
    assert_eq!(
        store.prune_decisions("2031-01-01T00:00:00.000Z", u64::MAX)?,
        4
    );
    assert!(store.decisions(100)?.is_empty());
    Ok(())
}

fn audit_kinds_are_stored_and_hashed(db: &Db) -> TestResult {
    let store = db.open()?;
    let kinds = [
        Some(AuditKind::Login),
        Some(AuditKind::Create),
        // A record written before kinds were recorded.
        None,
        Some(AuditKind::Delete),
    ];
    for kind in kinds {
        store.append_audit(AuditDraft {
            kind,
            ..draft("login")
        })?;
    }
    let records = store.audit(0, 100)?;
    assert_eq!(
        records.iter().map(|r| r.draft.kind).collect::<Vec<_>>(),
        kinds
    );
    assert!(verify(&records).ok);
    // Served as a snake_case field beside the action; absent where none was recorded.
    let served = serde_json::to_value(&records)?;
    assert_eq!(served[0]["kind"], "login");
    assert!(served[2].get("kind").is_none(), "{}", served[2]);
    // The kind is covered by the hash: changing it breaks the chain there.
    db.tamper("UPDATE audit SET kind = 'modify' WHERE seq = 4")?;
    assert_eq!(verify(&store.audit(0, 100)?).broken_at, Some(4));
    Ok(())
}

fn audit_verify_reads_the_store_and_catches_truncation(db: &Db) -> TestResult {
    let store = db.open()?;
    for action in ["deploy", "activate", "rollback"] {
        store.append_audit(draft(action))?;
    }
    let head = store.audit_head()?.ok_or("no head")?;
    assert_eq!(head.seq, 3);
    drop(store);
    let verify_cli = |head: Option<&str>| {
        let mut args = vec!["audit".to_string(), "verify".into()];
        args.extend(db.cli_args());
        args.extend(
            head.map(|h| ["--head".to_string(), h.to_string()])
                .into_iter()
                .flatten(),
        );
        Command::new(env!("CARGO_BIN_EXE_sesame"))
            .args(&args)
            .env_remove("SESAME_DATABASE_URL")
            .output()
    };
    let out = verify_cli(Some(&head.hash))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("ok: 3 records"), "{stdout}");
    db.tamper("DELETE FROM audit WHERE seq = 3")?;
    assert_eq!(verify_cli(None)?.status.code(), Some(0), "still links up");
    let out = verify_cli(Some(&head.hash))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("BROKEN at record 3"), "{stdout}");
    db.tamper("UPDATE audit SET draft = replace(draft, 'activate', 'deploy') WHERE seq = 2")?;
    let out = verify_cli(None)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("BROKEN at record 2"), "{stdout}");
    Ok(())
}

fn a_store_from_before_audit_kinds_opens_and_still_verifies(db: &Db) -> TestResult {
    {
        let store = db.open()?;
        store.deploy(
            version("d1"),
            Some(ActivationKind::Bootstrap),
            AuditDraft {
                kind: None,
                ..draft("deploy")
            },
        )?;
        store.append_audit(AuditDraft {
            kind: None,
            ..draft("login")
        })?;
    }
    db.forget_audit_kinds()?;
    let store = db.open()?;
    store.append_audit(draft("rollback"))?;
    let records = store.audit(0, 100)?;
    let kinds: Vec<_> = records.iter().map(|r| r.draft.kind).collect();
    assert_eq!(kinds, [None, None, Some(AuditKind::Deploy)]);
    assert!(verify(&records).ok, "{:?}", verify(&records));
    assert_eq!(store.active()?.map(|v| v.number), Some(1));
    Ok(())
}

/// Each entity row keeps the tenant it was written with; one tenant's rows come back alone;
/// the assignment is valid only while every row has one under the same firm model.
fn entity_rows_keep_their_tenants(db: &Db) -> TestResult {
    let store = db.open()?;
    let tenants = |model: &str, pairs: &[(&str, &str)]| Tenants {
        model: model.into(),
        version: "v1".into(),
        by_uid: pairs
            .iter()
            .map(|(u, t)| (format!("User::\"{u}\""), t.to_string()))
            .collect(),
    };
    let firm_a = "Firm::\"a\"";
    assert!(!store.tenants_assigned("m")?, "nothing assigned yet");
    store.replace_entities(
        &[user("a1", "a1@x"), user("s", "s@x")],
        &tenants("m", &[("a1", firm_a), ("s", "")]),
        draft("replace_entities"),
    )?;
    assert!(store.tenants_assigned("m")?);
    assert!(!store.tenants_assigned("other")?, "another firm model");
    assert_eq!(store.tenant_of("User::\"a1\"")?.as_deref(), Some(firm_a));
    assert_eq!(store.tenant_of("User::\"s\"")?.as_deref(), Some(""));
    assert_eq!(store.tenant_of("User::\"nobody\"")?, None);
    let delta = EntityDelta {
        upsert: vec![user("a2", "a2@x")],
        remove: vec![],
    };
    let rev = store.apply_delta(
        &delta,
        &tenants("m", &[("a2", firm_a)]),
        draft("apply_delta"),
    )?;
    let (a, at) = store.partition(firm_a)?;
    assert_eq!(a, [user("a1", "a1@x"), user("a2", "a2@x")]);
    assert_eq!(at, rev);
    assert_eq!(store.partition("")?.0, [user("s", "s@x")]);
    // A row written without its tenant makes the assignment stale until it is made again.
    store.apply_delta(
        &EntityDelta {
            upsert: vec![user("b", "b@x")],
            remove: vec![],
        },
        &Tenants::default(),
        draft("apply_delta"),
    )?;
    assert!(!store.tenants_assigned("m")?);
    store.assign_tenants(&tenants(
        "m",
        &[("a1", firm_a), ("a2", firm_a), ("b", "Firm::\"b\"")],
    ))?;
    assert!(store.tenants_assigned("m")?);
    assert_eq!(store.tenant_of("User::\"s\"")?.as_deref(), Some(""));
    assert_eq!(store.partition("Firm::\"b\"")?.0, [user("b", "b@x")]);
    // Which version every tenant was last checked against; a write under another clears it.
    store.set_tenants_checked_for("v1")?;
    store.apply_delta(
        &EntityDelta {
            upsert: vec![user("a1", "a1@x")],
            remove: vec![],
        },
        &tenants("m", &[("a1", firm_a)]),
        draft("apply_delta"),
    )?;
    assert_eq!(store.tenants_checked_for()?.as_deref(), Some("v1"));
    let mut other = tenants("m", &[("a1", firm_a)]);
    other.version = "v0".into();
    store.apply_delta(
        &EntityDelta {
            upsert: vec![user("a1", "a1@x")],
            remove: vec![],
        },
        &other,
        draft("apply_delta"),
    )?;
    assert_eq!(store.tenants_checked_for()?, None);
    Ok(())
}

/// An invitation's token and its outbox event are written with the user's record, one
/// transaction; a resend replaces the open token; an acceptance uses it once, and a second
/// one (a concurrent request) fails and writes nothing; callers bound to tenants read their
/// own events only.
fn invitations_and_their_events_are_written_with_the_entities(db: &Db) -> TestResult {
    let store = db.open()?;
    let issue = |hash: &str, firm: &str, user_id: &str| {
        InvitationWrite::Issue(IssuedInvitation {
            token_hash: hash.into(),
            user: json!({"type": "User", "id": user_id}).to_string(),
            firm: firm.into(),
            expires_at: "2099-01-01T00:00:00.000Z".into(),
            event: OutboxDraft {
                kind: "invitation".into(),
                payload: json!({"token": hash, "firm": firm}),
            },
        })
    };
    let invite = |id: &str| EntityDelta {
        upsert: vec![user(id, &format!("{id}@x"))],
        remove: vec![],
    };
    let rev = store.apply_delta_inviting(
        &invite("zoe"),
        &Tenants::default(),
        draft("apply_delta"),
        &issue("h1", "a", "zoe"),
    )?;
    assert_eq!(
        store.entity_record("User::\"zoe\"")?,
        Some(user("zoe", "zoe@x"))
    );
    let first = store.invitation("h1")?.ok_or("no invitation h1")?;
    assert_eq!(
        (first.firm.as_str(), first.state),
        ("a", InvitationState::Open)
    );
    store.apply_delta_inviting(
        &invite("yann"),
        &Tenants::default(),
        draft("apply_delta"),
        &issue("h2", "b", "yann"),
    )?;
    // A resend: a new token, the old one replaced.
    store.apply_delta_inviting(
        &EntityDelta::default(),
        &Tenants::default(),
        draft("apply_delta"),
        &issue("h3", "a", "zoe"),
    )?;
    assert_eq!(
        store.invitation("h1")?.map(|i| i.state),
        Some(InvitationState::Replaced)
    );
    let events = store.outbox(0, 10, None)?;
    assert_eq!(
        events
            .iter()
            .map(|e| e.payload["token"].clone())
            .collect::<Vec<_>>(),
        [json!("h1"), json!("h2"), json!("h3")]
    );
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let of_a = store.outbox(0, 10, Some(&["a".to_string()]))?;
    assert_eq!(of_a.len(), 2);
    assert!(store.outbox(0, 10, Some(&[]))?.is_empty());
    assert_eq!(store.outbox(ids[1], 10, None)?.len(), 1, "after an id");
    // Accepted once; the second acceptance writes nothing.
    let accepted = json!({"uid": {"type": "User", "id": "zoe"}, "attrs": {"email": "zoe@x", "ok": true}, "parents": []});
    let accept = InvitationWrite::Accept {
        token_hash: "h3".into(),
    };
    let after = store.apply_delta_inviting(
        &EntityDelta {
            upsert: vec![accepted.clone()],
            remove: vec![],
        },
        &Tenants::default(),
        draft("apply_delta"),
        &accept,
    )?;
    assert!(after > rev);
    assert_eq!(
        store.invitation("h3")?.map(|i| i.state),
        Some(InvitationState::Accepted)
    );
    let again = store.apply_delta_inviting(
        &EntityDelta {
            upsert: vec![user("zoe", "changed@x")],
            remove: vec![],
        },
        &Tenants::default(),
        draft("apply_delta"),
        &accept,
    );
    assert!(
        matches!(again, Err(StoreError::InvitationUsed)),
        "{again:?}"
    );
    assert_eq!(store.entity_record("User::\"zoe\"")?, Some(accepted));
    assert_eq!(store.invitation("unknown")?, None);
    Ok(())
}

//! The PostgreSQL database: the same store shared by several `sesame serve` replicas.
//!
//! - Every mutating transaction first takes one transaction-scoped advisory lock, so deploys,
//!   activations and entity writes from any replica are serialized by the database: the history
//!   stays linear and the audit chain gap-free (transactions, not luck).
//! - Each mutating transaction ends with `pg_notify('sesame', ...)`, delivered at commit;
//!   [`Postgres::watch`] LISTENs on a connection of its own and signals the server, which then
//!   re-reads the active pointer and the entity log (it also checks periodically, so a missed
//!   notification heals itself).
//! - Migrations: a short ordered list below, applied at start under the same lock and recorded
//!   in `sesame_migrations`. No migration crate: sqlx would bring compile-time query checking
//!   against a live database (or offline data) and its own async runtime, refinery a macro
//!   layer; five DDL statements do not need either.
//! - The connection is re-established on the next call after it breaks: a replica that loses
//!   the database keeps answering from memory and catches up when it returns.

use std::sync::Mutex;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Transaction};

use super::dialect::{backend, lock, Cell, Conn, Dialect, Isolation, Param, Row};
use super::sql::SqlStore;
use super::{now_rfc3339, StoreError};

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
    // The kind of each audit record (older records have none).
    "ALTER TABLE audit ADD COLUMN kind TEXT;",
    // Tenants as partitions: each entity row's tenant ('' shared, else the firm's uid; NULL not
    // yet assigned), and the firm model the assignment was made under (one row; NULL or
    // another model: every row is assigned again before tenants are loaded on demand), and the
    // version every tenant's rows were last checked against.
    r#"
    ALTER TABLE entities ADD COLUMN tenant TEXT;
    CREATE INDEX entities_by_tenant ON entities (tenant);
    CREATE TABLE tenancy (id INTEGER PRIMARY KEY CHECK (id = 1), model TEXT, validated TEXT);
    INSERT INTO tenancy (id, model, validated) VALUES (1, NULL, NULL);
"#,
    // Invitations (a token's hash, whom it invites, until when, whether it was used) and the
    // outbox of events the embedding app delivers (an invitation's e-mail), both written in
    // the transaction of the entity write they belong to.
    r#"
    CREATE TABLE invitations (
        token_hash TEXT PRIMARY KEY,
        user_uid   TEXT NOT NULL,
        firm       TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        state      TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX invitations_by_user ON invitations (user_uid);
    CREATE TABLE outbox (
        id      BIGSERIAL PRIMARY KEY,
        at      TEXT NOT NULL,
        kind    TEXT NOT NULL,
        tenant  TEXT NOT NULL,
        payload TEXT NOT NULL
    );
"#,
];

/// The store in a PostgreSQL database.
pub type PgStore = SqlStore<Postgres>;

/// A connection to a PostgreSQL database, opened again after it breaks.
pub struct Postgres {
    url: String,
    client: Mutex<Option<Client>>,
}

impl SqlStore<Postgres> {
    /// Connects and applies pending migrations.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        SqlStore::new(Postgres {
            url: url.to_string(),
            client: Mutex::new(None),
        })
    }
}

impl Dialect for Postgres {
    const MIGRATIONS: &'static [&'static str] = MIGRATIONS;

    /// A serialized transaction takes the cluster-wide write lock first and notifies the other
    /// replicas at commit.
    fn transaction<T>(
        &self,
        isolation: Isolation,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = lock(&self.client)?;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(Client::connect(&self.url, NoTls).map_err(pg)?);
        }
        let client = guard
            .as_mut()
            .ok_or_else(|| StoreError::Backend("no database connection".into()))?;
        let result = (|| {
            let mut tx = client.transaction().map_err(pg)?;
            match isolation {
                Isolation::Plain => {}
                // One snapshot for every read of the transaction.
                Isolation::Snapshot => tx
                    .batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .map_err(pg)?,
                Isolation::Serialized => {
                    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                        .map_err(pg)?;
                }
            }
            let out = f(&mut Tx(&mut tx))?;
            if isolation == Isolation::Serialized {
                tx.execute("SELECT pg_notify($1, 'change')", &[&CHANNEL])
                    .map_err(pg)?;
            }
            tx.commit().map_err(pg)?;
            Ok(out)
        })();
        if result.is_err() && client.is_closed() {
            *guard = None;
        }
        result
    }

    fn schema_version(conn: &mut dyn Conn) -> Result<usize, StoreError> {
        conn.batch(
            "CREATE TABLE IF NOT EXISTS sesame_migrations (version INT PRIMARY KEY, at TEXT NOT NULL)",
        )?;
        usize::try_from(
            conn.one("SELECT COUNT(*) FROM sesame_migrations", &[])?
                .count(0)?,
        )
        .map_err(backend)
    }

    fn set_schema_version(conn: &mut dyn Conn, version: usize) -> Result<(), StoreError> {
        // Inline: the column is an INT, and bound integers go as BIGINT.
        conn.execute(
            &format!("INSERT INTO sesame_migrations (version, at) VALUES ({version}, ?1)"),
            &[(&now_rfc3339()).into()],
        )?;
        Ok(())
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

struct Tx<'a, 'c>(&'a mut Transaction<'c>);

/// `?1`-style placeholders as PostgreSQL's `$1` (the store's SQL has no `?` elsewhere).
fn dollar_placeholders(sql: &str) -> String {
    sql.replace('?', "$")
}

/// The values bound; an integer goes as BIGINT (`i64`), the type of every integer column.
fn bind<'p>(params: &'p [Param<'p>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Int(n) => n as &(dyn ToSql + Sync),
            Param::Text(text) => text as &(dyn ToSql + Sync),
        })
        .collect()
}

fn row(r: &postgres::Row) -> Result<Row, StoreError> {
    let cells = r
        .columns()
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let ty = column.type_();
            let cell = if *ty == Type::INT8 {
                r.try_get::<_, Option<i64>>(i).map(|n| n.map(Cell::Int))
            } else if *ty == Type::INT4 {
                r.try_get::<_, Option<i32>>(i)
                    .map(|n| n.map(|n| Cell::Int(n.into())))
            } else {
                r.try_get::<_, Option<String>>(i).map(|t| t.map(Cell::Text))
            };
            Ok(cell.map_err(pg)?.unwrap_or(Cell::Null))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Row(cells))
}

impl Conn for Tx<'_, '_> {
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        self.0
            .execute(&dollar_placeholders(sql), &bind(params))
            .map_err(pg)
    }

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, StoreError> {
        self.0
            .query(&dollar_placeholders(sql), &bind(params))
            .map_err(pg)?
            .iter()
            .map(row)
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0.batch_execute(sql).map_err(pg)
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

/// A PostgreSQL error with the server's own words (its `Display` alone says only "db error").
fn pg(e: postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Backend(format!(
            "{} ({}){}",
            db.message(),
            db.code().code(),
            db.detail().map(|d| format!(": {d}")).unwrap_or_default()
        )),
        None => backend(e),
    }
}

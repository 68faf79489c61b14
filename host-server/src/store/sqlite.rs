//! The embedded default database: one SQLite file (`sesame.db`) under the data dir.
//!
//! WAL journal with `synchronous = FULL`: a write is on disk when the call returns, so a crash
//! after an acknowledged deploy or entity write loses nothing. One connection behind a mutex:
//! admin writes are rare and short, and serializing them is what keeps the history linear and
//! the audit chain gap-free. The decision log is written in batches by a background thread.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::dialect::{backend, lock, Cell, Conn, Dialect, Isolation, Param, Row};
use super::sql::SqlStore;
use super::StoreError;

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
        id      INTEGER PRIMARY KEY,
        at      TEXT NOT NULL,
        kind    TEXT NOT NULL,
        tenant  TEXT NOT NULL,
        payload TEXT NOT NULL
    );
"#,
];

/// The store in a SQLite file.
pub type SqliteStore = SqlStore<Sqlite>;

/// One SQLite connection.
pub struct Sqlite {
    conn: Mutex<Connection>,
}

impl SqlStore<Sqlite> {
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
        // Every statement the store runs stays prepared.
        conn.set_prepared_statement_cache_capacity(64);
        SqlStore::new(Sqlite {
            conn: Mutex::new(conn),
        })
    }
}

impl Dialect for Sqlite {
    const MIGRATIONS: &'static [&'static str] = MIGRATIONS;

    fn transaction<T>(
        &self,
        isolation: Isolation,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = lock(&self.conn)?;
        // A write takes the file's write lock at once: another process (`sesame audit verify`
        // on a live store) then makes it wait, never fail half-way.
        let behavior = match isolation {
            Isolation::Serialized => TransactionBehavior::Immediate,
            Isolation::Plain | Isolation::Snapshot => TransactionBehavior::Deferred,
        };
        let tx = conn.transaction_with_behavior(behavior).map_err(backend)?;
        let out = f(&mut Tx(&tx))?;
        tx.commit().map_err(backend)?;
        Ok(out)
    }

    fn schema_version(conn: &mut dyn Conn) -> Result<usize, StoreError> {
        usize::try_from(conn.one("PRAGMA user_version", &[])?.count(0)?).map_err(backend)
    }

    fn set_schema_version(conn: &mut dyn Conn, version: usize) -> Result<(), StoreError> {
        conn.batch(&format!("PRAGMA user_version = {version}"))
    }
}

struct Tx<'a>(&'a rusqlite::Transaction<'a>);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Int(n) => ValueRef::Integer(*n),
            Param::Text(Some(text)) => ValueRef::Text(text.as_bytes()),
            Param::Text(None) => ValueRef::Null,
        }))
    }
}

fn cell(value: ValueRef<'_>) -> Result<Cell, StoreError> {
    match value {
        ValueRef::Null => Ok(Cell::Null),
        ValueRef::Integer(n) => Ok(Cell::Int(n)),
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .map(|t| Cell::Text(t.to_string()))
            .map_err(|e| StoreError::Corrupt(format!("text that is not UTF-8: {e}"))),
        ValueRef::Real(_) | ValueRef::Blob(_) => Err(StoreError::Corrupt(
            "a real or blob value where the schema has none".into(),
        )),
    }
}

impl Conn for Tx<'_> {
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(backend)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params))
            .map_err(backend)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(backend)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(backend)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(backend)? {
            let cells = (0..width)
                .map(|i| row.get_ref(i).map_err(backend).and_then(cell))
                .collect::<Result<_, _>>()?;
            out.push(Row(cells));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0.execute_batch(sql).map_err(backend)
    }
}

//! The seam between the one SQL store ([`super::sql::SqlStore`]) and a database driver: how a
//! transaction is opened (and what it locks or announces), how values are bound and rows read,
//! and the DDL of each schema version. The statements themselves are written once, in the SQL
//! both SQLite (3.43 or later: `RETURNING`, `ON CONFLICT ... DO UPDATE`, `octet_length`) and
//! PostgreSQL accept, with `?1`-style placeholders that a driver may rewrite.

use super::StoreError;

/// A value bound to a statement.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Int(i64),
    /// `None` binds NULL.
    Text(Option<&'a str>),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(Some(text))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(text: &'a String) -> Self {
        Self::Text(Some(text))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(text: Option<&'a str>) -> Self {
        Self::Text(text)
    }
}

impl From<i64> for Param<'_> {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

/// One column of a row read.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Cell {
    #[default]
    Null,
    Int(i64),
    Text(String),
}

/// One row read: its columns in the order the statement selects them.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Cell>);

impl Row {
    fn cell(&mut self, i: usize) -> Result<Cell, StoreError> {
        self.0
            .get_mut(i)
            .map(std::mem::take)
            .ok_or_else(|| StoreError::Corrupt(format!("a row without column {i}")))
    }

    /// Column `i` as an integer, NULL as `None`.
    pub fn opt_int(&mut self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Int(n) => Ok(Some(n)),
            Cell::Text(t) => Err(StoreError::Corrupt(format!(
                "column {i} holds text {t:?} where a number belongs"
            ))),
        }
    }

    pub fn int(&mut self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL")))
    }

    /// Column `i` as a non-negative number (sequence numbers, revisions).
    pub fn count(&mut self, i: usize) -> Result<u64, StoreError> {
        let n = self.int(i)?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("column {i} is negative: {n}")))
    }

    /// Column `i` as text, NULL as `None`.
    pub fn opt_text(&mut self, i: usize) -> Result<Option<String>, StoreError> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Text(t) => Ok(Some(t)),
            Cell::Int(n) => Err(StoreError::Corrupt(format!(
                "column {i} holds the number {n} where text belongs"
            ))),
        }
    }

    pub fn text(&mut self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL")))
    }
}

/// What a transaction needs besides atomicity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Reads, and the decision log (appended by every replica without waiting for the others).
    Plain,
    /// Several reads that must see one state (the entities and the revision they reflect).
    Snapshot,
    /// A change to the versions, the active pointer, the entities or the audit chain: such
    /// transactions run one at a time across every process sharing the store (so the history
    /// stays linear and the audit chain gap-free), and are announced to the others at commit.
    Serialized,
}

/// An open transaction.
pub trait Conn {
    /// Runs one statement; returns how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError>;
    /// Runs one query; returns its rows.
    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, StoreError>;
    /// Runs several statements without parameters (migrations).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;

    /// The first row of a query, if any.
    fn first(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The one row a query answers (`RETURNING`, an aggregate).
    fn one(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Row, StoreError> {
        self.first(sql, params)?
            .ok_or_else(|| StoreError::Backend(format!("no row from {sql}")))
    }
}

/// A database behind the SQL store.
pub trait Dialect: Send + Sync + 'static {
    /// The schema, one entry a version, applied in order. The tables and columns are the same in
    /// every dialect; their DDL is not (`INTEGER PRIMARY KEY` against `BIGSERIAL`, `json_extract`
    /// against `->>`), and existing databases carry the DDL they were created with.
    const MIGRATIONS: &'static [&'static str];

    /// Runs `f` in one transaction: committed if it returns `Ok`, rolled back otherwise.
    fn transaction<T>(
        &self,
        isolation: Isolation,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;

    /// How many [`Self::MIGRATIONS`] the database has applied.
    fn schema_version(conn: &mut dyn Conn) -> Result<usize, StoreError>;
    /// Records that `version` migrations are applied (in the migration's transaction).
    fn set_schema_version(conn: &mut dyn Conn, version: usize) -> Result<(), StoreError>;

    /// Whether other server processes share this database.
    fn is_shared(&self) -> bool {
        false
    }
    /// See [`super::PolicyStore::watch`].
    fn watch(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<()>> {
        None
    }
}

/// Applies the migrations `D` has not applied yet, in one transaction: a store opens with the
/// whole schema or with the one it had.
pub fn migrate<D: Dialect>(dialect: &D) -> Result<(), StoreError> {
    dialect.transaction(Isolation::Serialized, |conn| {
        let applied = D::schema_version(conn)?;
        for (i, migration) in D::MIGRATIONS.iter().enumerate().skip(applied) {
            conn.batch(migration)?;
            D::set_schema_version(conn, i + 1)?;
        }
        Ok(())
    })
}

/// The one connection of a store, waited for (a poisoned lock: a call panicked with it).
pub fn lock<C>(
    connection: &std::sync::Mutex<C>,
) -> Result<std::sync::MutexGuard<'_, C>, StoreError> {
    connection
        .lock()
        .map_err(|_| StoreError::Backend("store lock poisoned".into()))
}

pub fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

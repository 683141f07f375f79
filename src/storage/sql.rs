//! One connection type over both engines: every storage function is written once, against
//! [`Conn`], and runs on SQLite (rusqlite) and PostgreSQL (the `postgres` crate) alike.
//!
//! The surface follows rusqlite's (`prepare_cached`, `query_row`, `query_map`, `execute`,
//! `exists`, `optional()`), so the SQL and the row mapping read the same on both engines.
//! SQL is written with SQLite's placeholders (`?1`, `?`); on PostgreSQL they become `$1`,
//! … once, when a connection first prepares the statement, and the prepared statement is
//! kept per connection (one round trip per query afterwards). Where the engines need
//! different SQL (search indexes, `INDEXED BY`), the caller asks [`Conn::is_postgres`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql as PgToSql, Type};

use super::{DbError, Result};

/// The schema version this binary writes (both engines number their schema alike).
pub fn schema_version() -> i64 {
    10
}

/// A PostgreSQL connection of the pool with the statements it has prepared.
pub struct PgClient {
    /// Always `Some` until dropped (see the `Drop` impl).
    client: Option<postgres::Client>,
    stmts: HashMap<String, postgres::Statement>,
}

impl PgClient {
    pub(super) fn new(client: postgres::Client) -> Self {
        Self {
            client: Some(client),
            stmts: HashMap::new(),
        }
    }

    pub(super) fn client(&mut self) -> &mut postgres::Client {
        self.parts().0
    }

    /// The client and its statement cache, borrowed apart (a transaction holds both).
    pub(super) fn parts(
        &mut self,
    ) -> (
        &mut postgres::Client,
        &mut HashMap<String, postgres::Statement>,
    ) {
        match &mut self.client {
            Some(c) => (c, &mut self.stmts),
            None => unreachable!("a PgClient is used after drop"),
        }
    }
}

/// Closing a connection runs the client's own small runtime, which may not start inside
/// another one: a pool dropped on an async worker hands its connections to a thread.
impl Drop for PgClient {
    fn drop(&mut self) {
        self.stmts.clear();
        if let Some(c) = self.client.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new()
                    .name("invois-pg-close".into())
                    .spawn(move || drop(c));
            } else {
                drop(c);
            }
        }
    }
}

/// Where a PostgreSQL [`Conn`] runs its statements: an open transaction, or the session
/// itself, each statement then its own transaction (autocommit: no `BEGIN`/`COMMIT` round
/// trips, for work that is one atomic statement).
pub enum PgSession<'a> {
    Tx(postgres::Transaction<'a>),
    Autocommit(&'a mut postgres::Client),
}

impl PgSession<'_> {
    fn prepare(&mut self, sql: &str) -> std::result::Result<postgres::Statement, postgres::Error> {
        match self {
            Self::Tx(t) => t.prepare(sql),
            Self::Autocommit(c) => c.prepare(sql),
        }
    }

    fn query(
        &mut self,
        st: &postgres::Statement,
        args: &[&(dyn PgToSql + Sync)],
    ) -> std::result::Result<Vec<postgres::Row>, postgres::Error> {
        match self {
            Self::Tx(t) => t.query(st, args),
            Self::Autocommit(c) => c.query(st, args),
        }
    }

    fn execute(
        &mut self,
        st: &postgres::Statement,
        args: &[&(dyn PgToSql + Sync)],
    ) -> std::result::Result<u64, postgres::Error> {
        match self {
            Self::Tx(t) => t.execute(st, args),
            Self::Autocommit(c) => c.execute(st, args),
        }
    }

    fn batch_execute(&mut self, sql: &str) -> std::result::Result<(), postgres::Error> {
        match self {
            Self::Tx(t) => t.batch_execute(sql),
            Self::Autocommit(c) => c.batch_execute(sql),
        }
    }

    fn copy_in(
        &mut self,
        sql: &str,
    ) -> std::result::Result<postgres::CopyInWriter<'_>, postgres::Error> {
        match self {
            Self::Tx(t) => t.copy_in(sql),
            Self::Autocommit(c) => c.copy_in(sql),
        }
    }
}

/// An open transaction on PostgreSQL (or an autocommit session), with its connection's
/// statement cache.
pub struct PgTx<'a> {
    tx: RefCell<PgSession<'a>>,
    stmts: RefCell<&'a mut HashMap<String, postgres::Statement>>,
    /// The `counters` rows, read in the round trip that opened a read snapshot.
    counters: Option<HashMap<String, i64>>,
}

impl<'a> PgTx<'a> {
    pub(super) fn new(
        tx: postgres::Transaction<'a>,
        stmts: &'a mut HashMap<String, postgres::Statement>,
    ) -> Self {
        Self {
            tx: RefCell::new(PgSession::Tx(tx)),
            stmts: RefCell::new(stmts),
            counters: None,
        }
    }

    /// A read snapshot the caller opened (and ends) itself, in the same round trip as the
    /// `counters` rows it read (see `pg::Pg::read_checked`).
    pub(super) fn opened(
        client: &'a mut postgres::Client,
        stmts: &'a mut HashMap<String, postgres::Statement>,
        counters: HashMap<String, i64>,
    ) -> Self {
        Self {
            tx: RefCell::new(PgSession::Autocommit(client)),
            stmts: RefCell::new(stmts),
            counters: Some(counters),
        }
    }

    /// The session outside any transaction block: every statement commits by itself.
    pub(super) fn autocommit(
        client: &'a mut postgres::Client,
        stmts: &'a mut HashMap<String, postgres::Statement>,
    ) -> Self {
        Self {
            tx: RefCell::new(PgSession::Autocommit(client)),
            stmts: RefCell::new(stmts),
            counters: None,
        }
    }

    /// Commits the transaction (nothing to do in autocommit).
    pub(super) fn commit(self) -> Result<()> {
        match self.tx.into_inner() {
            PgSession::Tx(t) => Ok(t.commit()?),
            PgSession::Autocommit(_) => Ok(()),
        }
    }

    /// Rolls the transaction back (nothing to undo in autocommit).
    pub(super) fn rollback(self) -> Result<()> {
        match self.tx.into_inner() {
            PgSession::Tx(t) => Ok(t.rollback()?),
            PgSession::Autocommit(_) => Ok(()),
        }
    }

    fn statement(&self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.stmts.borrow().get(sql) {
            return Ok(s.clone());
        }
        let st = self.tx.borrow_mut().prepare(&pg_placeholders(sql))?;
        let mut cache = self.stmts.borrow_mut();
        if cache.len() >= STATEMENT_CACHE {
            cache.clear();
        }
        cache.insert(sql.to_owned(), st.clone());
        Ok(st)
    }
}

/// Statements kept per PostgreSQL connection (as SQLite's prepared-statement cache).
const STATEMENT_CACHE: usize = 512;

/// A connection inside a transaction (a read snapshot or a write), on either engine.
pub enum Conn<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(PgTx<'a>),
}

/// Which engine a connection runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl<'a> Conn<'a> {
    pub fn engine(&self) -> Engine {
        match self {
            Self::Sqlite(_) => Engine::Sqlite,
            Self::Postgres(_) => Engine::Postgres,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The SQLite connection, for SQLite-only work (bulk loading, PRAGMAs).
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Self::Sqlite(c) => Some(c),
            Self::Postgres(_) => None,
        }
    }

    /// A statement, prepared once per connection and kept.
    pub fn prepare_cached(&self, sql: &str) -> Result<Stmt<'_>> {
        Ok(match self {
            Self::Sqlite(c) => Stmt::Sqlite(c.prepare_cached(sql)?),
            Self::Postgres(p) => Stmt::Postgres {
                tx: &p.tx,
                st: p.statement(sql)?,
            },
        })
    }

    /// A statement run once (SQL built at run time, such as `IN (…)` lists).
    pub fn prepare(&self, sql: &str) -> Result<Stmt<'_>> {
        self.prepare_cached(sql)
    }

    /// The first row of `sql`, mapped; [`DbError::NoRows`] if there is none (see
    /// [`OptionalExtension::optional`]).
    pub fn query_row<T, P: Params, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// PostgreSQL's `COPY … FROM STDIN` with `data` in its text format (bulk loading).
    pub fn copy_in(&self, sql: &str, data: &[u8]) -> Result<u64> {
        use std::io::Write;
        match self {
            Self::Sqlite(_) => Err(DbError::Internal("COPY is PostgreSQL's".into())),
            Self::Postgres(p) => {
                let mut tx = p.tx.borrow_mut();
                let mut w = tx.copy_in(sql)?;
                w.write_all(data)
                    .map_err(|e| DbError::Internal(format!("copy: {e}")))?;
                Ok(w.finish()?)
            }
        }
    }

    /// A `counters` row read when the snapshot opened (PostgreSQL reads), if there is one.
    pub(super) fn prefetched_counter(&self, name: &str) -> Option<i64> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(p) => p.counters.as_ref()?.get(name).copied(),
        }
    }

    /// Runs statements separated by `;`, with no parameters.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Self::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Self::Postgres(p) => Ok(p.tx.borrow_mut().batch_execute(sql)?),
        }
    }
}

/// A prepared statement.
pub enum Stmt<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres {
        tx: &'c dyn PgRun,
        st: postgres::Statement,
    },
}

/// Runs prepared statements in the open PostgreSQL transaction (erases its lifetime).
pub trait PgRun {
    fn query(
        &self,
        st: &postgres::Statement,
        args: &[&(dyn PgToSql + Sync)],
    ) -> Result<Vec<postgres::Row>>;
    fn execute(&self, st: &postgres::Statement, args: &[&(dyn PgToSql + Sync)]) -> Result<u64>;
}

impl PgRun for RefCell<PgSession<'_>> {
    fn query(
        &self,
        st: &postgres::Statement,
        args: &[&(dyn PgToSql + Sync)],
    ) -> Result<Vec<postgres::Row>> {
        Ok(self.borrow_mut().query(st, args)?)
    }
    fn execute(&self, st: &postgres::Statement, args: &[&(dyn PgToSql + Sync)]) -> Result<u64> {
        Ok(self.borrow_mut().execute(st, args)?)
    }
}

impl Stmt<'_> {
    fn pg_rows<P: Params>(&mut self, params: &P) -> Result<Vec<postgres::Row>> {
        let Self::Postgres { tx, st } = self else {
            unreachable!("pg_rows on SQLite")
        };
        let args = params.args();
        let refs: Vec<&(dyn PgToSql + Sync)> =
            args.iter().map(|a| a as &(dyn PgToSql + Sync)).collect();
        tx.query(st, &refs)
    }

    /// The first row, mapped; [`DbError::NoRows`] if there is none.
    pub fn query_row<T, P: Params, F>(&mut self, params: P, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        match self {
            Self::Sqlite(s) => {
                let args = params.args();
                let mut rows = s.query(rusqlite::params_from_iter(args.iter()))?;
                match rows.next()? {
                    Some(r) => f(&Row::Sqlite(r)),
                    None => Err(DbError::NoRows),
                }
            }
            Self::Postgres { .. } => {
                let rows = self.pg_rows(&params)?;
                match rows.first() {
                    Some(r) => f(&Row::Postgres(r)),
                    None => Err(DbError::NoRows),
                }
            }
        }
    }

    /// Every row, mapped (read whole, in order).
    pub fn query_map<T, P: Params, F>(
        &mut self,
        params: P,
        mut f: F,
    ) -> Result<std::vec::IntoIter<Result<T>>>
    where
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        let mut out = Vec::new();
        match self {
            Self::Sqlite(s) => {
                let args = params.args();
                let mut rows = s.query(rusqlite::params_from_iter(args.iter()))?;
                while let Some(r) = rows.next()? {
                    out.push(f(&Row::Sqlite(r)));
                }
            }
            Self::Postgres { .. } => {
                for r in &self.pg_rows(&params)? {
                    out.push(f(&Row::Postgres(r)));
                }
            }
        }
        Ok(out.into_iter())
    }

    /// Calls `f` for each row in turn (SQLite streams them; PostgreSQL reads them first).
    pub fn for_each<P: Params, F>(&mut self, params: P, mut f: F) -> Result<()>
    where
        F: FnMut(&Row<'_>) -> Result<()>,
    {
        match self {
            Self::Sqlite(s) => {
                let args = params.args();
                let mut rows = s.query(rusqlite::params_from_iter(args.iter()))?;
                while let Some(r) = rows.next()? {
                    f(&Row::Sqlite(r))?;
                }
            }
            Self::Postgres { .. } => {
                for r in &self.pg_rows(&params)? {
                    f(&Row::Postgres(r))?;
                }
            }
        }
        Ok(())
    }

    /// Runs the statement; the number of rows it changed.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        match self {
            Self::Sqlite(s) => {
                let args = params.args();
                Ok(s.execute(rusqlite::params_from_iter(args.iter()))?)
            }
            Self::Postgres { tx, st } => {
                let args = params.args();
                let refs: Vec<&(dyn PgToSql + Sync)> =
                    args.iter().map(|a| a as &(dyn PgToSql + Sync)).collect();
                let n = tx.execute(st, &refs)?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Whether the statement returns any row.
    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        match self {
            Self::Sqlite(s) => {
                let args = params.args();
                Ok(s.exists(rusqlite::params_from_iter(args.iter()))?)
            }
            Self::Postgres { .. } => Ok(!self.pg_rows(&params)?.is_empty()),
        }
    }
}

/// One row of a result.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

impl Row<'_> {
    /// Column `idx` (0-based) as `T`.
    pub fn get<I: RowIndex, T: FromColumn>(&self, idx: I) -> Result<T> {
        let idx = idx.index();
        match self {
            Self::Sqlite(r) => T::sqlite(r, idx),
            Self::Postgres(r) => T::postgres(r, idx),
        }
    }
}

/// A column position (as rusqlite's `RowIndex`, so that `r.get(0)` needs no annotation).
pub trait RowIndex {
    fn index(self) -> usize;
}

impl RowIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// A Rust value read from a column of either engine.
pub trait FromColumn: Sized {
    fn sqlite(r: &rusqlite::Row<'_>, idx: usize) -> Result<Self>;
    fn postgres(r: &postgres::Row, idx: usize) -> Result<Self>;
}

fn pg_int(r: &postgres::Row, idx: usize) -> Result<Option<i64>> {
    let ty = r
        .columns()
        .get(idx)
        .map(|c| c.type_().clone())
        .ok_or_else(|| DbError::Internal(format!("no column {idx}")))?;
    Ok(match ty {
        Type::INT8 => r.try_get::<_, Option<i64>>(idx)?,
        Type::INT4 => r.try_get::<_, Option<i32>>(idx)?.map(i64::from),
        Type::INT2 => r.try_get::<_, Option<i16>>(idx)?.map(i64::from),
        Type::BOOL => r.try_get::<_, Option<bool>>(idx)?.map(i64::from),
        other => {
            return Err(DbError::Internal(format!(
                "column {idx} is {other}, read as an integer"
            )))
        }
    })
}

impl FromColumn for i64 {
    fn sqlite(r: &rusqlite::Row<'_>, idx: usize) -> Result<Self> {
        Ok(r.get(idx)?)
    }
    fn postgres(r: &postgres::Row, idx: usize) -> Result<Self> {
        pg_int(r, idx)?.ok_or_else(|| DbError::Internal(format!("column {idx} is NULL")))
    }
}

impl FromColumn for Option<i64> {
    fn sqlite(r: &rusqlite::Row<'_>, idx: usize) -> Result<Self> {
        Ok(r.get(idx)?)
    }
    fn postgres(r: &postgres::Row, idx: usize) -> Result<Self> {
        pg_int(r, idx)
    }
}

macro_rules! narrow_int {
    ($($t:ty),*) => {$(
        impl FromColumn for $t {
            fn sqlite(r: &rusqlite::Row<'_>, idx: usize) -> Result<Self> {
                let v = i64::sqlite(r, idx)?;
                <$t>::try_from(v).map_err(|_| DbError::Internal(format!("column {idx}: {v} out of range")))
            }
            fn postgres(r: &postgres::Row, idx: usize) -> Result<Self> {
                let v = i64::postgres(r, idx)?;
                <$t>::try_from(v).map_err(|_| DbError::Internal(format!("column {idx}: {v} out of range")))
            }
        }
        impl FromColumn for Option<$t> {
            fn sqlite(r: &rusqlite::Row<'_>, idx: usize) -> Result<Self> {
                Option::<i64>::sqlite(r, idx)?
                    .map(|v| <$t>::try_from(v).map_err(|_| DbError::Internal(format!("column {idx}: {v} out of range"))))
                    .transpose()
            }
            fn postgres(r: &postgres::Row, idx: usize) -> Result<Self> {
                pg_int(r, idx)?
                    .map(|v| <$t>::try_from(v).map_err(|_| DbError::Internal(format!("column {idx}: {v} out of range"))))
                    .transpose()
            }
        }
    )*};
}
narrow_int!(i32, u16, u32, u64, usize);

impl FromColumn for bool {
    fn sqlite(r: &rusqlite::Row<'_>, idx: usize) -> Result<Self> {
        Ok(r.get(idx)?)
    }
    fn postgres(r: &postgres::Row, idx: usize) -> Result<Self> {
        Ok(i64::postgres(r, idx)? != 0)
    }
}

impl FromColumn for String {
    fn sqlite(r: &rusqlite::Row<'_>, idx: usize) -> Result<Self> {
        Ok(r.get(idx)?)
    }
    fn postgres(r: &postgres::Row, idx: usize) -> Result<Self> {
        Ok(r.try_get(idx)?)
    }
}

impl FromColumn for Option<String> {
    fn sqlite(r: &rusqlite::Row<'_>, idx: usize) -> Result<Self> {
        Ok(r.get(idx)?)
    }
    fn postgres(r: &postgres::Row, idx: usize) -> Result<Self> {
        Ok(r.try_get(idx)?)
    }
}

impl FromColumn for f64 {
    fn sqlite(r: &rusqlite::Row<'_>, idx: usize) -> Result<Self> {
        Ok(r.get(idx)?)
    }
    fn postgres(r: &postgres::Row, idx: usize) -> Result<Self> {
        let ty = r.columns().get(idx).map(|c| c.type_().clone());
        Ok(match ty {
            Some(Type::FLOAT4) => f64::from(r.try_get::<_, f32>(idx)?),
            Some(Type::FLOAT8) => r.try_get(idx)?,
            _ => i64::postgres(r, idx)? as f64,
        })
    }
}

/// A parameter value, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
}

/// An owned parameter value (argument lists built at run time).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl ToArg for Value {
    fn arg(&self) -> Arg<'_> {
        match self {
            Self::Null => Arg::Null,
            Self::Int(i) => Arg::Int(*i),
            Self::Real(f) => Arg::Real(*f),
            Self::Text(s) => Arg::Text(s),
        }
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

/// A Rust value bound as a parameter on either engine.
pub trait ToArg {
    fn arg(&self) -> Arg<'_>;
}

impl ToArg for Arg<'_> {
    fn arg(&self) -> Arg<'_> {
        *self
    }
}
impl ToArg for str {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}
impl ToArg for String {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}
impl ToArg for std::sync::Arc<str> {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}
impl ToArg for bool {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}
impl ToArg for f64 {
    fn arg(&self) -> Arg<'_> {
        Arg::Real(*self)
    }
}
macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn arg(&self) -> Arg<'_> {
                Arg::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_arg!(i64, i32, u32, u64, usize, i16, u16, u8);
impl<T: ToArg + ?Sized> ToArg for &T {
    fn arg(&self) -> Arg<'_> {
        (**self).arg()
    }
}
impl<T: ToArg> ToArg for Option<T> {
    fn arg(&self) -> Arg<'_> {
        match self {
            Some(v) => v.arg(),
            None => Arg::Null,
        }
    }
}

/// The parameters of a statement.
pub trait Params {
    fn args(&self) -> Vec<Arg<'_>>;
}

impl<T: ToArg, const N: usize> Params for [T; N] {
    fn args(&self) -> Vec<Arg<'_>> {
        self.iter().map(ToArg::arg).collect()
    }
}
impl<T: ToArg> Params for [T] {
    fn args(&self) -> Vec<Arg<'_>> {
        self.iter().map(ToArg::arg).collect()
    }
}
impl<T: ToArg> Params for Vec<T> {
    fn args(&self) -> Vec<Arg<'_>> {
        self.iter().map(ToArg::arg).collect()
    }
}
impl Params for () {
    fn args(&self) -> Vec<Arg<'_>> {
        Vec::new()
    }
}
impl<P: Params + ?Sized> Params for &P {
    fn args(&self) -> Vec<Arg<'_>> {
        (**self).args()
    }
}

/// Parameters from an iterator (an `IN (…)` list).
pub fn params_from_iter<I>(iter: I) -> Vec<<I as IntoIterator>::Item>
where
    I: IntoIterator,
    I::Item: ToArg,
{
    iter.into_iter().collect()
}

/// `params![a, b, …]`: parameters of mixed types, as rusqlite's macro.
#[macro_export]
macro_rules! sql_params {
    () => { &[] as &[&dyn $crate::storage::sql::ToArg] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::storage::sql::ToArg),+] as &[&dyn $crate::storage::sql::ToArg] };
}
pub use crate::sql_params as params;

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Arg::Null => ToSqlOutput::Owned(Value::Null),
            Arg::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            Arg::Real(f) => ToSqlOutput::Owned(Value::Real(*f)),
            Arg::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl PgToSql for Arg<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match *self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                _ => i.to_string().as_str().to_sql(ty, out),
            },
            Arg::Real(f) => match *ty {
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                _ => f.to_sql(ty, out),
            },
            Arg::Text(s) => match *ty {
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                Type::INT4 => s.parse::<i32>()?.to_sql(ty, out),
                _ => s.to_sql(ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// `None` for [`DbError::NoRows`], as rusqlite's `OptionalExtension`.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// SQLite's placeholders (`?NNN`, `?`) as PostgreSQL's (`$NNN`), outside quotes.
pub fn pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    let mut next = 1u32;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                let n = if digits.is_empty() {
                    next
                } else {
                    digits.parse().unwrap_or(next)
                };
                next = next.max(n + 1);
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_outside_quotes() {
        assert_eq!(
            pg_placeholders("SELECT ?1, ?2 WHERE a = ?1 AND b = '?' AND \"c?\" = ?3"),
            "SELECT $1, $2 WHERE a = $1 AND b = '?' AND \"c?\" = $3"
        );
        assert_eq!(pg_placeholders("IN (?,?,?)"), "IN ($1,$2,$3)");
        assert_eq!(pg_placeholders("?2 ?"), "$2 $3");
    }
}

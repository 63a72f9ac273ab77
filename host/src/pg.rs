//! The PostgreSQL side shared by the app-store backend and the registry:
//! the connection pool, the schema (created once per database, under an
//! advisory lock so several hosts starting together do not race), the
//! runtime role that row-level security applies to, and the mapping of
//! server errors to what a caller can act on.
//!
//! Every table lives in the schema `hangar`. App data sits in shared
//! tables whose keys lead with the app id; the host binds that id from the
//! app's identity at the start of each transaction (`hangar.app_id`) and
//! switches to the role `hangar_runtime`, which does not own the tables,
//! so row-level security hides every other app's rows even from a host
//! bug that forgets the id in a query.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use postgres::{Client, NoTls, Statement};

use crate::error::{Error, Result};

/// The schema every Hangar table lives in.
pub(crate) const SCHEMA_NAME: &str = "hangar";
/// The role app-store transactions run as.
pub(crate) const RUNTIME_ROLE: &str = "hangar_runtime";
/// The channel every registry change is announced on.
pub(crate) const CHANGES_CHANNEL: &str = "hangar_changes";
/// The schema's version: bumped with every change to [`SCHEMA`].
const SCHEMA_VERSION: i64 = 1;
/// First key of the advisory locks Hangar takes (the second is per use).
pub(crate) const LOCK_SPACE: i32 = 0x4841_4e47; // "HANG"
/// Second key of the lock that serialises schema setup.
const SETUP_LOCK: i32 = 0;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS hangar.meta (key text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO hangar.meta (key, value) VALUES ('version', 0), ('next-seq', 1) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS hangar.records (
    app_id text NOT NULL,
    seq    bigint GENERATED ALWAYS AS IDENTITY,
    id     text NOT NULL,
    data   text NOT NULL,
    PRIMARY KEY (app_id, seq),
    UNIQUE (app_id, id)
);
CREATE TABLE IF NOT EXISTS hangar.associations (
    app_id text NOT NULL,
    model  text NOT NULL,
    key    text NOT NULL,
    seq    bigint NOT NULL,
    PRIMARY KEY (app_id, model, key, seq),
    FOREIGN KEY (app_id, seq) REFERENCES hangar.records (app_id, seq)
        ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS associations_by_record ON hangar.associations (app_id, seq);
CREATE TABLE IF NOT EXISTS hangar.app_usage (
    app_id  text PRIMARY KEY,
    records bigint NOT NULL DEFAULT 0,
    bytes   bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS hangar.jobs (
    app_id      text NOT NULL,
    id          text NOT NULL,
    processor   text NOT NULL,
    data        text NOT NULL,
    due         bigint NOT NULL,
    every_ms    bigint,
    cron        text,
    attempts    bigint NOT NULL DEFAULT 0,
    fence       bigint NOT NULL DEFAULT 0,
    lease_owner text,
    lease_until bigint,
    last_error  text,
    dead        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (app_id, id)
);
CREATE INDEX IF NOT EXISTS jobs_due ON hangar.jobs (app_id, dead, due);
CREATE TABLE IF NOT EXISTS hangar.job_marks (
    app_id text NOT NULL, key text NOT NULL, PRIMARY KEY (app_id, key)
);
CREATE TABLE IF NOT EXISTS hangar.job_stats (
    app_id       text PRIMARY KEY,
    runs         bigint NOT NULL,
    lag_total_ms bigint NOT NULL,
    lag_max_ms   bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS hangar.apps (
    id text PRIMARY KEY,
    seq bigint NOT NULL,
    manifest text NOT NULL,
    sha256 text NOT NULL,
    status text NOT NULL,
    status_reason text,
    installed_at bigint NOT NULL,
    size bigint
);
CREATE TABLE IF NOT EXISTS hangar.packages (
    app text NOT NULL, sha256 text NOT NULL, bytes bytea NOT NULL, PRIMARY KEY (app, sha256)
);
CREATE TABLE IF NOT EXISTS hangar.settings (
    app text NOT NULL, id text NOT NULL, value text NOT NULL, PRIMARY KEY (app, id)
);
CREATE TABLE IF NOT EXISTS hangar.logs (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app text NOT NULL,
    time bigint NOT NULL,
    level text NOT NULL,
    source text NOT NULL,
    message text NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_app ON hangar.logs (app, seq);
CREATE TABLE IF NOT EXISTS hangar.stats (
    app text NOT NULL, handler text NOT NULL,
    calls bigint NOT NULL, errors bigint NOT NULL, total_us bigint NOT NULL,
    PRIMARY KEY (app, handler)
);
CREATE TABLE IF NOT EXISTS hangar.faults (app text NOT NULL, time bigint NOT NULL);
CREATE INDEX IF NOT EXISTS faults_by_app ON hangar.faults (app, time);
CREATE TABLE IF NOT EXISTS hangar.endpoint_secrets (app text PRIMARY KEY, secret text NOT NULL);
CREATE TABLE IF NOT EXISTS hangar.views (
    id text PRIMARY KEY, app text NOT NULL, user_id text NOT NULL, view text NOT NULL,
    opened_at bigint NOT NULL, closed_at bigint, submitting_since bigint
);
CREATE INDEX IF NOT EXISTS views_by_user ON hangar.views (user_id, closed_at);
";

/// The tables of app data: each gets the per-app row-level policy.
const APP_TABLES: [&str; 6] = [
    "records",
    "associations",
    "app_usage",
    "jobs",
    "job_marks",
    "job_stats",
];

/// Where a host keeps its state on PostgreSQL, and how many connections
/// it may hold.
#[derive(Clone)]
pub(crate) struct PgConfig {
    pub(crate) url: String,
    pub(crate) config: postgres::Config,
    pub(crate) max_connections: u32,
}

impl PgConfig {
    /// Parse a connection string (`postgres://user@host/db`, or key=value).
    pub(crate) fn parse(url: &str, max_connections: u32) -> Result<PgConfig> {
        let mut config = postgres::Config::from_str(url).map_err(|e| {
            Error::InvalidInput(format!(
                "the store '{}' is not a PostgreSQL connection string: {e}; write it as postgres://user:password@host:port/database (a Unix socket: postgres://user@/database?host=/run/postgresql)",
                redact(url)
            ))
        })?;
        config.application_name("hangar");
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.keepalives_idle(Duration::from_secs(30));
        Ok(PgConfig {
            url: url.to_string(),
            config,
            max_connections: max_connections.max(2),
        })
    }

    /// The connection string without its password, for messages.
    pub(crate) fn display(&self) -> String {
        redact(&self.url)
    }
}

/// A connection string with any password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        let scheme = &url[..url.len() - rest.len()];
        if let Some((creds, host)) = rest.split_once('@')
            && let Some((user, _)) = creds.split_once(':')
        {
            return format!("{scheme}{user}:***@{host}");
        }
        return url.to_string();
    }
    url.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=***"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A pooled connection with its prepared statements.
pub(crate) struct PgConn {
    pub(crate) client: Client,
    statements: HashMap<&'static str, Statement>,
    /// A rollback failed: the connection is in an unknown state.
    pub(crate) broken: bool,
}

impl PgConn {
    /// The statement for `sql`, prepared once per connection.
    pub(crate) fn statement(
        &mut self,
        sql: &'static str,
    ) -> std::result::Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }
}

/// Opens connections for the pools, each with `search_path` set and the
/// server told to end a session whose client vanished: an idle
/// transaction is ended after `idle_ms` (more than any call's deadline),
/// and TCP keepalives find a dead peer within about 25 s, so a crashed or
/// cut-off machine never holds an app's lock for long.
pub(crate) struct Manager {
    config: postgres::Config,
    idle_ms: u64,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PgConn, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&format!(
            "SET search_path TO hangar;
             SET idle_in_transaction_session_timeout = {};
             SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;
             SET tcp_keepalives_count = 3;",
            self.idle_ms
        ))?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> std::result::Result<(), postgres::Error> {
        conn.client.batch_execute("")
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.broken || conn.client.is_closed()
    }
}

/// A bounded pool of connections to one database.
pub(crate) type Pool = r2d2::Pool<Manager>;

/// A connection taken from the pool.
pub(crate) type Pooled = r2d2::PooledConnection<Manager>;

/// Connect to `config`'s database once, create or upgrade the schema and
/// check the user's rights; fails clearly when the server is unreachable
/// or the user cannot run Hangar.
pub(crate) fn prepare(config: &PgConfig) -> Result<()> {
    let mut conn = config
        .config
        .connect(NoTls)
        .map_err(|e| unreachable(config, &e))?;
    let fail = |e: postgres::Error| {
        Error::Database(format!(
            "setting up the Hangar schema in {}: {}",
            config.display(),
            describe(&e)
        ))
    };
    for attempt in 0.. {
        match setup_once(&mut conn) {
            // Another database's setup created the (cluster-wide) role
            // meanwhile: once more.
            Err(Setup::Sql(e))
                if attempt < 3
                    && e.code().is_some_and(|c| {
                        *c == postgres::error::SqlState::UNIQUE_VIOLATION
                            || *c == postgres::error::SqlState::DUPLICATE_OBJECT
                    }) =>
            {
                let _ = conn.batch_execute("ROLLBACK");
            }
            Err(Setup::Sql(e)) => return Err(fail(e)),
            Err(Setup::Refused(why)) => {
                return Err(Error::Database(format!("{}: {why}", config.display())));
            }
            Ok(()) => return Ok(()),
        }
    }
    Ok(())
}

/// A pool of at most `max` connections (none opened yet).
pub(crate) fn pool(config: &PgConfig, max: u32, idle_ms: u64) -> Pool {
    r2d2::Pool::builder()
        .max_size(max)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(5))
        .test_on_check_out(false)
        .build_unchecked(Manager {
            config: config.config.clone(),
            idle_ms,
        })
}

/// [`prepare`], then a pool of the configured size.
pub(crate) fn connect(config: &PgConfig) -> Result<Pool> {
    prepare(config)?;
    Ok(pool(config, config.max_connections, DEFAULT_IDLE_MS))
}

/// How long a session may sit idle inside a transaction when the host did
/// not say (longer than any default deadline).
pub(crate) const DEFAULT_IDLE_MS: u64 = 60_000;

enum Setup {
    Sql(postgres::Error),
    Refused(String),
}

impl From<postgres::Error> for Setup {
    fn from(e: postgres::Error) -> Self {
        Setup::Sql(e)
    }
}

/// Create the schema, role and policies if missing (under a database-wide
/// advisory lock, so several hosts starting at once do not race), refuse a
/// schema newer than this host knows, and check that the user may switch
/// to the runtime role and is not itself subject to the per-app policies.
fn setup_once(conn: &mut Client) -> std::result::Result<(), Setup> {
    let mut tx = conn.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&LOCK_SPACE, &SETUP_LOCK],
    )?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('hangar.meta') IS NOT NULL", &[])?
        .get(0);
    let current: Option<i64> = if exists {
        tx.query_opt("SELECT value FROM hangar.meta WHERE key = 'schema'", &[])?
            .map(|r| r.get(0))
    } else {
        None
    };
    if current.is_some_and(|v| v > SCHEMA_VERSION) {
        return Err(Setup::Refused(format!(
            "the database holds Hangar schema version {}, newer than this host's {SCHEMA_VERSION}; upgrade this host",
            current.unwrap_or_default()
        )));
    }
    if current != Some(SCHEMA_VERSION) {
        create(&mut tx)?;
    }
    grant_runtime_role(&mut tx)?;
    // The registry's own statements (uninstall, adopting an install's rows,
    // migrate) must see every app's rows.
    let unrestricted: bool = tx
        .query_one(
            "SELECT r.rolsuper OR r.rolbypassrls OR pg_has_role(current_user, c.relowner, 'USAGE')
             FROM pg_roles r, pg_class c
             WHERE r.rolname = current_user AND c.oid = 'hangar.records'::regclass",
            &[],
        )?
        .get(0);
    if !unrestricted {
        return Err(Setup::Refused(
            "the user neither owns the hangar tables nor bypasses row-level security, so uninstalls could not delete app data; connect as the user that created them (their owner)".into(),
        ));
    }
    tx.commit()?;
    Ok(())
}

fn create(tx: &mut postgres::Transaction<'_>) -> std::result::Result<(), postgres::Error> {
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {SCHEMA_NAME}; {SCHEMA}"
    ))?;
    tx.batch_execute(&format!(
        "DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RUNTIME_ROLE}') THEN
                CREATE ROLE {RUNTIME_ROLE} NOLOGIN;
            END IF;
         END $$;
         GRANT USAGE ON SCHEMA {SCHEMA_NAME} TO {RUNTIME_ROLE};"
    ))?;
    for table in APP_TABLES {
        tx.batch_execute(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON {SCHEMA_NAME}.{table} TO {RUNTIME_ROLE};
             ALTER TABLE {SCHEMA_NAME}.{table} ENABLE ROW LEVEL SECURITY;"
        ))?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM pg_policies WHERE schemaname = $1 AND tablename = $2 AND policyname = 'per_app'",
                &[&SCHEMA_NAME, &table],
            )?
            .is_some();
        if !exists {
            tx.batch_execute(&format!(
                "CREATE POLICY per_app ON {SCHEMA_NAME}.{table} TO {RUNTIME_ROLE}
                 USING (app_id = current_setting('hangar.app_id', true))
                 WITH CHECK (app_id = current_setting('hangar.app_id', true))"
            ))?;
        }
    }
    tx.execute(
        "INSERT INTO hangar.meta (key, value) VALUES ('schema', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&SCHEMA_VERSION],
    )?;
    Ok(())
}

/// Let the connecting user switch to the runtime role (every user that
/// runs a host, not only the one that created the schema). From
/// PostgreSQL 16 on, membership alone does not allow `SET ROLE`: the
/// grant must carry the SET option.
fn grant_runtime_role(
    tx: &mut postgres::Transaction<'_>,
) -> std::result::Result<(), postgres::Error> {
    let version: i32 = tx
        .query_one("SELECT current_setting('server_version_num')::int", &[])?
        .get(0);
    let privilege = if version >= 160_000 { "SET" } else { "MEMBER" };
    let can: bool = tx
        .query_one(
            "SELECT pg_has_role(current_user, $1, $2)",
            &[&RUNTIME_ROLE, &privilege],
        )?
        .get(0);
    if !can {
        tx.batch_execute(&if version >= 160_000 {
            format!("GRANT {RUNTIME_ROLE} TO CURRENT_USER WITH SET TRUE")
        } else {
            format!("GRANT {RUNTIME_ROLE} TO CURRENT_USER")
        })?;
    }
    Ok(())
}

/// The error for a server that cannot be reached.
pub(crate) fn unreachable(config: &PgConfig, e: &postgres::Error) -> Error {
    Error::Database(format!(
        "cannot reach the PostgreSQL server at {}: {}; is it running, and does the connection string name the right host, port, user and database?",
        config.display(),
        describe(e)
    ))
}

/// A server error in one line: its message and code, or the I/O cause.
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    }
}

/// Whether `e` means the connection (or the server) is gone, rather than
/// a statement failing.
pub(crate) fn is_connection_error(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.is_closed()
        || e.as_db_error().is_none()
        || e.code().is_some_and(|c| {
            *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || c.code().starts_with("08")
        })
}

/// A SQL string literal.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

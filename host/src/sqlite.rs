//! SQLite helpers shared by the app-store backend, the registry and the
//! reference chat: opening a database read-write, or read-only where the
//! file system allows no more (a read-only data dir keeps serving reads).

use std::path::Path;

use rusqlite::{Connection, ErrorCode};

/// Turn off SQLite's memory statistics before its first use in the process:
/// they take one process-wide mutex on every allocation, which serialises
/// threads working on different databases. A no-op (SQLITE_MISUSE) when the
/// embedder used SQLite first.
fn configure_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called before any connection is opened
        // by this library and before sqlite3_initialize by us; if SQLite is
        // already initialised it returns SQLITE_MISUSE and changes nothing.
        unsafe {
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0);
        }
    });
}

/// Open a database read-write, or read-only where the file system allows
/// no more. Returns whether the connection is read-only.
pub(crate) fn open_connection(path: &Path) -> rusqlite::Result<(Connection, bool)> {
    configure_once();
    match Connection::open(path) {
        Ok(conn) => {
            // A writable handle on a read-only mount fails at first use.
            match conn.query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0)) {
                Ok(_) => Ok((conn, false)),
                Err(e) if is_read_only(&e) => read_only(path),
                Err(e) => Err(e),
            }
        }
        Err(e) if is_read_only(&e) => read_only(path),
        Err(e) => Err(e),
    }
}

fn read_only(path: &Path) -> rusqlite::Result<(Connection, bool)> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // Without a -shm file a WAL database opens read-only only as immutable.
    let uri = format!("file:{}?immutable=1", path.display());
    match Connection::open_with_flags(path, flags) {
        Ok(conn)
            if conn
                .query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))
                .is_ok() =>
        {
            Ok((conn, true))
        }
        _ => Ok((
            Connection::open_with_flags(uri, flags | rusqlite::OpenFlags::SQLITE_OPEN_URI)?,
            true,
        )),
    }
}

fn is_read_only(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen)
    )
}

/// Run `f` inside `BEGIN IMMEDIATE` ... `COMMIT`, rolling back on error.
pub(crate) fn immediate<T, E: From<rusqlite::Error>>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let out = f(conn).and_then(|v| {
        conn.execute_batch("COMMIT")?;
        Ok(v)
    });
    if out.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    out
}

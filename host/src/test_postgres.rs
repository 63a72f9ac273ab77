//! A throwaway PostgreSQL server for tests (compiled for tests and with
//! feature `testkit`).
//!
//! `HANGAR_TEST_POSTGRES` names a server to use instead; without it, a
//! cluster is made from Debian's binaries in a private temporary directory,
//! listening only on a Unix socket there, so tests never touch a real
//! server and parallel test processes never clash. Every test gets a
//! fresh database of its own from [`TestPostgres::database`].
//!
//! `initdb` refuses to run as root, and CI runs as root: there the server
//! commands run as the `postgres` user the Debian package creates.
//!
//! Everything here panics with a message naming what failed: it is for
//! tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

/// A PostgreSQL server for tests.
pub struct TestPostgres {
    /// The throwaway cluster; None for `HANGAR_TEST_POSTGRES`.
    cluster: Option<Cluster>,
    /// Where `CREATE DATABASE` runs.
    admin: String,
    /// Stopped and deleted on drop (a private cluster).
    owned: bool,
}

/// A cluster in `dir` (socket there, data in `dir/data`, log `dir/log`).
struct Cluster {
    dir: PathBuf,
    port: u16,
    pgbin: PathBuf,
    root: bool,
    /// Stops the server and deletes `dir` once the test process is gone,
    /// however it ended.
    watchdog: Child,
}

impl TestPostgres {
    /// The server shared by every test of this process: `HANGAR_TEST_POSTGRES`
    /// (a connection string, URL or key=value, to a server where its user may
    /// CREATE DATABASE) if set, else a throwaway cluster started once from
    /// Debian's binaries. None (after printing one loud line to stderr:
    /// "SKIPPED: PostgreSQL tests: no HANGAR_TEST_POSTGRES and no
    /// `/usr/lib/postgresql/*/bin/initdb`; install Debian's postgresql to run
    /// them") when neither is available. Panics instead of returning None when
    /// `HANGAR_REQUIRE_POSTGRES=1` is set.
    pub fn shared() -> Option<&'static TestPostgres> {
        static SHARED: OnceLock<Option<TestPostgres>> = OnceLock::new();
        SHARED
            .get_or_init(|| match std::env::var("HANGAR_TEST_POSTGRES") {
                Ok(admin) if !admin.is_empty() => Some(TestPostgres {
                    cluster: None,
                    admin,
                    owned: false,
                }),
                _ => match pgbin() {
                    Some(pgbin) => Some(TestPostgres::throwaway(pgbin, false)),
                    None => skip(),
                },
            })
            .as_ref()
    }

    /// A throwaway cluster of its own (for tests that stop or restart the
    /// server), stopped and deleted on drop. None (same loud line / same panic
    /// rule) without Debian's binaries. Never uses HANGAR_TEST_POSTGRES.
    pub fn private() -> Option<TestPostgres> {
        match pgbin() {
            Some(pgbin) => Some(TestPostgres::throwaway(pgbin, true)),
            None => skip(),
        }
    }

    /// A new, empty database on this server; its connection string
    /// (`postgres://hangar@/<name>?host=<dir>&port=<port>` for throwaway
    /// clusters; for HANGAR_TEST_POSTGRES, the given string with the database
    /// replaced: if it is a URL replace/add the path, if key=value append
    /// ` dbname=<name>`). Names are unique per process and call:
    /// `hangar_t_<pid>_<counter>`.
    pub fn database(&self) -> String {
        static DATABASES: AtomicU32 = AtomicU32::new(0);
        let n = DATABASES.fetch_add(1, Ordering::Relaxed);
        let name = format!("hangar_t_{}_{n}", std::process::id());
        let (admin, label) = (self.admin.clone(), self.label());
        let sql = format!("CREATE DATABASE {name}");
        // `postgres::Client` runs a tokio runtime of its own, which panics
        // inside a caller's (an async test): talk to the server from a plain
        // thread.
        let create = std::thread::spawn(move || {
            let mut client = connect(&admin, &label);
            if let Err(e) = client.batch_execute(&sql) {
                panic!("{sql} on {label}: {e}");
            }
        });
        if let Err(panic) = create.join() {
            std::panic::resume_unwind(panic);
        }
        match &self.cluster {
            Some(cluster) => cluster.url(&name),
            None => with_database(&self.admin, &name),
        }
    }

    /// Stop the server (fast shutdown: `pg_ctl stop -m fast -w`); panics for an
    /// external server.
    pub fn stop(&self) {
        let cluster = self.cluster("stop");
        cluster.run(&mut cluster.stop_command("fast"));
    }

    /// Start it again on the same socket and port (after `stop`).
    pub fn start(&self) {
        self.cluster("start").start();
    }

    /// Stop and start.
    pub fn restart(&self) {
        self.stop();
        self.start();
    }

    fn throwaway(pgbin: PathBuf, owned: bool) -> TestPostgres {
        static CLUSTERS: AtomicU32 = AtomicU32::new(0);
        let (pid, n) = (std::process::id(), CLUSTERS.fetch_add(1, Ordering::Relaxed));
        let dir = std::env::temp_dir().join(format!("hangar-pg-{pid}-{n}"));
        // The socket is private to `dir`, so a clash only costs a retry of
        // shared memory keys; distinct ports avoid even that.
        let port = (20_000 + (pid % 20_000 + n) % 40_000) as u16;
        let root = is_root();
        // A leftover of an earlier process that had this pid.
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("creating {}: {e}", dir.display());
        }
        if root {
            let chown = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&dir)
                .status();
            assert!(
                chown.as_ref().is_ok_and(|s| s.success()),
                "chown postgres:postgres {}: {chown:?}",
                dir.display()
            );
        }
        let cluster = Cluster {
            watchdog: watchdog(&pgbin, &dir, root),
            dir,
            port,
            pgbin,
            root,
        };
        cluster.run(
            cluster
                .command("initdb")
                .arg("-D")
                .arg(cluster.data())
                .args(["-A", "trust", "-U", "hangar", "--no-sync"])
                .args(["-E", "UTF8", "--locale=C"]),
        );
        cluster.start();
        let admin = cluster.url("postgres");
        TestPostgres {
            cluster: Some(cluster),
            admin,
            owned,
        }
    }

    fn cluster(&self, what: &str) -> &Cluster {
        match &self.cluster {
            Some(cluster) => cluster,
            None => panic!(
                "TestPostgres::{what}: HANGAR_TEST_POSTGRES is an external server; use TestPostgres::private()"
            ),
        }
    }

    fn label(&self) -> String {
        match &self.cluster {
            Some(_) => format!("the test PostgreSQL at {}", self.admin),
            None => "the server of HANGAR_TEST_POSTGRES".to_string(),
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        if let Some(cluster) = &mut self.cluster {
            let _ = cluster.watchdog.kill();
            let _ = cluster.watchdog.wait();
            let _ = cluster.stop_command("immediate").output();
            let _ = std::fs::remove_dir_all(&cluster.dir);
        }
    }
}

impl Cluster {
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn url(&self, dbname: &str) -> String {
        format!(
            "postgres://hangar@/{dbname}?host={}&port={}",
            self.dir.display(),
            self.port
        )
    }

    /// `prog` from the PostgreSQL binaries, as `postgres` when root.
    fn command(&self, prog: &str) -> Command {
        let exe = self.pgbin.join(prog);
        let mut cmd = if self.root {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(exe);
            cmd
        } else {
            Command::new(exe)
        };
        // The caller's directory may be closed to `postgres`.
        cmd.current_dir(&self.dir).stdin(Stdio::null());
        cmd
    }

    fn start(&self) {
        let options = format!(
            "-c listen_addresses='' -k {} -p {} -c fsync=off -c full_page_writes=off -c synchronous_commit=off",
            sh_quote(&self.dir),
            self.port
        );
        self.run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-w")
                .arg("-l")
                .arg(self.dir.join("log"))
                .arg("-o")
                .arg(options)
                .arg("start"),
        );
    }

    fn stop_command(&self, mode: &str) -> Command {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(self.data())
            .args(["-m", mode, "-w", "stop"]);
        cmd
    }

    fn run(&self, cmd: &mut Command) {
        let out = match cmd.output() {
            Ok(out) => out,
            Err(e) => panic!("running {cmd:?}: {e}"),
        };
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            panic!(
                "{cmd:?} failed ({}):\n{}{}\n--- server log (tail) ---\n{tail}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Debian's binaries of the newest PostgreSQL installed.
fn pgbin() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(str::parse::<u32>)
                .collect::<Result<Vec<u32>, _>>()
                .ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// No server: say so loudly, or fail where the tests must run.
fn skip<T>() -> Option<T> {
    assert!(
        !std::env::var("HANGAR_REQUIRE_POSTGRES").is_ok_and(|v| v == "1"),
        "HANGAR_REQUIRE_POSTGRES=1 (as .ci/run sets it) and no HANGAR_TEST_POSTGRES and no /usr/lib/postgresql/*/bin/initdb"
    );
    eprintln!(
        "SKIPPED: PostgreSQL tests: no HANGAR_TEST_POSTGRES and no /usr/lib/postgresql/*/bin/initdb; install Debian's postgresql to run them"
    );
    None
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// A process that outlives a test process killed mid-run (or aborted) and
/// then stops its server and deletes its directory. Its stdio is null so
/// it never holds the test's pipes open (`cargo test` waits for them).
fn watchdog(pgbin: &Path, dir: &Path, root: bool) -> Child {
    let stop = format!(
        "{}{} -D {} -m immediate -w stop",
        if root { "runuser -u postgres -- " } else { "" },
        sh_quote(&pgbin.join("pg_ctl")),
        sh_quote(&dir.join("data"))
    );
    let script = format!(
        "while kill -0 {} 2>/dev/null; do sleep 1; done; {stop}; rm -rf {}",
        std::process::id(),
        sh_quote(dir)
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning the PostgreSQL watchdog: {e}"))
}

/// Retries for a while: the server may still be starting.
fn connect(conninfo: &str, label: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Client::connect(conninfo, NoTls) {
            Ok(client) => return client,
            Err(e) if Instant::now() >= deadline => panic!("connecting to {label}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// `conninfo` naming database `name`: a URL's path replaced (or added), or
/// ` dbname=` appended to key=value pairs (the last one wins).
fn with_database(conninfo: &str, name: &str) -> String {
    let Some(rest) = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|scheme| conninfo.strip_prefix(scheme))
    else {
        return format!("{conninfo} dbname={name}");
    };
    let scheme = &conninfo[..conninfo.len() - rest.len()];
    // The authority ends at the path or the query: neither may appear
    // unescaped before it.
    let path = rest.find(['/', '?']).unwrap_or(rest.len());
    let query = rest[path..].find('?').map_or(rest.len(), |i| path + i);
    format!("{scheme}{}/{name}{}", &rest[..path], &rest[query..])
}

fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_database_replaces_a_urls_path_or_is_appended_to_key_value_pairs() {
        assert_eq!(
            with_database("postgres://u:p@h:5/old?sslmode=disable", "n"),
            "postgres://u:p@h:5/n?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://u@h", "n"), "postgresql://u@h/n");
        assert_eq!(
            with_database("postgres://u@/?host=/tmp/s", "n"),
            "postgres://u@/n?host=/tmp/s"
        );
        assert_eq!(
            with_database("postgres://u@?host=/tmp/s", "n"),
            "postgres://u@/n?host=/tmp/s"
        );
        assert_eq!(
            with_database("host=/tmp/s user=u", "n"),
            "host=/tmp/s user=u dbname=n"
        );
    }
}

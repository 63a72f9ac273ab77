//! The scheduler: jobs scheduled inside handlers, run as handlers, each
//! committed exactly once, in one process and across three `hangar serve`
//! processes on one data dir, with the runner holding a lease killed
//! (SIGKILL) or paused (SIGSTOP) mid-job.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hangar_host::{Host, HostBuilder, JobOp, JobOutcome, RefChat, RetryPolicy};
use hangar_tests::{Serve, cache_dir, guests, hangar_at, patch_all};
use serde_json::Value;

fn host_at(dir: &Path) -> Host {
    hangar_tests::on_current_store(HostBuilder::new(dir).cache_dir(cache_dir()))
        .build(Arc::new(RefChat::open(dir).unwrap()))
        .unwrap()
}

/// The `data` of every record of app `ticker` under `misc:<key>`.
fn records(host: &Host, key: &str) -> Vec<Value> {
    host.records("ticker")
        .unwrap()
        .into_iter()
        .filter(|r| r.associations.iter().any(|a| a.id == key))
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn t(host: &Host, line: &str) -> hangar_host::CommandReport {
    host.command("general", "ops", &format!("/t {line}"))
        .unwrap()
}

#[test]
pub(crate) fn jobs_are_scheduled_in_the_handler_and_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_at(dir.path());
    host.install(guests::TICKER.as_ref()).unwrap();
    assert!(t(&host, "once 3").report.error.is_none());
    // A handler that fails schedules nothing.
    assert!(t(&host, "fail-then-nothing").report.error.is_some());
    let ids: Vec<String> = host
        .jobs("ticker")
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        ids.len(),
        3,
        "three jobs; the startup job comes with the first runner pass: {ids:?}"
    );
    assert!(!ids.contains(&"never".to_string()));

    let runs = host.run_due_jobs("test", 16).unwrap();
    assert_eq!(runs.len(), 4, "{runs:?} {:?}", host.logs("ticker", 50));
    assert!(
        runs.iter().all(|r| r.outcome == JobOutcome::Done),
        "{runs:?}"
    );
    assert_eq!(records(&host, "run").len(), 3);
    assert_eq!(records(&host, "boot").len(), 1);
    assert!(
        host.run_due_jobs("test", 16).unwrap().is_empty(),
        "nothing twice"
    );
    assert!(host.jobs("ticker").unwrap().is_empty());

    // A restart does not schedule the startup job again.
    drop(host);
    let host = host_at(dir.path());
    assert!(host.run_due_jobs("test", 16).unwrap().is_empty());
    assert_eq!(records(&host, "boot").len(), 1);

    // A cron schedule: the first run at its next firing, then the next one.
    let r = t(&host, "cron c1 '* * * * * *'");
    assert!(r.report.error.is_none(), "{:?}", r.report.error);
    let bad = t(&host, "cron c2 'every tuesday'");
    assert!(bad.report.error.unwrap().contains("not a cron schedule"));
    let c1 = || {
        host.jobs("ticker")
            .unwrap()
            .into_iter()
            .find(|j| j.id == "c1")
            .unwrap()
    };
    let first = c1().due;
    assert_eq!(first % 1000, 0, "on a second");
    std::thread::sleep(Duration::from_millis(first.saturating_sub(now()) + 20));
    assert_eq!(host.run_due_jobs("test", 16).unwrap().len(), 1);
    assert!(
        c1().due > first && c1().due % 1000 == 0,
        "advanced to the next firing"
    );
    assert!(t(&host, "cancel c1").report.error.is_none());

    // A run that reschedules its own job: the new schedule stands, and runs.
    t(&host, "again");
    let first = host.run_due_jobs("test", 1).unwrap();
    assert_eq!(first[0].outcome, JobOutcome::Done, "{first:?}");
    assert_eq!(host.jobs("ticker").unwrap().len(), 1, "rescheduled");
    let second = host.run_due_jobs("test", 1).unwrap();
    assert_eq!(second[0].outcome, JobOutcome::Done);
    assert!(host.jobs("ticker").unwrap().is_empty());
    assert_eq!(records(&host, "run").len(), 5);

    // Disabled: jobs wait; enabled again: they run.
    t(&host, "once 1");
    host.disable("ticker").unwrap();
    assert!(host.run_due_jobs("test", 16).unwrap().is_empty());
    assert_eq!(host.jobs("ticker").unwrap().len(), 1);
    host.enable("ticker").unwrap();
    assert_eq!(host.run_due_jobs("test", 16).unwrap().len(), 1);
    assert_eq!(records(&host, "run").len(), 6);
}

#[test]
pub(crate) fn a_failing_job_backs_off_then_is_dead_lettered_and_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"job-max-attempts": 2, "job-backoff-ms": 10}"#,
    )
    .unwrap();
    let host = HostBuilder::with_operator_config(dir.path())
        .unwrap()
        .cache_dir(cache_dir())
        .build(Arc::new(RefChat::open(dir.path()).unwrap()))
        .unwrap();
    host.install(guests::TICKER.as_ref()).unwrap();
    host.run_due_jobs("test", 16).unwrap(); // the startup job
    t(&host, "fail");
    let first = host.run_due_jobs("test", 16).unwrap();
    assert_eq!(first[0].outcome, JobOutcome::Retrying);
    std::thread::sleep(Duration::from_millis(30));
    let second = host.run_due_jobs("test", 16).unwrap();
    assert_eq!(second[0].outcome, JobOutcome::Dead);
    let dead = &host.jobs("ticker").unwrap()[0];
    assert!(dead.dead && dead.attempts == 2, "{dead:?}");
    assert!(dead.last_error.as_deref().unwrap().contains("always fails"));
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        host.run_due_jobs("test", 16).unwrap().is_empty(),
        "a dead job waits"
    );
    assert!(host.job_op("ticker", "failing", JobOp::Retry).unwrap());
    assert_eq!(host.run_due_jobs("test", 16).unwrap().len(), 1);
    assert!(host.job_op("ticker", "failing", JobOp::Cancel).unwrap());
    assert!(host.jobs("ticker").unwrap().is_empty());
    assert!(!host.job_op("ticker", "failing", JobOp::Cancel).unwrap());
    let logs = host.logs("ticker", 50).unwrap();
    assert!(
        logs.iter().any(|l| l.message.contains("dead-lettered")),
        "{logs:?}"
    );
    let p = RetryPolicy::default();
    assert_eq!(p.max_attempts, 5);
}

#[test]
fn a_job_whose_processor_is_gone_is_reported_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_at(dir.path());
    host.install(guests::TICKER.as_ref()).unwrap();
    t(&host, "every r1 1000");
    // Version 0.2.1 renames processor `tick` to `tock`.
    let bytes = std::fs::read(guests::TICKER).unwrap();
    let bytes = patch_all(&bytes, br#""id": "tick""#, br#""id": "tock""#);
    let bytes = patch_all(&bytes, br#""version": "0.2.0""#, br#""version": "0.2.1""#);
    let newer = dir.path().join("ticker-0.2.1.wasm");
    std::fs::write(&newer, bytes).unwrap();
    host.update(&newer).unwrap();
    let runs = host.run_due_jobs("test", 16).unwrap();
    let tick = runs.iter().find(|r| r.job == "r1").unwrap();
    assert_eq!(tick.outcome, JobOutcome::Dead);
    let job = host
        .jobs("ticker")
        .unwrap()
        .into_iter()
        .find(|j| j.id == "r1")
        .unwrap();
    assert!(job.dead);
    assert!(
        job.last_error
            .unwrap()
            .contains("no longer declares processor 'tick'")
    );
}

/// Wait until `done` holds (up to `limit`), saying `what` if it never does.
fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let out = hangar_at(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn three_runners_commit_every_job_exactly_once_through_kill_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A claim lasts the job deadline (6 s) plus a short grace, so another
    // runner takes over a killed or paused one's job soon after. The paused
    // runner resumes later: its run is past its deadline and its fence is
    // stale, and either keeps it from committing.
    std::fs::write(
        d.join("config.json"),
        r#"{"job-lease-ms": 500, "deadlines-ms": {"job": 6000}}"#,
    )
    .unwrap();
    cli(d, &["install", guests::TICKER]);
    let runners: Vec<Serve> = (0..3).map(|_| Serve::start(d)).collect();

    cli(
        d,
        &["command", "--room", "ops", "--user", "ops", "/t once 200"],
    );
    for r in 1..=5 {
        cli(
            d,
            &[
                "command",
                "--room",
                "ops",
                "--user",
                "ops",
                &format!("/t every r{r} 1000"),
            ],
        );
    }
    let host = host_at(d);
    until("200 runs", Duration::from_secs(120), || {
        records(&host, "run").len() >= 200
    });

    // Two slow jobs: the runner holding each is killed, or paused, mid-job.
    cli(
        d,
        &[
            "command",
            "--room",
            "ops",
            "--user",
            "ops",
            "/t once 2 4000",
        ],
    );
    // (ids once-0 and once-1 again: new jobs replacing the finished ones)
    let holder = |id: &str| -> Option<u32> {
        host.jobs("ticker")
            .unwrap()
            .into_iter()
            .find(|j| j.id == id)
            .and_then(|j| {
                j.lease_owner
                    .and_then(|o| o.strip_prefix("serve:").and_then(|p| p.parse().ok()))
            })
    };
    until("both slow jobs claimed", Duration::from_secs(30), || {
        holder("once-0").is_some() && holder("once-1").is_some()
    });
    let (a, b) = (holder("once-0").unwrap(), holder("once-1").unwrap());
    let find = |pid: u32| runners.iter().find(|s| s.pid() == pid).unwrap();
    find(a).signal("-KILL");
    if b != a {
        find(b).signal("-STOP");
    }
    // The others take both over once the leases run out, and commit.
    until(
        "the interrupted jobs' runs",
        Duration::from_secs(60),
        || records(&host, "run").len() >= 202,
    );
    if b != a {
        find(b).signal("-CONT");
        // The resumed runner's run ends with its fence lost: nothing kept.
        std::thread::sleep(Duration::from_secs(6));
    }
    drop(runners);

    // Every process restarts in the middle of a batch: SIGTERM (each
    // finishes the run in hand), three new ones finish the rest. No job is
    // lost, none runs twice.
    let runners: Vec<Serve> = (0..3).map(|_| Serve::start(d)).collect();
    cli(
        d,
        &[
            "command",
            "--room",
            "ops",
            "--user",
            "ops",
            "/t batch late 150",
        ],
    );
    until("the batch under way", Duration::from_secs(60), || {
        records(&host, "run").len() >= 212
    });
    for r in runners {
        assert!(r.stop().success(), "serve exits 0 after SIGTERM");
    }
    let _fresh: Vec<Serve> = (0..3).map(|_| Serve::start(d)).collect();
    until(
        "the batch done after the restart",
        Duration::from_secs(120),
        || records(&host, "run").len() >= 352,
    );
    drop(_fresh);

    let runs = records(&host, "run");
    let mut per_job: BTreeMap<String, usize> = BTreeMap::new();
    for r in &runs {
        *per_job
            .entry(r["job"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(
        runs.len(),
        352,
        "200 jobs, the two interrupted ones and the 150 of the restart, each once"
    );
    assert_eq!(per_job.len(), 350);
    assert!(
        per_job.iter().all(|(id, n)| *n
            == if id == "once-0" || id == "once-1" {
                2
            } else {
                1
            }),
        "{per_job:?}"
    );
    // Recurring jobs: never two runs of one occurrence.
    let mut seen = std::collections::BTreeSet::new();
    for tick in records(&host, "tick") {
        let key = (
            tick["job"].as_str().unwrap().to_string(),
            tick["due"].as_u64().unwrap(),
        );
        assert!(seen.insert(key.clone()), "occurrence {key:?} ran twice");
    }
    for r in 1..=5 {
        assert!(
            seen.iter().any(|(job, _)| *job == format!("r{r}")),
            "recurring job r{r} ran"
        );
    }
    // The store is sound.
    let db = rusqlite::Connection::open(d.join("apps/ticker/store.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

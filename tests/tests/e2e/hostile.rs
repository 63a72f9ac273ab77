//! Hostile guests: whatever an app does, it fails only its own call, in
//! bounded time, with nothing partial kept, a clear error in the report
//! and the logs; the host and the other apps carry on.

use std::time::{Duration, Instant};

use hangar_host::{
    AppReport, ErrorDisable, EventClass, FailureKind, Host, Limits, Outcome, SendStatus, Status,
};
use hangar_tests::{guests, host_configured, texts};

/// The hostile app's deadline where it is meant to overrun.
const DEADLINE: Duration = Duration::from_millis(300);
/// Its deadline where it does legitimate (if heavy) work: one a debug build
/// on a loaded machine cannot miss. Other apps keep the generous defaults.
const ROOMY: Duration = Duration::from_secs(20);

fn hostile_host() -> (
    tempfile::TempDir,
    Host,
    std::sync::Arc<hangar_host::RefChat>,
) {
    hostile_host_with(DEADLINE)
}

fn hostile_host_with(
    deadline: Duration,
) -> (
    tempfile::TempDir,
    Host,
    std::sync::Arc<hangar_host::RefChat>,
) {
    host_configured(&[guests::HOSTILE, guests::KARMA], |b| {
        b.app_deadline("hostile", EventClass::PostMessage, deadline)
            .app_deadline("hostile", EventClass::PreMessage, deadline)
            .app_deadline("hostile", EventClass::Command, deadline)
            // karma, doing ordinary work, must never be the one timing out.
            .deadline(EventClass::PostMessage, ROOMY)
            .deadline(EventClass::PreMessage, ROOMY)
            .deadline(EventClass::Command, ROOMY)
            .storage_limits(Limits {
                max_storage_bytes: 512 * 1024,
                ..Limits::default()
            })
            // These tests trip the same app repeatedly on purpose.
            .error_disable(ErrorDisable {
                max_faults: 1000,
                window: Duration::from_secs(60),
            })
    })
}

/// Send `@dave++ !<behaviour>`: hostile misbehaves, karma must still count.
fn provoke(
    behaviour: &str,
) -> (
    Host,
    AppReport,
    Took,
    tempfile::TempDir,
    std::sync::Arc<hangar_host::RefChat>,
) {
    let deadline = if ROOMY_BEHAVIOURS.contains(&behaviour) {
        ROOMY
    } else {
        DEADLINE
    };
    let (dir, host, chat) = hostile_host_with(deadline);
    let start = Instant::now();
    let report = host
        .send_message("general", "carol", &format!("@dave++ !{behaviour}"))
        .unwrap();
    let took = Took {
        elapsed: start.elapsed(),
        deadline,
    };
    assert_eq!(report.status, SendStatus::Sent);
    let karma = report.apps.iter().find(|a| a.app == "karma").unwrap();
    assert_eq!(
        karma.outcome,
        Outcome::Ok,
        "karma unaffected: {:?}",
        karma.error
    );
    let reply = host.command("general", "alice", "/karma dave").unwrap();
    assert_eq!(
        texts(&reply.effects),
        vec!["dave has 1 karma"],
        "karma's write committed"
    );
    let hostile = report
        .apps
        .iter()
        .find(|a| a.app == "hostile" && a.handler == "execute-post-message-sent")
        .unwrap()
        .clone();
    (host, hostile, took, dir, chat)
}

fn assert_nothing_partial(host: &Host, chat: &hangar_host::RefChat) {
    assert!(
        host.records("hostile").unwrap().is_empty(),
        "the failed handler's write was rolled back"
    );
    let history = chat.history("general", 50).unwrap();
    assert!(
        history
            .iter()
            .all(|m| !m.message.text.starts_with("partial effect")),
        "no effect of a failed handler was delivered"
    );
}

fn assert_logged(host: &Host, needle: &str) {
    let logs = host.logs("hostile", 50).unwrap();
    assert!(
        logs.iter()
            .any(|l| l.source == "host" && l.level == "error" && l.message.contains(needle)),
        "no host error log containing {needle:?}: {logs:?}"
    );
}

/// Behaviours that do legitimate work (they end on their own, with an
/// error or Ok): they get a deadline they cannot miss.
const ROOMY_BEHAVIOURS: [&str; 6] = [
    "giant",
    "reserve-bomb",
    "vec-bomb",
    "fill",
    "recurse",
    "panic",
];

/// How long a provoked dispatch took, under which deadline.
struct Took {
    elapsed: Duration,
    deadline: Duration,
}

fn bounded(took: Took) {
    assert!(
        took.elapsed < took.deadline * 3 + Duration::from_secs(2),
        "took {:?} with a {:?} deadline",
        took.elapsed,
        took.deadline
    );
}

#[test]
fn infinite_loop_times_out() {
    let (host, r, took, _d, chat) = provoke("loop");
    assert_eq!(r.failure, Some(FailureKind::Timeout), "{:?}", r.error);
    assert!(r.error.as_deref().unwrap().contains("deadline of 300 ms"));
    bounded(took);
    assert_nothing_partial(&host, &chat);
    assert_logged(&host, "deadline");
}

#[test]
fn busy_loop_calling_the_host_times_out() {
    let (host, r, took, _d, chat) = provoke("busy");
    assert_eq!(r.failure, Some(FailureKind::Timeout), "{:?}", r.error);
    bounded(took);
    assert_nothing_partial(&host, &chat);
}

#[test]
fn a_long_sleep_ends_at_the_deadline() {
    let (host, r, took, _d, chat) = provoke("sleep");
    assert_eq!(r.failure, Some(FailureKind::Timeout), "{:?}", r.error);
    bounded(took);
    assert_nothing_partial(&host, &chat);
}

#[test]
fn vec_memory_bomb_hits_the_cap() {
    let (host, r, took, _d, chat) = provoke("vec-bomb");
    assert_eq!(r.failure, Some(FailureKind::OutOfMemory), "{:?}", r.error);
    assert!(r.error.as_deref().unwrap().contains("memory cap"));
    bounded(took);
    assert_nothing_partial(&host, &chat);
    assert_logged(&host, "memory cap");
}

#[test]
fn try_reserve_memory_bomb_is_an_error_the_app_handles() {
    let (host, r, took, _d, chat) = provoke("reserve-bomb");
    assert_eq!(r.failure, Some(FailureKind::AppError), "{:?}", r.error);
    assert!(r.error.as_deref().unwrap().contains("out of memory after"));
    bounded(took);
    assert_nothing_partial(&host, &chat);
}

#[test]
fn deep_recursion_is_contained() {
    let (host, r, took, _d, chat) = provoke("recurse");
    assert_eq!(r.failure, Some(FailureKind::Trap), "{:?}", r.error);
    assert!(
        r.error.as_deref().unwrap().contains("call stack exhausted"),
        "{:?}",
        r.error
    );
    bounded(took);
    assert_nothing_partial(&host, &chat);
}

#[test]
fn panic_is_a_trap_with_its_message() {
    let (host, r, took, _d, chat) = provoke("panic");
    assert_eq!(r.failure, Some(FailureKind::Trap));
    let first = r
        .error
        .as_deref()
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(first.contains("hostile panic"), "{first}");
    bounded(took);
    assert_nothing_partial(&host, &chat);
    assert_logged(&host, "hostile panic");
}

#[test]
fn quota_filler_gets_a_quota_error_and_keeps_nothing() {
    let (host, r, took, dir, chat) = provoke("fill");
    assert_eq!(r.failure, Some(FailureKind::AppError));
    assert!(
        r.error.as_deref().unwrap().contains("quota"),
        "{:?}",
        r.error
    );
    bounded(took);
    assert_nothing_partial(&host, &chat);
    let size = std::fs::metadata(dir.path().join("apps/hostile/store.db"))
        .unwrap()
        .len();
    assert!(size <= 600 * 1024, "store is {size} bytes");
    // Still usable after the quota error.
    assert!(
        host.command("general", "a", "/h nothing")
            .unwrap()
            .report
            .error
            .is_none()
    );
}

#[test]
fn log_flood_is_truncated_and_rate_limited() {
    let (host, r, took, _d, _chat) = provoke("flood");
    // 100k host calls may or may not finish within the 300 ms deadline on a
    // loaded machine; either way the call fails and the log stays bounded.
    assert!(
        matches!(
            r.failure,
            Some(FailureKind::AppError | FailureKind::Timeout)
        ),
        "{:?}",
        r.failure
    );
    bounded(took);
    let logs = host.logs("hostile", 100_000).unwrap();
    let app_lines = logs.iter().filter(|l| l.source == "app").count();
    assert!(app_lines <= 101, "{app_lines} app lines kept");
    assert!(
        logs.iter().any(|l| l.message.contains("log lines dropped")),
        "the drop is said"
    );
}

#[test]
fn giant_arguments_to_every_import_are_refused() {
    let (host, r, took, _d, _chat) = provoke("giant");
    assert_eq!(r.outcome, Outcome::Ok, "{:?}", r.error);
    bounded(took);
    let logs = host.logs("hostile", 100).unwrap();
    assert!(
        logs.iter()
            .any(|l| l.message == "giant arguments refused: 9 of 9"),
        "{logs:?}"
    );
    assert!(
        logs.iter().all(|l| l.message.len() < 8 * 1024),
        "log lines are truncated"
    );
}

#[test]
fn an_oversized_modified_message_is_refused() {
    let (_d, host, chat) = hostile_host();
    let report = host.send_message("general", "bob", "please ?grow").unwrap();
    assert_eq!(report.status, SendStatus::Sent);
    assert_eq!(
        report.message.text, "please ?grow",
        "the original message went out"
    );
    let m = report
        .apps
        .iter()
        .find(|a| a.handler == "execute-pre-message-sent-modify")
        .unwrap();
    assert_eq!(m.outcome, Outcome::Error);
    assert!(
        m.error
            .as_deref()
            .unwrap()
            .contains("larger than the limit")
    );
    assert_eq!(
        chat.history("general", 1).unwrap()[0].message.text,
        "please ?grow"
    );
}

#[test]
fn fail_open_and_fail_closed_pre_message_policies() {
    let (_d, host, chat) = hostile_host();
    let open = host
        .send_message("general", "bob", "hi ?slowmodify")
        .unwrap();
    assert_eq!(open.status, SendStatus::Sent, "fail open by default");
    assert_eq!(chat.history("general", 5).unwrap().len(), 1);

    let (_d2, host, chat) = host_configured(&[guests::HOSTILE], |b| {
        b.deadline(EventClass::PreMessage, DEADLINE)
            .fail_closed(EventClass::PreMessage)
    });
    let closed = host
        .send_message("general", "bob", "hi ?slowmodify")
        .unwrap();
    assert_eq!(closed.status, SendStatus::Prevented);
    assert_eq!(closed.prevented_by.as_deref(), Some("hostile"));
    assert!(
        closed.reason.as_deref().unwrap().contains("fail-closed"),
        "{:?}",
        closed.reason
    );
    assert!(chat.history("general", 5).unwrap().is_empty());
}

#[test]
fn repeated_faults_disable_the_app_until_reenabled() {
    let (_d, host, _chat) = host_configured(&[guests::HOSTILE, guests::KARMA], |b| {
        b.error_disable(ErrorDisable {
            max_faults: 3,
            window: Duration::from_secs(60),
        })
    });
    for _ in 0..3 {
        host.send_message("general", "x", "!panic").unwrap();
    }
    let info = host.info("hostile").unwrap();
    assert_eq!(info.summary.status, Status::ErrorDisabled);
    let reason = info.summary.status_reason.unwrap();
    assert!(
        reason.contains("3 faults") && reason.contains("hostile panic"),
        "{reason}"
    );
    let r = host.send_message("general", "x", "@dave++ !panic").unwrap();
    assert!(
        r.apps.iter().all(|a| a.app != "hostile"),
        "no events while disabled"
    );
    assert!(
        r.apps
            .iter()
            .any(|a| a.app == "karma" && a.outcome == Outcome::Ok)
    );
    host.enable("hostile").unwrap();
    let r = host.send_message("general", "x", "hello").unwrap();
    assert!(
        r.apps
            .iter()
            .any(|a| a.app == "hostile" && a.outcome == Outcome::Ok)
    );
}

#[test]
fn a_locked_store_cannot_keep_a_call_past_its_deadline() {
    // Here karma is the app meant to overrun: it gets the short deadline.
    let (dir, host, _chat) = host_configured(&[guests::HOSTILE, guests::KARMA], |b| {
        b.app_deadline("karma", EventClass::PostMessage, DEADLINE)
    });
    // Another process holds the write lock on karma's store.
    let conn = rusqlite_lock(&dir.path().join("apps/karma/store.db"));
    let start = Instant::now();
    let r = host.send_message("general", "carol", "@dave++").unwrap();
    let took = start.elapsed();
    let mut conn = conn;
    let _ = conn.kill();
    let _ = conn.wait();
    let karma = r.apps.iter().find(|a| a.app == "karma").unwrap();
    assert_eq!(karma.outcome, Outcome::Error);
    // The lock wait ends at the deadline: the handler's error comes back
    // just before it (app error) or just after (timeout).
    assert!(
        matches!(
            karma.failure,
            Some(FailureKind::AppError | FailureKind::Timeout)
        ),
        "{:?}",
        karma.failure
    );
    assert!(
        karma.error.as_deref().unwrap().contains("locked"),
        "{:?}",
        karma.error
    );
    assert!(
        took < DEADLINE * 2 + Duration::from_secs(1),
        "took {took:?}"
    );
}

/// Take the write lock on a SQLite file from a separate connection, the way
/// another host process would.
fn rusqlite_lock(path: &std::path::Path) -> std::process::Child {
    let child = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(30)",
        ])
        .arg(path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 to hold a lock");
    let mut child = child;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

/// Runs every behaviour many times and checks what must hold each time;
/// prints the table `docs/reliability.md` quotes
/// (`cargo test -p hangar-tests --test e2e reliability -- --nocapture`).
/// Behaviours meant to overrun get the short deadline, the others one
/// they cannot miss on a loaded machine (two hosts).
#[test]
fn reliability_table() {
    let short = hostile_host();
    let roomy = hostile_host_with(ROOMY);
    let cases: [(&str, &[FailureKind], usize); 9] = [
        ("loop", &[FailureKind::Timeout], 8),
        ("sleep", &[FailureKind::Timeout], 8),
        ("busy", &[FailureKind::Timeout], 8),
        ("vec-bomb", &[FailureKind::OutOfMemory], 15),
        ("reserve-bomb", &[FailureKind::AppError], 15),
        ("recurse", &[FailureKind::Trap], 15),
        ("panic", &[FailureKind::Trap], 15),
        ("fill", &[FailureKind::AppError], 15),
        ("flood", &[FailureKind::AppError, FailureKind::Timeout], 15),
    ];
    let mut expected_karma = [0, 0];
    let mut table = String::from(
        "| behaviour | runs | failure kind | max ms | other app ok | partial writes/messages kept |\n|---|---|---|---|---|---|\n",
    );
    for (behaviour, kinds, runs) in cases.iter() {
        let k = usize::from(ROOMY_BEHAVIOURS.contains(behaviour));
        let (_, host, chat) = if k == 1 { &roomy } else { &short };
        let mut max = Duration::ZERO;
        for _ in 0..*runs {
            let start = Instant::now();
            let r = host
                .send_message("general", "carol", &format!("@dave++ !{behaviour}"))
                .unwrap();
            max = max.max(start.elapsed());
            expected_karma[k] += 1;
            let h = r
                .apps
                .iter()
                .find(|a| a.app == "hostile" && a.handler == "execute-post-message-sent")
                .unwrap();
            assert!(
                kinds.contains(&h.failure.unwrap()),
                "{behaviour}: {:?}",
                h.failure
            );
            assert!(
                r.apps
                    .iter()
                    .any(|a| a.app == "karma" && a.outcome == Outcome::Ok),
                "{behaviour}: karma failed"
            );
        }
        assert!(
            host.records("hostile").unwrap().is_empty(),
            "{behaviour} left a partial write"
        );
        assert!(
            chat.history("general", 10_000)
                .unwrap()
                .iter()
                .all(|m| !m.message.text.starts_with("partial effect"))
        );
        let kinds: Vec<String> = kinds.iter().map(|k| format!("{k:?}")).collect();
        table.push_str(&format!(
            "| {behaviour} | {runs} | {} | {} | {runs}/{runs} | 0 |\n",
            kinds.join(" or "),
            max.as_millis()
        ));
    }
    for (k, (_, host, _)) in [&short, &roomy].into_iter().enumerate() {
        let reply = host.command("general", "alice", "/karma dave").unwrap();
        assert_eq!(
            texts(&reply.effects),
            vec![format!("dave has {} karma", expected_karma[k])]
        );
    }
    println!("{table}");
}

#[test]
fn a_per_app_deadline_overrides_the_class_default() {
    let (_d, host, _chat) = host_configured(&[guests::HOSTILE, guests::KARMA], |b| {
        b.app_deadline(
            "hostile",
            EventClass::PostMessage,
            Duration::from_millis(100),
        )
    });
    let r = host
        .send_message("general", "carol", "@dave++ !loop")
        .unwrap();
    let h = r
        .apps
        .iter()
        .find(|a| a.app == "hostile" && a.handler == "execute-post-message-sent")
        .unwrap();
    assert_eq!(h.failure, Some(FailureKind::Timeout));
    assert!(
        h.error.as_deref().unwrap().contains("deadline of 100 ms"),
        "{:?}",
        h.error
    );
    assert_eq!(
        host.config().deadline("karma", EventClass::PostMessage),
        Duration::from_secs(2)
    );
}

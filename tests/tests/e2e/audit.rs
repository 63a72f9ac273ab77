//! The outside audit's findings (issue 10), each replayed through a real
//! guest against the real host: contained, with a clear error, nothing
//! partial kept, no other app harmed.

use std::path::Path;
use std::time::{Duration, Instant};

use hangar_host::{
    ErrorDisable, EventClass, FailureKind, Host, InstanceLimits, Limits, Outcome, SendStatus,
    Status,
};
use hangar_tests::{guests, hangar_at, host_configured, patched, probe, texts};
use serde_json::json;

/// Hostile beside karma, with a 512 KiB quota and deadlines no legitimate
/// call can miss on a loaded machine.
fn host(
    apps: &[&str],
    limits: Limits,
) -> (
    tempfile::TempDir,
    Host,
    std::sync::Arc<hangar_host::RefChat>,
) {
    let (dir, host, chat) = host_configured(apps, |b| {
        b.deadline(EventClass::PostMessage, Duration::from_secs(20))
            .deadline(EventClass::PreMessage, Duration::from_secs(20))
            .deadline(EventClass::Command, Duration::from_secs(20))
            .storage_limits(limits)
    });
    chat.ensure("general", "carol").unwrap();
    (dir, host, chat)
}

fn small_quota() -> Limits {
    Limits {
        max_storage_bytes: 512 * 1024,
        ..Limits::default()
    }
}

fn hostile_report(host: &Host, behaviour: &str) -> hangar_host::AppReport {
    let r = host
        .send_message("general", "carol", &format!("@dave++ !{behaviour}"))
        .unwrap();
    assert!(
        r.apps
            .iter()
            .any(|a| a.app == "karma" && a.outcome == Outcome::Ok),
        "karma unharmed: {r:?}"
    );
    r.apps
        .into_iter()
        .find(|a| a.app == "hostile" && a.handler == "execute-post-message-sent")
        .unwrap()
}

fn no_partial_effects(chat: &hangar_host::RefChat) {
    assert!(
        chat.history("general", 1000)
            .unwrap()
            .iter()
            .all(|m| !m.message.text.starts_with("partial effect")),
        "a failed handler's message was delivered"
    );
}

#[test]
fn after_a_quota_error_nothing_of_the_handler_is_kept() {
    let (_d, host, chat) = host(&[guests::HOSTILE, guests::KARMA], small_quota());
    // Writes once more after quota-exceeded, then fails.
    let r = hostile_report(&host, "quota-then-write");
    assert_eq!(r.failure, Some(FailureKind::AppError), "{:?}", r.error);
    assert!(
        host.records("hostile").unwrap().is_empty(),
        "a write survived"
    );
    let logs = host.logs("hostile", 100).unwrap();
    assert!(
        logs.iter()
            .any(|l| l.message.contains("write after the quota error: Err(")),
        "the later write must fail: {logs:?}"
    );
    // Writes once more, then returns Ok: the commit fails, nothing kept.
    let r = hostile_report(&host, "quota-then-ok");
    assert_eq!(r.failure, Some(FailureKind::Host), "{:?}", r.error);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("ended this handler's transaction"),
        "{:?}",
        r.error
    );
    assert!(
        host.records("hostile").unwrap().is_empty(),
        "a write survived"
    );
    no_partial_effects(&chat);
}

#[test]
fn effects_one_call_can_queue_are_capped() {
    let (_d, host, _chat) = host(&[guests::HOSTILE, guests::KARMA], small_quota());
    let r = host.command("general", "carol", "/h spam").unwrap();
    assert_eq!(r.report.outcome, Outcome::Ok, "{:?}", r.report.error);
    let bytes: usize = texts(&r.effects).iter().map(String::len).sum();
    let limit = host.config().max_effect_bytes_per_call;
    assert!(bytes <= limit, "{bytes} bytes of effects delivered");
    assert!(r.effects.len() <= host.config().max_effects_per_call);
    assert!(
        r.effects.len() > 1,
        "the first messages within the cap went out"
    );
    let logs = host.logs("hostile", 10).unwrap();
    assert!(
        logs.iter()
            .any(|l| l.message.contains("refused at") && l.message.contains("limit per call")),
        "{logs:?}"
    );
}

#[test]
fn app_strings_are_bounded_where_they_enter_the_host() {
    let (_d, host, _chat) = host(&[guests::HOSTILE, guests::KARMA], small_quota());
    let r = hostile_report(&host, "long-error");
    assert_eq!(r.failure, Some(FailureKind::AppError));
    let error = r.error.unwrap();
    assert!(error.len() < 8 * 1024, "{} bytes kept", error.len());
    assert!(error.contains("bytes cut"), "the cut is said");
    assert!(
        host.logs("hostile", 100)
            .unwrap()
            .iter()
            .all(|l| l.message.len() < 16 * 1024),
        "a log line kept the whole error"
    );
    // A 20 MiB enable refusal becomes a bounded status reason.
    host.command("general", "carol", "/h arm-enable").unwrap();
    host.disable("hostile").unwrap();
    assert!(host.enable("hostile").is_err());
    let listed = host.list().unwrap();
    let hostile = listed.iter().find(|a| a.id == "hostile").unwrap();
    assert_eq!(hostile.status, Status::Disabled);
    let reason = hostile.status_reason.as_deref().unwrap();
    assert!(reason.len() < 8 * 1024, "{} bytes of reason", reason.len());
}

#[test]
fn huge_log_lines_do_not_keep_their_allocation() {
    // In a `hangar` process of its own, so its peak memory is its own.
    let dir = tempfile::tempdir().unwrap();
    let out = hangar_at(dir.path())
        .args(["install", guests::HOSTILE])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let script = "import resource, subprocess, sys\n\
                  r = subprocess.run(sys.argv[1:], capture_output=True)\n\
                  assert r.returncode == 0, r\n\
                  print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(hangar_tests::hangar_bin())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["send", "--room", "general", "--user", "carol", "!biglogs"])
        .output()
        .expect("python3 runs the hangar process");
    assert!(out.status.success(), "{out:?}");
    let peak_kib: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    // 100 lines of 8 MiB were 800 MiB held before the fix; the guest's own
    // memory is capped at 64 MiB.
    assert!(peak_kib < 400 * 1024, "peak RSS {peak_kib} KiB");
}

#[test]
fn an_oversized_extend_is_charged_to_its_app_and_harms_no_other() {
    let apps = [guests::HOSTILE, guests::WORD_FILTER, guests::KARMA];
    let (_d, host, _chat) = host(&apps, small_quota());
    let r = host
        .send_message("general", "carol", "what the heck ?fatextend")
        .unwrap();
    assert_eq!(r.status, SendStatus::Sent);
    let extend = r
        .apps
        .iter()
        .find(|a| a.app == "hostile" && a.handler == "execute-pre-message-sent-extend")
        .unwrap();
    assert_eq!(extend.failure, Some(FailureKind::AppError));
    assert!(extend.error.as_deref().unwrap().contains("none were added"));
    assert!(
        r.message.text.contains("****"),
        "word-filter still masked: {}",
        r.message.text
    );
    assert!(
        r.message
            .custom_fields
            .keys()
            .all(|k| !k.starts_with("fat"))
    );
    assert!(
        r.apps
            .iter()
            .filter(|a| a.app == "word-filter")
            .all(|a| a.failure.is_none()),
        "{r:?}"
    );
    // Failing closed, the block is charged to the app that caused it.
    let (_d, host, _chat) = host_configured(&apps, |b| b.fail_closed(EventClass::PreMessage));
    let r = host
        .send_message("general", "carol", "what the heck ?fatextend")
        .unwrap();
    assert_eq!(r.prevented_by.as_deref(), Some("hostile"));
}

#[test]
fn a_command_another_app_owns_is_refused_naming_it() {
    let (dir, host, _chat) = host(&[guests::PROBE], Limits::default());
    let copy = dir.path().join("proba.wasm");
    std::fs::write(
        &copy,
        patched(guests::PROBE, r#""id": "probe""#, r#""id": "proba""#),
    )
    .unwrap();
    let err = host.install(&copy).unwrap_err().to_string();
    assert!(err.contains("'/p'") && err.contains("'probe'"), "{err}");
    assert_eq!(host.list().unwrap().len(), 1);
    // Disabling the owner does not free its command for anyone else.
    host.disable("probe").unwrap();
    assert!(host.install(&copy).is_err());
    assert!(host.command("general", "carol", "/p read x").is_err());
}

#[test]
fn events_imply_their_powers_and_say_so() {
    // API 0.1 builds: from 0.2 on the manifest must ask (see `declared`).
    let fixture = |name: &str| format!("{}/fixtures/0.1.0/{name}.wasm", env!("CARGO_MANIFEST_DIR"));
    let (karma, filter) = (fixture("karma"), fixture("word_filter"));
    let (_d, host, _chat) = host(&[&karma, &filter], Limits::default());
    let list = host.list().unwrap();
    let implied = |id: &str| {
        list.iter()
            .find(|a| a.id == id)
            .unwrap()
            .implied_permissions
            .clone()
    };
    assert_eq!(implied("karma"), vec!["message.read"]);
    assert_eq!(implied("word-filter"), vec!["message.intercept"]);
}

#[test]
fn writes_and_results_per_call_are_bounded() {
    let limits = Limits {
        max_records_per_call: 100,
        max_result_bytes: 100 * 1024,
        ..small_quota()
    };
    let (_d, host, _chat) = host(&[guests::HOSTILE, guests::KARMA, guests::PROBE], limits);
    let r = host.command("general", "carol", "/h manycreates").unwrap();
    assert_eq!(r.report.failure, Some(FailureKind::AppError));
    assert!(
        r.report
            .error
            .as_deref()
            .unwrap()
            .contains("more than 100 records"),
        "{:?}",
        r.report.error
    );
    assert!(host.records("hostile").unwrap().is_empty());
    // Five records of 30 KB each match; one read may return 100 KiB.
    let data = format!(r#"{{"s":"{}"}}"#, "x".repeat(30_000));
    for _ in 0..5 {
        assert!(probe(&host, &format!("/p create {data} misc:k"))["ok"].is_string());
    }
    let read = probe(&host, "/p read-by misc:k");
    assert!(
        read["err"]
            .as_str()
            .unwrap()
            .contains("narrow the associations"),
        "{read}"
    );
}

/// The hooks app's current `label` setting.
fn label_of(host: &Host) -> serde_json::Value {
    host.settings("hooks")
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "label")
        .unwrap()
        .1
}

#[test]
fn a_failed_setting_hook_leaves_the_old_value() {
    let (_d, host, _chat) = host(&[guests::HOOKS], Limits::default());
    host.set_setting("hooks", "label", json!("fancy")).unwrap();
    let err = host
        .set_setting("hooks", "label", json!("explode"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("keeps its previous value"), "{err}");
    let label = label_of(&host);
    assert_eq!(label, json!("fancy"));
    // A first change that fails falls back to the manifest default.
    let (_d, host, _chat) = self::host(&[guests::HOOKS], Limits::default());
    assert!(
        host.set_setting("hooks", "label", json!("explode"))
            .is_err()
    );
    let label = label_of(&host);
    assert_eq!(label, json!("plain"));
}

#[test]
fn an_invalid_app_can_be_uninstalled_and_reinstalled() {
    let (dir, package) = hangar_tests::karma_installed();
    std::fs::write(&package, b"garbage").unwrap();
    let (host, _chat) = hangar_tests::host_at(dir.path());
    assert_eq!(host.list().unwrap()[0].status, Status::Invalid);
    let err = host.update(guests::KARMA.as_ref()).unwrap_err().to_string();
    assert!(err.contains("uninstall"), "{err}");
    host.uninstall("karma").unwrap();
    host.install(guests::KARMA.as_ref()).unwrap();
    assert_eq!(host.list().unwrap()[0].status, Status::Enabled);
}

#[test]
fn a_chatty_stderr_does_not_trap() {
    let (_d, host, _chat) = host(&[guests::HOSTILE, guests::KARMA], small_quota());
    let r = hostile_report(&host, "stderr");
    assert_eq!(r.outcome, Outcome::Ok, "{:?}", r.error);
}

#[test]
fn a_full_instance_pool_is_not_charged_to_the_app() {
    let (_d, host, chat) = host_configured(&[guests::HOSTILE, guests::KARMA], |b| {
        b.instance_limits(InstanceLimits {
            max_concurrent_instances: 1,
            ..InstanceLimits::default()
        })
        .app_deadline("hostile", EventClass::Command, Duration::from_secs(3))
        .error_disable(ErrorDisable {
            max_faults: 2,
            window: Duration::from_secs(60),
        })
    });
    chat.ensure("general", "carol").unwrap();
    let sleeper = {
        let host = host.clone();
        std::thread::spawn(move || host.command("general", "carol", "/h sleep"))
    };
    let start = Instant::now();
    let mut busy = 0;
    while busy < 3 && start.elapsed() < Duration::from_secs(2) {
        let r = host.send_message("general", "carol", "@dave++").unwrap();
        let karma = r.apps.iter().find(|a| a.app == "karma").unwrap();
        if karma.failure == Some(FailureKind::Host) {
            assert!(
                karma.error.as_deref().unwrap().contains("busy"),
                "{karma:?}"
            );
            busy += 1;
        }
    }
    sleeper.join().unwrap().unwrap();
    assert!(busy >= 3, "the pool was never full ({busy})");
    let karma = host
        .list()
        .unwrap()
        .into_iter()
        .find(|a| a.id == "karma")
        .unwrap();
    assert_eq!(karma.status, Status::Enabled, "{karma:?}");
}

#[test]
fn clocks_are_coarse_unless_the_operator_opts_in() {
    let (_d, host, _chat) = host(&[guests::PROBE], Limits::default());
    let t = &probe(&host, "/p clock")["ok"];
    assert_eq!(t["wall_ns"].as_u64().unwrap() % 1_000_000, 0, "{t}");
    assert_eq!(t["tick_ns"].as_u64().unwrap() % 1_000_000, 0, "{t}");
}

/// `hangar` on `dir` with `args`; its stdout.
fn run(dir: &Path, args: &[&str]) -> String {
    let out = hangar_at(dir).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn faults_and_log_volume_are_counted_over_every_process() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"error-disable": {"max-faults": 3, "window-ms": 600000}, "log-lines-per-minute": 30}"#,
    )
    .unwrap();
    run(dir.path(), &["install", guests::HOSTILE]);
    let send = |text: &str| {
        run(
            dir.path(),
            &["send", "--room", "general", "--user", "carol", text],
        )
    };
    // 3 x 40 lines, one process each: at most 30 kept, and it is said.
    for _ in 0..3 {
        send("!log40");
    }
    let logs: Vec<serde_json::Value> =
        run(dir.path(), &["logs", "hostile", "--lines", "500", "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let app_lines = logs.iter().filter(|l| l["source"] == "app").count();
    assert!(app_lines <= 30, "{app_lines} app lines kept");
    assert!(logs.iter().any(|l| {
        l["message"]
            .as_str()
            .unwrap()
            .contains("counted over every process")
    }));
    // 3 traps in 3 processes disable the app.
    for _ in 0..3 {
        send("!panic");
    }
    let list: serde_json::Value =
        serde_json::from_str(&run(dir.path(), &["list", "--json"])).unwrap();
    assert_eq!(list[0]["status"], "error-disabled", "{list}");
}

#[test]
fn app_text_reaches_the_terminal_escaped() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &["install", guests::HOSTILE]);
    run(
        dir.path(),
        &["send", "--room", "general", "--user", "carol", "!ansi"],
    );
    let text = run(dir.path(), &["logs", "hostile"]);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(
        text.lines().all(|l| !l.starts_with("forged host line")),
        "{text:?}"
    );
    let json = run(dir.path(), &["logs", "hostile", "--json"]);
    assert!(json.lines().any(|l| {
        serde_json::from_str::<serde_json::Value>(l).unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("\u{1b}[31m")
    }));
}

#[test]
fn update_names_its_target_and_refuses_a_downgrade() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &["install", guests::KARMA]);
    let newer = dir.path().join("karma-0.2.0.wasm");
    std::fs::write(
        &newer,
        patched(
            guests::KARMA,
            r#""version": "0.1.0""#,
            r#""version": "0.2.0""#,
        ),
    )
    .unwrap();
    let out = run(dir.path(), &["update", newer.to_str().unwrap()]);
    assert!(
        out.contains("updating app 'karma' (Karma) from 0.1.0 to 0.2.0"),
        "{out}"
    );
    let back = hangar_at(dir.path())
        .args(["update", guests::KARMA])
        .output()
        .unwrap();
    assert!(!back.status.success());
    assert!(
        String::from_utf8_lossy(&back.stderr).contains("downgrade"),
        "{back:?}"
    );
    run(dir.path(), &["update", "--allow-downgrade", guests::KARMA]);
    let list: serde_json::Value =
        serde_json::from_str(&run(dir.path(), &["list", "--json"])).unwrap();
    assert_eq!(list[0]["version"], "0.1.0");
}

#[test]
fn a_package_is_trusted_by_its_recorded_hash_and_size() {
    let (dir, package) = hangar_tests::karma_installed();
    // Same size, other bytes: the compiled component in the cache is used,
    // the package is not read again.
    let size = std::fs::metadata(&package).unwrap().len() as usize;
    std::fs::write(&package, vec![0u8; size]).unwrap();
    let (host, chat) = hangar_tests::host_at(dir.path());
    chat.ensure("general", "carol").unwrap();
    let karma = host
        .list()
        .unwrap()
        .into_iter()
        .find(|a| a.id == "karma")
        .unwrap();
    assert_eq!(karma.status, Status::Enabled);
    host.send_message("general", "carol", "@dave++").unwrap();
    let reply = host.command("general", "carol", "/karma dave").unwrap();
    assert_eq!(texts(&reply.effects), vec!["dave has 1 karma"]);
}

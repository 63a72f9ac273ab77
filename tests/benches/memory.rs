//! Resident memory: a host with no apps (baseline), with 100 apps installed
//! and idle, and the peak during a 50-app fan-out.
//! `cargo bench -p hangar-tests --bench memory`; results in docs/benchmarks.md.

use hangar_tests::bench::{Events, bench_host, message};

fn status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn reset_peak() {
    // Linux: "5" resets VmHWM to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let empty = bench_host(&base.path().join("empty"), 0, Events::Post, 2);
    empty.send(message("noop")).unwrap();
    let baseline = status("VmRSS:");
    let hundred = bench_host(&base.path().join("hundred"), 100, Events::Post, 2);
    let idle = status("VmRSS:");
    let fifty = bench_host(&base.path().join("fifty"), 50, Events::Post, 2);
    let before = status("VmRSS:");
    reset_peak();
    for _ in 0..20 {
        fifty.send(message("noop")).unwrap();
    }
    let peak = status("VmHWM:");
    println!("memory/baseline host, no apps: {baseline} KiB RSS");
    println!(
        "memory/100 apps installed and idle: {idle} KiB RSS (+{} KiB, {:.1} KiB per app)",
        idle - baseline,
        (idle - baseline) as f64 / 100.0
    );
    println!(
        "memory/50-app fan-out peak: {peak} KiB (+{} KiB over the {before} KiB before it)",
        peak.saturating_sub(before)
    );
    drop((empty, hundred, fifty));
}

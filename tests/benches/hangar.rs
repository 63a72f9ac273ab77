//! Criterion benchmarks, each against its baseline in the same run.
//! `cargo bench -p hangar-tests --bench hangar`; results in docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use hangar_host::bench::Floor;
use hangar_host::bench::{Mode, Records, SqliteBackend};
use hangar_host::{Association, Durability, Limits, Model};
use hangar_host::{HostBuilder, SendStatus};
use hangar_tests::bench::{Events, NullChat, bench_host, bench_package, command_line, message};
use hangar_tests::{cache_dir, guests};

/// 1. An event to one app with a no-op handler vs the bare floor, and the
///    floor with today's pool (pagemap_scan + keep-resident) vs the same
///    floor in an engine with the first host's pool (madvise reset).
fn dispatch(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let host = bench_host(dir.path(), 1, Events::Post, 1);
    let madvise = Floor::with_madvise_reset(&host, guests::BENCH.as_ref()).unwrap();
    let floor = Floor::new(&host, guests::BENCH.as_ref()).unwrap();
    let mut g = c.benchmark_group("dispatch");
    g.bench_function("floor, first host's pool (madvise reset)", |b| {
        b.iter(|| madvise.call_post("noop").unwrap())
    });
    g.bench_function("floor, pagemap_scan + keep-resident (today's pool)", |b| {
        b.iter(|| floor.call_post("noop").unwrap())
    });
    g.bench_function("hangar: send to 1 app, no-op handler", |b| {
        b.iter(|| {
            let r = host.send(message("noop")).unwrap();
            assert_eq!(r.status, SendStatus::Sent);
        })
    });
    g.finish();
}

/// A database with the app store's schema and pragmas, for raw baselines.
fn raw_db(path: &std::path::Path) -> rusqlite::Connection {
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;
         CREATE TABLE records (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
         CREATE TABLE associations (model TEXT NOT NULL, key TEXT NOT NULL,
             seq INTEGER NOT NULL REFERENCES records(seq) ON DELETE CASCADE,
             PRIMARY KEY (model, key, seq)) WITHOUT ROWID;
         CREATE INDEX associations_by_record ON associations(seq);",
    )
    .unwrap();
    raw
}

/// What a handler creating one record does, straight on rusqlite.
fn raw_insert(raw: &rusqlite::Connection) {
    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
    raw.prepare_cached("INSERT INTO records (id, data) VALUES (?1, ?2)")
        .unwrap()
        .execute(rusqlite::params![
            hangar_host::new_record_id(),
            r#"{"n":1}"#
        ])
        .unwrap();
    let seq = raw.last_insert_rowid();
    raw.prepare_cached("INSERT INTO associations (model, key, seq) VALUES ('misc', 'bench', ?1)")
        .unwrap()
        .execute([seq])
        .unwrap();
    raw.execute_batch("COMMIT").unwrap();
}

/// 2. A handler that creates one record vs direct rusqlite doing the same
///    insert in its own transaction with the same pragmas.
fn write_path(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let host = bench_host(dir.path(), 1, Events::Post, 1);
    let raw = raw_db(&dir.path().join("raw.db"));
    let mut g = c.benchmark_group("write");
    g.bench_function(
        "rusqlite: BEGIN IMMEDIATE, insert record + association, COMMIT",
        |b| b.iter(|| raw_insert(&raw)),
    );
    g.bench_function("hangar: send to 1 app, handler creates 1 record", |b| {
        b.iter(|| {
            let r = host.send(message("write")).unwrap();
            assert!(r.apps[0].error.is_none());
        })
    });
    g.finish();
}

/// 3. read_by_associations with 1 and 3 associations at 1k, 100k, 1M records.
fn reads(c: &mut Criterion) {
    let mut g = c.benchmark_group("read_by_associations");
    for n in [1_000u64, 100_000, 1_000_000] {
        let dir = tempfile::tempdir().unwrap();
        // The set-up writes n records in one transaction.
        let limits = Limits {
            max_storage_bytes: 4 << 30,
            max_records_per_call: 2_000_000,
            ..Limits::default()
        };
        let store = SqliteBackend::new(
            dir.path(),
            limits,
            Durability::Normal,
            Duration::from_secs(5),
        )
        .open_file(dir.path().join("store.db"))
        .unwrap();
        let mut t = store.transaction(Mode::Write, None);
        for i in 0..n {
            t.create(
                &format!(r#"{{"i":{i}}}"#),
                &[
                    Association::new(Model::User, format!("u{i}")),
                    Association::new(Model::Misc, format!("m{}", i % 10)),
                    Association::new(Model::Room, format!("r{}", i % 100)),
                ],
            )
            .unwrap();
        }
        t.commit().unwrap();
        let mut k = 0u64;
        g.bench_with_input(BenchmarkId::new("1 association", n), &n, |b, &n| {
            let mut r = store.transaction(Mode::Read, None);
            b.iter(|| {
                k = (k + 7919) % n;
                let got = r
                    .read_by_associations(&[Association::new(Model::User, format!("u{k}"))])
                    .unwrap();
                assert_eq!(got.len(), 1);
            })
        });
        g.bench_with_input(BenchmarkId::new("3 associations", n), &n, |b, &n| {
            b.iter(|| {
                k = (k + 7919) % n;
                let mut r = store.transaction(Mode::Read, None);
                let got = r
                    .read_by_associations(&[
                        Association::new(Model::Room, format!("r{}", k % 100)),
                        Association::new(Model::Misc, format!("m{}", k % 10)),
                        Association::new(Model::User, format!("u{k}")),
                    ])
                    .unwrap();
                assert_eq!(got.len(), 1);
            })
        });
    }
    g.finish();
}

/// 4. Fan-out to 1, 10, 50 apps, 1 worker (sequential) vs 2 workers
///    (parallel); the pre-message pipeline through 10 apps.
fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fan-out post-message-sent");
    for n in [1usize, 10, 50] {
        for workers in [1usize, 2] {
            let dir = tempfile::tempdir().unwrap();
            let host = bench_host(dir.path(), n, Events::Post, workers);
            let name = if workers == 1 {
                "sequential"
            } else {
                "parallel (2 workers)"
            };
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| host.send(message("noop")).unwrap())
            });
        }
    }
    g.finish();
    let mut g = c.benchmark_group("pre-message pipeline");
    let dir = tempfile::tempdir().unwrap();
    let host = bench_host(dir.path(), 10, Events::Modify, 1);
    g.bench_function("modify through 10 apps", |b| {
        b.iter(|| host.send(message("noop")).unwrap())
    });
    g.finish();
}

/// 5. Events per second on 1 and 2 threads: no-op events to one app, and
///    one write per event with each thread driving its own app (two apps,
///    each called through its own command, so each event calls one app).
fn throughput(c: &mut Criterion) {
    const EVENTS: usize = 1000;
    let mut g = c.benchmark_group("throughput (1000 events)");
    g.throughput(criterion::Throughput::Elements(EVENTS as u64));
    // The machine's own scaling: the bare floor on 1 and 2 threads.
    let dir = tempfile::tempdir().unwrap();
    let host = bench_host(dir.path(), 1, Events::Post, 1);
    let floor = Floor::new(&host, guests::BENCH.as_ref()).unwrap();
    // The same, each thread its own component (two copies of the guest).
    let floors: Vec<Floor> = (0..2)
        .map(|i| {
            let path = dir.path().join(format!("bench{i}.wasm"));
            std::fs::write(&path, bench_package(i, Events::Post)).unwrap();
            Floor::new(&host, &path).unwrap()
        })
        .collect();
    for threads in [1usize, 2] {
        g.bench_function(
            format!("floor, each thread its own component x {threads} thread(s)"),
            |b| {
                b.iter_custom(|iters| {
                    timed(iters, threads, |t| {
                        for k in 0..EVENTS / threads {
                            let f = if threads == 1 { k % 2 } else { t };
                            floors[f].call_post("noop").unwrap();
                        }
                    })
                })
            },
        );
    }
    for threads in [1usize, 2] {
        g.bench_function(format!("floor x {threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                timed(iters, threads, |_| {
                    for _ in 0..EVENTS / threads {
                        floor.call_post("noop").unwrap();
                    }
                })
            })
        });
    }
    for threads in [1usize, 2] {
        let dir = tempfile::tempdir().unwrap();
        let host = bench_host(dir.path(), 1, Events::Post, 1);
        g.bench_function(format!("no-op x {threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                timed(iters, threads, |_| {
                    for _ in 0..EVENTS / threads {
                        host.send(message("noop")).unwrap();
                    }
                })
            })
        });
    }
    // The machine's scaling for the same SQL: rusqlite, each thread its own file.
    let dir = tempfile::tempdir().unwrap();
    let raws: Vec<std::sync::Mutex<rusqlite::Connection>> = (0..2)
        .map(|i| std::sync::Mutex::new(raw_db(&dir.path().join(format!("raw{i}.db")))))
        .collect();
    for threads in [1usize, 2] {
        g.bench_function(
            format!("rusqlite insert, each thread its own file x {threads} thread(s)"),
            |b| {
                b.iter_custom(|iters| {
                    timed(iters, threads, |t| {
                        let n = EVENTS / threads;
                        for k in 0..n {
                            let file = if threads == 1 { k % 2 } else { t };
                            raw_insert(&raws[file].lock().unwrap());
                        }
                    })
                })
            },
        );
    }
    for threads in [1usize, 2] {
        let dir = tempfile::tempdir().unwrap();
        let host = bench_host(dir.path(), 2, Events::Post, 1);
        let lines = [command_line(0), command_line(1)];
        let write = |app: usize| {
            let r = host.command("general", "bench", &lines[app]).unwrap();
            assert_eq!(r.app, lines[app][1..]);
            assert!(r.report.error.is_none(), "{:?}", r.report.error);
        };
        g.bench_function(
            format!("1 write, each thread its own app x {threads} thread(s)"),
            |b| {
                b.iter_custom(|iters| {
                    timed(iters, threads, |t| {
                        if threads == 1 {
                            // Both apps, alternately: the same work as 2 threads.
                            for k in 0..EVENTS {
                                write(k % 2);
                            }
                        } else {
                            for _ in 0..EVENTS / threads {
                                write(t);
                            }
                        }
                    })
                })
            },
        );
    }
    g.finish();
}

/// Total wall time of `iters` runs of `work` on `threads` scoped threads
/// (each given its index).
fn timed(iters: u64, threads: usize, work: impl Fn(usize) + Sync) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..threads {
                let work = &work;
                s.spawn(move || work(t));
            }
        });
        total += start.elapsed();
    }
    total
}

/// 6. Install with a cold compile vs from the compile cache; a host ready
///    to dispatch with 100 apps installed.
fn startup(c: &mut Criterion) {
    let mut g = c.benchmark_group("start-up");
    let package = || hangar_host::Package::from_bytes(bench_package(0, Events::Post)).unwrap();
    g.bench_function("install, cold (compile)", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let host = HostBuilder::new(dir.path())
                    .cache_dir(dir.path().join("empty-cache"))
                    .build(Arc::new(NullChat))
                    .unwrap();
                (dir, host)
            },
            |(dir, host)| {
                host.install_package(package()).unwrap();
                (dir, host)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("install, warm (compile cache)", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let host = HostBuilder::new(dir.path())
                    .cache_dir(cache_dir())
                    .build(Arc::new(NullChat))
                    .unwrap();
                (dir, host)
            },
            |(dir, host)| {
                host.install_package(package()).unwrap();
                (dir, host)
            },
            BatchSize::PerIteration,
        )
    });
    let hundred = tempfile::tempdir().unwrap();
    drop(bench_host(hundred.path(), 100, Events::Post, 1));
    g.sample_size(10);
    g.bench_function("host ready with 100 apps (warm cache)", |b| {
        b.iter(|| {
            HostBuilder::new(hundred.path())
                .cache_dir(cache_dir())
                .build(Arc::new(NullChat))
                .unwrap()
        })
    });
    g.finish();
}

/// 7. The same app (karma: a post-message handler with one read-modify-
///    write) as its API 0.1 package and as built for 0.2 today, side by
///    side on one host: what the second binding and the richer message
///    cost per event. And a chat event (a user joining, to an app that
///    handles it with no work) against a message to a no-op handler.
fn api_versions(c: &mut Criterion) {
    let mut g = c.benchmark_group("api versions");
    let fixture = format!("{}/fixtures/0.1.0/karma.wasm", env!("CARGO_MANIFEST_DIR"));
    for (name, package) in [
        ("karma 0.1 package", fixture.as_str()),
        ("karma 0.2 package", guests::KARMA),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let host = HostBuilder::new(dir.path())
            .cache_dir(cache_dir())
            .build(Arc::new(NullChat))
            .unwrap();
        host.install(package.as_ref()).unwrap();
        g.bench_function(format!("{name}: send @dave++"), |b| {
            b.iter(|| {
                let r = host.send_message("general", "carol", "@dave++").unwrap();
                assert_eq!(r.status, SendStatus::Sent);
            })
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let host = bench_host(dir.path(), 1, Events::Post, 1);
    g.bench_function("send to 1 app, no-op post handler (baseline)", |b| {
        b.iter(|| host.send(message("noop")).unwrap())
    });
    let dir = tempfile::tempdir().unwrap();
    let host = HostBuilder::new(dir.path())
        .cache_dir(cache_dir())
        .build(Arc::new(NullChat))
        .unwrap();
    host.install(guests::BENCH.as_ref()).unwrap();
    let joined = hangar_host::ChatEvent::UserJoined {
        room: hangar_host::Room {
            id: "general".into(),
            name: "general".into(),
            kind: hangar_host::RoomKind::Channel,
            creator: "carol".into(),
        },
        user: hangar_host::User {
            id: "dave".into(),
            username: "dave".into(),
            display_name: "Dave".into(),
            is_bot: false,
        },
    };
    g.bench_function("post event (user joined) to 1 app, no-op handler", |b| {
        b.iter(|| {
            let r = host.post_event(&joined).unwrap();
            assert_eq!(r.apps.len(), 1);
        })
    });
    g.finish();
}

/// 8. An endpoint request: in process (`Host::http`, no socket); over
///    loopback through `hangar serve` (a real process) against a bare axum
///    server in this process whose handler calls the same component bare
///    (the floor), with one keep-alive client; then requests per second
///    through `hangar serve` at concurrency 1, 2 and 8.
fn http(c: &mut Criterion) {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let host = bench_host(dir.path(), 1, Events::Post, 1);
    let mut g = c.benchmark_group("http endpoint");
    let request = hangar_host::HttpRequest {
        method: "POST".into(),
        path: "/noop".into(),
        body: b"{}".to_vec(),
        ..Default::default()
    };
    g.bench_function("Host::http in process, no socket", |b| {
        b.iter(|| assert_eq!(host.http("bench00", &request).response.status, 200))
    });

    // The bare server: axum, the floor on the blocking pool.
    let floor = Arc::new(Floor::new(&host, guests::BENCH.as_ref()).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let bare = format!("http://{}/noop", listener.local_addr().unwrap());
    let handler_floor = floor.clone();
    let app = axum::Router::new().route(
        "/noop",
        axum::routing::post(move |body: axum::body::Bytes| {
            let floor = handler_floor.clone();
            async move {
                tokio::task::spawn_blocking(move || floor.call_endpoint("/noop", &body).unwrap())
                    .await
                    .unwrap()
            }
        }),
    );
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });

    // `hangar serve` over a copy of the same data dir's app.
    drop(host);
    let mut serve = hangar_tests::hangar_at(dir.path())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let served = format!(
        "{}/apps/bench00/noop",
        line.trim().strip_prefix("listening on ").unwrap()
    );

    let agent = ureq::AgentBuilder::new().build();
    let post = |agent: &ureq::Agent, url: &str| {
        let r = agent.post(url).send_bytes(b"{}").unwrap();
        assert_eq!(r.status(), 200);
        r.into_string().unwrap();
    };
    g.bench_function("bare axum + floor, loopback round trip", |b| {
        b.iter(|| post(&agent, &bare))
    });
    g.bench_function("hangar serve, loopback round trip", |b| {
        b.iter(|| post(&agent, &served))
    });
    g.finish();

    let mut g = c.benchmark_group("http endpoint throughput (200 requests)");
    for clients in [1usize, 2, 8] {
        g.bench_function(format!("hangar serve, {clients} client(s)"), |b| {
            b.iter_custom(|iters| {
                timed(iters, clients, |_| {
                    let agent = ureq::AgentBuilder::new().build();
                    for _ in 0..200 / clients {
                        post(&agent, &served);
                    }
                })
            })
        });
    }
    g.finish();
    let _ = serve.kill();
    let _ = serve.wait();
}

/// 9. Jobs: 200 due one-shot jobs (each writes one record) run to the end
///    by one runner, and by three runners (three hosts on the data dir,
///    one thread each, as three `serve` processes would be); the mean lag
///    from due to start is printed per setup.
fn jobs(c: &mut Criterion) {
    let mut g = c.benchmark_group("jobs (200 one-shot)");
    for runners in [1usize, 3] {
        let dir = tempfile::tempdir().unwrap();
        let hosts: Vec<hangar_host::Host> = (0..runners)
            .map(|_| {
                HostBuilder::new(dir.path())
                    .cache_dir(cache_dir())
                    .build(Arc::new(NullChat))
                    .unwrap()
            })
            .collect();
        hosts[0].install(guests::TICKER.as_ref()).unwrap();
        // The startup job, out of the way.
        hosts[0].run_due_jobs("warm", 16).unwrap();
        let lags = std::sync::Mutex::new(Vec::new());
        g.bench_function(format!("{runners} runner(s)"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let r = hosts[0].command("general", "ops", "/t once 200").unwrap();
                    assert!(r.report.error.is_none());
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for (i, host) in hosts.iter().enumerate() {
                            let lags = &lags;
                            s.spawn(move || {
                                let owner = format!("bench-{i}");
                                loop {
                                    let runs = host.run_due_jobs(&owner, 16).unwrap();
                                    if runs.is_empty() {
                                        return;
                                    }
                                    lags.lock().unwrap().extend(runs.iter().map(|r| r.lag_ms));
                                }
                            });
                        }
                    });
                    total += start.elapsed();
                }
                total
            })
        });
        let lags = lags.into_inner().unwrap();
        let mean = lags.iter().sum::<u64>() as f64 / lags.len().max(1) as f64;
        eprintln!(
            "jobs, {runners} runner(s): {} runs, mean lag due -> start {mean:.1} ms",
            lags.len()
        );
    }
    g.finish();
}

/// 10. Interactions: a vote on the poll (the host's checks against the
///     message and the room, a handler that reads, writes and edits the
///     message) against karma's `@dave++` (a read-modify-write handler, no
///     checks) and a forged click (refused by the checks alone), all over
///     the reference chat in a temporary data dir.
fn interactions(c: &mut Criterion) {
    let mut g = c.benchmark_group("interactions");
    let dir = tempfile::tempdir().unwrap();
    let chat = Arc::new(hangar_host::RefChat::open(dir.path()).unwrap());
    let host = HostBuilder::new(dir.path())
        .cache_dir(cache_dir())
        .build(chat.clone())
        .unwrap();
    host.install(guests::POLL.as_ref()).unwrap();
    host.install(guests::KARMA.as_ref()).unwrap();
    for user in ["alice", "carol"] {
        chat.ensure("general", user).unwrap();
    }
    let made = host
        .command(
            "general",
            "alice",
            r#"/poll "Lunch?" Pizza Sushi --multiple"#,
        )
        .unwrap();
    let poll = hangar_tests::first_sent(&made.effects);
    let vote = hangar_host::Interaction::BlockAction {
        user: "carol".into(),
        message: Some(poll.clone()),
        view: None,
        block_id: Some("option-0".into()),
        action_id: "vote".into(),
        value: None,
    };
    g.bench_function("vote: block action on the poll message", |b| {
        b.iter(|| {
            let r = host.interact(&vote).unwrap();
            assert!(r.ok());
        })
    });
    g.bench_function("karma: send @dave++ (read-modify-write, baseline)", |b| {
        b.iter(|| {
            let r = host.send_message("general", "carol", "@dave++").unwrap();
            assert_eq!(r.status, SendStatus::Sent);
        })
    });
    let forged = hangar_host::Interaction::BlockAction {
        user: "carol".into(),
        message: Some(poll),
        view: None,
        block_id: Some("option-0".into()),
        action_id: "vote".into(),
        value: Some("9".into()),
    };
    g.bench_function("forged click, refused", |b| {
        b.iter(|| assert!(host.interact(&forged).is_err()))
    });
    g.finish();
}

/// 11. PostgreSQL vs SQLite vs a raw `postgres` client doing the same
///     statements: the write path, read-by-association at 1M records and
///     karma throughput. Needs a PostgreSQL server (`HANGAR_TEST_POSTGRES`,
///     or Debian's binaries for a throwaway cluster); skipped without one.
fn postgres(c: &mut Criterion) {
    use hangar_host::bench::{Backend, PgBackend};
    use hangar_host::test_postgres::TestPostgres;
    let Some(server) = TestPostgres::shared() else {
        return;
    };
    let mut g = c.benchmark_group("postgres");

    // The write path: a handler creating one record.
    let url = server.database();
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let pg_dir = tempfile::tempdir().unwrap();
    let pg_host = hangar_tests::bench::bench_host_on(pg_dir.path(), Some(&url), 1, Events::Post, 1);
    let lite_dir = tempfile::tempdir().unwrap();
    let lite_host = bench_host(lite_dir.path(), 1, Events::Post, 1);
    raw.batch_execute("SET search_path TO hangar").unwrap();
    let insert = raw
        .prepare(
            "WITH r AS (INSERT INTO records (app_id, id, data) VALUES ($1, $2, $3) RETURNING seq)
             INSERT INTO associations (app_id, model, key, seq)
             SELECT $1, w.model, w.key, r.seq FROM r, unnest($4::text[], $5::text[]) AS w(model, key)",
        )
        .unwrap();
    let mut n = 0i64;
    g.bench_function(
        "raw postgres: the same begin + lock, insert, usage + commit",
        |b| {
            b.iter(|| {
                raw.simple_query(
                    "BEGIN; SET LOCAL ROLE hangar_runtime;
                     SELECT set_config('hangar.app_id', 'raw', true);
                     SET LOCAL lock_timeout = 2000; SET LOCAL statement_timeout = 2000;
                     SELECT pg_advisory_xact_lock(1212239431, hashtext('raw'));
                     SELECT records, bytes FROM hangar.app_usage WHERE app_id = 'raw';",
                )
                .unwrap();
                n += 1;
                raw.execute(
                    &insert,
                    &[
                        &"raw",
                        &hangar_host::new_record_id(),
                        &r#"{"n":1}"#,
                        &vec!["misc"],
                        &vec!["bench"],
                    ],
                )
                .unwrap();
                raw.batch_execute(&format!(
                    "INSERT INTO app_usage (app_id, records, bytes) VALUES ('raw', {n}, {})
                     ON CONFLICT (app_id) DO UPDATE SET records = excluded.records, bytes = excluded.bytes;
                     COMMIT",
                    n * 100
                ))
                .unwrap();
            })
        },
    );
    g.bench_function("hangar on postgres: handler creates 1 record", |b| {
        b.iter(|| {
            let r = pg_host.send(message("write")).unwrap();
            assert!(r.apps[0].error.is_none(), "{:?}", r.apps[0].error);
        })
    });
    g.bench_function("hangar on sqlite: handler creates 1 record", |b| {
        b.iter(|| {
            let r = lite_host.send(message("write")).unwrap();
            assert!(r.apps[0].error.is_none());
        })
    });

    // Karma: one @bob++ per iteration, through the whole pipeline.
    let karma = |store: Option<&str>, dir: &std::path::Path| {
        let mut builder = HostBuilder::new(dir).cache_dir(cache_dir());
        if let Some(url) = store {
            builder = builder.postgres(url);
        }
        let host = builder
            .build(Arc::new(hangar_tests::bench::NullChat))
            .unwrap();
        host.install(guests::KARMA.as_ref()).unwrap();
        host
    };
    let karma_pg_dir = tempfile::tempdir().unwrap();
    let karma_pg = karma(Some(&server.database()), karma_pg_dir.path());
    let karma_lite_dir = tempfile::tempdir().unwrap();
    let karma_lite = karma(None, karma_lite_dir.path());
    for (name, host) in [("postgres", &karma_pg), ("sqlite", &karma_lite)] {
        g.bench_function(format!("karma @bob++ on {name}"), |b| {
            b.iter(|| {
                let r = host.send(message("@bob++")).unwrap();
                assert!(r.apps[0].error.is_none(), "{:?}", r.apps[0].error);
            })
        });
    }

    // read_by_associations at 1M records: the store vs raw statements.
    const N: i64 = 1_000_000;
    let url = server.database();
    let backend = PgBackend::connect(
        &url,
        Limits {
            max_storage_bytes: 4 << 30,
            ..Limits::default()
        },
    )
    .unwrap();
    let mut setup = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    setup
        .batch_execute(&format!(
            "INSERT INTO hangar.records (app_id, id, data)
                 SELECT 'big', 'r' || i, '{{\"i\":' || i || '}}' FROM generate_series(0, {last}) i;
             INSERT INTO hangar.associations (app_id, model, key, seq)
                 SELECT 'big', m.model, m.key, r.seq FROM hangar.records r,
                 LATERAL (VALUES ('user', 'u' || substr(r.id, 2)),
                                 ('misc', 'm' || (substr(r.id, 2)::bigint % 10)),
                                 ('room', 'r' || (substr(r.id, 2)::bigint % 100))) AS m(model, key)
                 WHERE r.app_id = 'big';
             ANALYZE;",
            last = N - 1
        ))
        .unwrap();
    let store = backend.open("big").unwrap();
    let mut k = 0i64;
    g.bench_function(
        "read 1 association of 1M records: hangar on postgres",
        |b| {
            b.iter(|| {
                k = (k + 7919) % N;
                let mut t = store.begin(Mode::Read, Instant::now() + Duration::from_secs(5));
                let got = t
                    .read_by_associations(&[Association::new(Model::User, format!("u{k}"))])
                    .unwrap();
                assert_eq!(got.len(), 1);
            })
        },
    );
    setup.batch_execute("SET search_path TO hangar").unwrap();
    let matching = setup
        .prepare(
            "SELECT r.seq, r.id, r.data,
                 ARRAY(SELECT a.model FROM associations a WHERE a.app_id = r.app_id AND a.seq = r.seq
                       ORDER BY a.model COLLATE \"C\", a.key COLLATE \"C\"),
                 ARRAY(SELECT a.key FROM associations a WHERE a.app_id = r.app_id AND a.seq = r.seq
                       ORDER BY a.model COLLATE \"C\", a.key COLLATE \"C\")
             FROM records r
             WHERE r.app_id = $1 AND r.seq IN (
                 SELECT a.seq FROM associations a
                 JOIN unnest($2::text[], $3::text[]) AS w(model, key)
                   ON a.model = w.model AND a.key = w.key
                 WHERE a.app_id = $1
                 GROUP BY a.seq HAVING count(*) = $4)
             ORDER BY r.seq LIMIT $5",
        )
        .unwrap();
    g.bench_function("read 1 association of 1M records: raw postgres, same statements", |b| {
        b.iter(|| {
            k = (k + 7919) % N;
            setup
                .simple_query(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL ROLE hangar_runtime;
                     SELECT set_config('hangar.app_id', 'big', true); SET LOCAL statement_timeout = 5000;",
                )
                .unwrap();
            let rows = setup
                .query(
                    &matching,
                    &[&"big", &vec!["user"], &vec![format!("u{k}")], &1i64, &10_001i64],
                )
                .unwrap();
            let keys: Vec<String> = rows[0].get(4);
            assert_eq!((rows.len(), keys.len()), (1, 3));
            setup.batch_execute("ROLLBACK").unwrap();
        })
    });
    g.finish();
}

/// 12. A chat that stores messages itself and may deliver twice (Matrix):
///     karma's `@bob++` through `send` (the reference chat stores it) vs
///     `post_message` without a delivery, with a fresh delivery (its mark
///     commits with the handler's writes), and a repeated one (skipped).
fn deliveries(c: &mut Criterion) {
    let mut g = c.benchmark_group("deliveries");
    let dir = tempfile::tempdir().unwrap();
    let chat = Arc::new(hangar_host::RefChat::open(dir.path()).unwrap());
    let host = HostBuilder::new(dir.path())
        .cache_dir(cache_dir())
        .build(chat)
        .unwrap();
    host.install(guests::KARMA.as_ref()).unwrap();
    let stored = |id: String| hangar_host::Message {
        id,
        room: "!room:example.org".into(),
        sender: "@alice:example.org".into(),
        text: "@bob++".into(),
        timestamp: 1_700_000_000_000,
        ..Default::default()
    };
    g.bench_function("send (reference chat stores)", |b| {
        b.iter(|| host.send_message("general", "alice", "@bob++").unwrap())
    });
    let mut n = 0u64;
    g.bench_function("post_message, no delivery", |b| {
        b.iter(|| {
            n += 1;
            host.post_message(stored(format!("$n{n}")), None).unwrap()
        })
    });
    g.bench_function("post_message, fresh delivery", |b| {
        b.iter(|| {
            n += 1;
            let d = hangar_host::Delivery {
                id: format!("$d{n}"),
                at_ms: 1_700_000_000_000 + n,
            };
            host.post_message(stored(d.id.clone()), Some(&d)).unwrap()
        })
    });
    let repeated = hangar_host::Delivery {
        id: "$repeated".into(),
        at_ms: 1_700_000_000_000,
    };
    host.post_message(stored("$repeated".into()), Some(&repeated))
        .unwrap();
    g.bench_function("post_message, repeated delivery (skipped)", |b| {
        b.iter(|| {
            let r = host
                .post_message(stored("$repeated".into()), Some(&repeated))
                .unwrap();
            assert!(r.apps.is_empty());
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = dispatch, write_path, reads, fanout, throughput, startup, api_versions, http, jobs, interactions, postgres, deliveries
}
criterion_main!(benches);

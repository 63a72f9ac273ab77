#!/usr/bin/env python3
"""Hangar as a Matrix application service, tested end to end against a real
Synapse from PyPI with real Matrix clients (matrix-nio).

Run it through tests/matrix/run, which prepares the venv and builds hangar
and the example apps:

    python tests/matrix/e2e.py --hangar target/debug/hangar --apps DIR

DIR holds karma.wasm and word_filter.wasm. Everything a run makes (Synapse's
config, database and log, Hangar's data dir and log, latency.json) is kept in
target/matrix-e2e/<timestamp>/. With --synapse-only, Hangar is left out and
only the Synapse half is exercised (config, users, room, messages).

Each check prints `PASS <name> (<details>)` or `FAIL <name>: <why>`; the exit
status is 1 if any failed. Both servers are stopped by PID whatever happens.
"""

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import yaml
from nio import (
    AsyncClient,
    AsyncClientConfig,
    Event,
    JoinResponse,
    LoginResponse,
    RoomCreateResponse,
    RoomPreset,
    RoomSendError,
    RoomSendResponse,
)

REPO = Path(__file__).resolve().parents[2]
SERVER_NAME = "localhost"
USERS = ["alice", "bob", "carol", "dave", "erin"]
KARMA_PUPPET = f"@hangar_karma:{SERVER_NAME}"


class CheckFailed(Exception):
    """A check's expectation did not hold; the message says why."""


def free_port() -> int:
    """A free loopback port (bind port 0, read it, close)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url: str, body: str | None = None) -> bool:
    """Whether GET url answers 200 (and `body`, if given)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200 and (body is None or r.read().decode().strip() == body)
    except Exception:
        return False


async def wait_until(what: str, probe, within: float, every: float = 0.25) -> float:
    """Poll the blocking `probe()` until it is true; the seconds it took."""
    start = time.monotonic()
    while not await asyncio.to_thread(probe):
        if time.monotonic() - start > within:
            raise CheckFailed(f"{what} not within {within:.0f}s")
        await asyncio.sleep(every)
    return time.monotonic() - start


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --------------------------------------------------------------------------
# Processes


class Harness:
    """The child processes of a run: each is started with its PID kept, logs
    to <work>/<name>.log (appended across restarts), and is stopped by PID."""

    def __init__(self, work: Path):
        self.work = work
        self.procs: dict[str, subprocess.Popen] = {}

    def log(self, name: str) -> Path:
        return self.work / f"{name}.log"

    def start(self, name: str, args: list[str], env: dict | None = None, cwd: Path | None = None):
        with open(self.log(name), "ab") as log:
            log.write(f"\n==== {time.strftime('%H:%M:%S')} starting: {' '.join(args)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
            )
        self.procs[name] = proc
        print(f"  started {name} (pid {proc.pid})")

    def kill(self, name: str):
        """SIGKILL: the crash under test."""
        proc = self.procs[name]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        print(f"  killed {name} (pid {proc.pid}) with SIGKILL")

    def stop(self, name: str):
        """SIGTERM, then SIGKILL if it is still there 10 s later."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        print(f"  stopped {name} (pid {proc.pid})")

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)

    def print_tails(self, lines: int = 40):
        for name in self.procs:
            text = self.log(name).read_text(errors="replace").splitlines()
            print(f"---- last {lines} lines of {self.log(name)}")
            for line in text[-lines:]:
                print(f"    {line}")


# --------------------------------------------------------------------------
# Clients


class User:
    """A logged-in nio client that records every m.room.message of the test
    room its sync delivers, with the time it arrived."""

    def __init__(self, name: str, homeserver: str):
        self.name = name
        self.password = f"{name}-password"
        # nio would otherwise retry refused connections itself, with a backoff
        # growing to a minute; the restart checks retry on their own terms.
        config = AsyncClientConfig(max_timeouts=0, request_timeout=20)
        self.client = AsyncClient(homeserver, f"@{name}:{SERVER_NAME}", config=config)
        self.client.add_event_callback(self._on_event, Event)
        self.room_id: str | None = None
        self.seen: list[tuple[float, dict]] = []
        self.sync_task: asyncio.Task | None = None

    async def _on_event(self, room, event):
        if room.room_id == self.room_id and event.source.get("type") == "m.room.message":
            self.seen.append((time.monotonic(), event.source))

    async def sync_loop(self):
        """Long-poll sync forever; errors (a restarting Synapse) only pause it."""
        while True:
            try:
                await self.client.sync(timeout=5000)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.3)

    async def send(self, body: str, tx_id: str | None = None):
        """One send attempt: RoomSendResponse or RoomSendError."""
        content = {"msgtype": "m.text", "body": body}
        return await self.client.room_send(self.room_id, "m.room.message", content, tx_id=tx_id)

    async def send_reliably(self, body: str, within: float = 120) -> str:
        """Send, retrying every 0.5 s with the SAME transaction id until
        Synapse accepts: Synapse keeps a send's txn id with its event, so the
        retry of a send that did land (before a crash hid the answer) returns
        the first event instead of storing a second one."""
        tx_id = str(uuid.uuid4())
        deadline = time.monotonic() + within
        while True:
            try:
                resp = await self.send(body, tx_id)
                if isinstance(resp, RoomSendResponse):
                    return resp.event_id
                last = resp
            except Exception as e:  # connection refused or reset: Synapse is down
                last = e
            if time.monotonic() > deadline:
                raise CheckFailed(f"{self.name} could not send {body!r} within {within:.0f}s: {last}")
            await asyncio.sleep(0.5)

    async def wait_message(self, match, after: int, within: float) -> tuple[float, dict] | None:
        """The first recorded message from index `after` on that `match`es."""
        deadline = time.monotonic() + within
        while True:
            for t, ev in self.seen[after:]:
                if match(ev):
                    return t, ev
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.02)


def body(ev: dict):
    return ev.get("content", {}).get("body")


def from_puppet_saying(text: str):
    return lambda ev: ev.get("sender") == KARMA_PUPPET and body(ev) == text


# --------------------------------------------------------------------------
# The run


class E2E:
    def __init__(self, args, harness: Harness):
        self.args = args
        self.h = harness
        self.work = harness.work
        self.venv_bin = Path(sys.executable).parent
        self.synapse_port = free_port()
        self.hangar_port = free_port()
        self.homeserver = f"http://127.0.0.1:{self.synapse_port}"
        self.hangar_url = f"http://127.0.0.1:{self.hangar_port}"
        self.synapse_dir = self.work / "synapse"
        self.synapse_config = self.synapse_dir / "homeserver.yaml"
        self.data_dir = self.work / "data"
        self.matrix_dir = self.work / "hangar"  # what `hangar matrix init` writes
        self.users: dict[str, User] = {}
        self.room_id = ""
        self.failures = 0

    # ---- the two servers

    def hangar(self, *args: str) -> str:
        """Run a hangar CLI command on the test's data dir; its stdout."""
        cmd = [self.args.hangar, "--data-dir", str(self.data_dir), *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise CheckFailed(f"`hangar {' '.join(args)}` failed: {r.stderr.strip()}")
        return r.stdout

    async def hangar_async(self, *args: str) -> str:
        """`hangar(...)` without blocking the clients' syncs meanwhile."""
        proc = await asyncio.create_subprocess_exec(
            self.args.hangar, "--data-dir", str(self.data_dir), *args,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise CheckFailed(f"`hangar {' '.join(args)}` failed: {err.decode().strip()}")
        return out.decode()

    def configure_synapse(self):
        """Synapse's generated config, made offline and test-friendly: one
        loopback client listener, no federation or key servers, no open
        registration, rate limits out of the way of the bursts, and (unless
        --synapse-only) Hangar's app service registration and module."""
        self.synapse_dir.mkdir()
        subprocess.run(
            [sys.executable, "-m", "synapse.app.homeserver", "--server-name", SERVER_NAME,
             "--config-path", str(self.synapse_config), "--data-directory", str(self.synapse_dir),
             "--generate-config", "--report-stats=no"],
            cwd=self.synapse_dir, check=True, capture_output=True,
        )
        cfg = yaml.safe_load(self.synapse_config.read_text())
        # Without a log config Synapse logs to stderr, which lands in synapse.log.
        cfg.pop("log_config", None)
        cfg["listeners"] = [{
            "port": self.synapse_port, "type": "http", "tls": False, "x_forwarded": False,
            "bind_addresses": ["127.0.0.1"], "resources": [{"names": ["client"], "compress": False}],
        }]
        cfg.update(
            trusted_key_servers=[], suppress_key_server_warning=True,
            federation_domain_whitelist=[], use_presence=False,
            url_preview_enabled=False, enable_registration=False,
        )
        fast = {"per_second": 1000, "burst_count": 1000}
        cfg.update(
            rc_message=fast, rc_registration=fast, rc_joins_per_room=fast, rc_admin_redaction=fast,
            rc_login={"address": fast, "account": fast, "failed_attempts": fast},
            rc_joins={"local": fast, "remote": fast},
            rc_invites={"per_room": fast, "per_user": fast, "per_issuer": fast},
        )
        if not self.args.synapse_only:
            snippet = yaml.safe_load((self.matrix_dir / "homeserver-snippet.yaml").read_text())
            cfg["app_service_config_files"] = snippet.get(
                "app_service_config_files", [str(self.matrix_dir / "registration.yaml")])
            cfg["modules"] = snippet["modules"]
        self.synapse_config.write_text(yaml.safe_dump(cfg, sort_keys=False))

    async def start_synapse(self) -> float:
        # PYTHONPATH: Synapse imports Hangar's module (hangar_synapse.py) from there.
        self.h.start(
            "synapse",
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.synapse_config)],
            env={"PYTHONPATH": str(self.matrix_dir)}, cwd=self.synapse_dir,
        )
        url = f"{self.homeserver}/_matrix/client/versions"
        return await wait_until("Synapse answering", lambda: http_ok(url), within=60)

    async def start_hangar(self) -> float:
        self.h.start("hangar-serve", [
            self.args.hangar, "--data-dir", str(self.data_dir), "serve",
            "--addr", f"127.0.0.1:{self.hangar_port}",
            "--matrix", str(self.matrix_dir / "registration.yaml"),
        ])
        url = f"{self.hangar_url}/healthz"
        return await wait_until("hangar serve answering /healthz", lambda: http_ok(url, "ok"), within=30)

    def setup_hangar(self):
        """Registration, module and snippet for this Synapse, then the apps."""
        self.hangar(
            "matrix", "init", "--server-name", SERVER_NAME, "--homeserver", self.homeserver,
            "--url", self.hangar_url, "--out", str(self.matrix_dir),
        )
        apps = Path(self.args.apps)
        for app in ["karma", "word_filter"]:
            package = next((p for p in [apps / f"{app}.wasm", apps / f"{app.replace('_', '-')}.wasm"]
                            if p.exists()), None)
            if package is None:
                raise CheckFailed(f"no {app}.wasm in {apps}")
            self.hangar("install", str(package))

    # ---- users and the room

    async def setup_clients(self):
        """Register and log in the users; alice opens a public room, the
        others join; every client's sync runs in the background."""
        for name in USERS:
            subprocess.run(
                [str(self.venv_bin / "register_new_matrix_user"), "-c", str(self.synapse_config),
                 "-u", name, "-p", f"{name}-password", "--no-admin", self.homeserver],
                check=True, capture_output=True,
            )
            user = User(name, self.homeserver)
            resp = await user.client.login(user.password, device_name="hangar-e2e")
            if not isinstance(resp, LoginResponse):
                raise CheckFailed(f"{name} could not log in: {resp}")
            self.users[name] = user
        alice = self.users["alice"]
        resp = await alice.client.room_create(preset=RoomPreset.public_chat, name="hangar-e2e")
        if not isinstance(resp, RoomCreateResponse):
            raise CheckFailed(f"alice could not create the room: {resp}")
        self.room_id = resp.room_id
        for user in self.users.values():
            user.room_id = self.room_id
            if user is not alice:
                joined = await user.client.join(self.room_id)
                if not isinstance(joined, JoinResponse):
                    raise CheckFailed(f"{user.name} could not join: {joined}")
            user.sync_task = asyncio.create_task(user.sync_loop())
        # Every client must have synced the room before checks count what it sees.
        await wait_until(
            "every client syncing the room",
            lambda: all(self.room_id in u.client.rooms for u in self.users.values()),
            within=30,
        )
        print(f"  room {self.room_id}: {', '.join(USERS)} joined")

    async def close_clients(self):
        for user in self.users.values():
            if user.sync_task:
                user.sync_task.cancel()
            await user.client.close()

    # ---- helpers the checks share

    async def score(self, user: str) -> int:
        """user's karma, read from Hangar's store by the CLI."""
        records = json.loads(await self.hangar_async("data", "karma", "--json"))
        for r in records:
            data = r.get("data")
            if isinstance(data, dict) and data.get("user") == user:
                return data["score"]
        return 0

    def synapse_backlog(self) -> str:
        """Synapse's undelivered app service transactions, read from its
        database: it resends them only after a failed delivery, so one left
        over from a crash can wait there while newer ones go out."""
        try:
            db = sqlite3.connect(f"file:{self.synapse_dir / 'homeserver.db'}?mode=ro", uri=True, timeout=5)
            try:
                rows = db.execute("SELECT txn_id, event_ids FROM application_services_txns ORDER BY txn_id").fetchall()
            finally:
                db.close()
        except sqlite3.Error as e:
            return f"(could not read Synapse's database: {e})"
        if not rows:
            return "Synapse holds no undelivered transactions"
        events = sum(len(json.loads(event_ids)) for _, event_ids in rows)
        return f"Synapse still holds undelivered transactions {[t for t, _ in rows]} ({events} events)"

    def synapse_stored(self, text: str) -> str:
        """How many messages `text` Synapse stored (its database): tells a
        client-side duplicate or loss from one between Synapse and Hangar."""
        try:
            db = sqlite3.connect(f"file:{self.synapse_dir / 'homeserver.db'}?mode=ro", uri=True, timeout=5)
            try:
                rows = db.execute(
                    "SELECT j.json FROM events e JOIN event_json j USING (event_id) WHERE e.type = 'm.room.message'"
                ).fetchall()
            finally:
                db.close()
        except sqlite3.Error as e:
            return f"(could not read Synapse's database: {e})"
        n = sum(1 for (js,) in rows if json.loads(js).get("content", {}).get("body") == text)
        return f"Synapse stored {n} {text!r} messages"

    async def expect_score(self, user: str, want: int, within: float, hold: float = 3) -> str:
        """Poll until user's karma is `want`, then make sure it stays there
        (a late duplicate delivery would push it past)."""
        start = time.monotonic()
        while (got := await self.score(user)) != want:
            if got > want:
                raise CheckFailed(f"{user} has {got} karma, more than {want}: something counted twice; "
                                  f"{self.synapse_stored(f'@{user}++')}")
            if time.monotonic() - start > within:
                raise CheckFailed(f"{user} has {got} karma after {within:.0f}s, want {want}; "
                                  f"{self.synapse_stored(f'@{user}++')}; {self.synapse_backlog()}")
            await asyncio.sleep(0.5)
        reached = time.monotonic() - start
        await asyncio.sleep(hold)
        if (got := await self.score(user)) != want:
            raise CheckFailed(f"{user} reached {want} karma, then {got} {hold:.0f}s later")
        return f"{user}={want} {reached:.1f}s after the burst, still {want} {hold:.0f}s later"

    async def burst(self, senders: list[str], each: int, text: str, after: int | None = None, disrupt=None):
        """`each` messages from every sender, concurrently across senders;
        once `after` of them were accepted, `disrupt()` runs beside them."""
        sent = 0

        async def send_all(user: User):
            nonlocal sent
            for _ in range(each):
                await user.send_reliably(text)
                sent += 1

        async def disrupt_later():
            while sent < after:
                await asyncio.sleep(0.01)
            print(f"  {sent} sent, disrupting")
            await disrupt()

        tasks = [send_all(self.users[s]) for s in senders]
        if disrupt:
            tasks.append(disrupt_later())
        await asyncio.gather(*tasks)

    async def command_answered(self, user: str, line: str, reply: str, within: float) -> float:
        """Send a command line; seconds until the karma puppet's reply shows up."""
        u = self.users[user]
        mark, start = len(u.seen), time.monotonic()
        resp = await u.send(line)
        if not isinstance(resp, RoomSendResponse):
            raise CheckFailed(f"{user} could not send {line!r}: {resp}")
        if await u.wait_message(from_puppet_saying(reply), mark, within) is None:
            raise CheckFailed(f"no {reply!r} from {KARMA_PUPPET} within {within:.0f}s of {line!r}")
        return time.monotonic() - start

    async def set_filter_mode(self, mode: str):
        await self.hangar_async("settings", "word-filter", "mode", json.dumps(mode))

    # ---- the checks, in order

    async def check_karma_4x25(self) -> str:
        senders = ["alice", "carol", "dave", "erin"]
        start = time.monotonic()
        await self.burst(senders, 25, "@bob++")
        sent = time.monotonic() - start
        return f"100 sent in {sent:.1f}s; " + await self.expect_score("bob", 100, within=60)

    async def check_word_filter_mask(self) -> str:
        bob, mark = self.users["bob"], len(self.users["bob"].seen)
        resp = await self.users["alice"].send("darn it")
        if not isinstance(resp, RoomSendResponse):
            raise CheckFailed(f"'darn it' was refused: {resp}")
        seen = await bob.wait_message(lambda ev: ev.get("event_id") == resp.event_id, mark, within=15)
        if seen is None:
            raise CheckFailed("bob never saw alice's 'darn it'")
        content = seen[1]["content"]
        if content.get("body") != "**** it":
            raise CheckFailed(f"bob saw {content!r}, want body '**** it'")
        return f"bob saw {json.dumps(content)}"

    async def check_word_filter_veto(self) -> str:
        await self.set_filter_mode("block")
        try:
            marks = {n: len(u.seen) for n, u in self.users.items()}
            resp = await self.users["alice"].send("heck no")
            if not isinstance(resp, RoomSendError) or resp.status_code != "M_FORBIDDEN":
                raise CheckFailed(f"'heck no' in block mode gave {resp}, want RoomSendError M_FORBIDDEN")
            await asyncio.sleep(3)  # give a wrongly stored event time to show up
            for name, u in self.users.items():
                leaked = [body(ev) for _, ev in u.seen[marks[name]:] if body(ev) in ("heck no", "**** no")]
                if leaked:
                    raise CheckFailed(f"{name} saw {leaked} although it was vetoed")
            return f"{resp.status_code}: {resp.message}; nobody saw it in 3 s"
        finally:
            await self.set_filter_mode("mask")

    async def check_command_by_puppet(self) -> str:
        bang = await self.command_answered("carol", "!karma bob", "bob has 100 karma", within=30)
        slash = await self.command_answered("carol", "/karma bob", "bob has 100 karma", within=30)
        return f"'!karma bob' answered in {bang * 1000:.0f} ms, '/karma bob' in {slash * 1000:.0f} ms"

    async def check_synapse_restart(self) -> str:
        restart = {}

        async def crash_synapse():
            self.h.kill("synapse")
            restart["up"] = await self.start_synapse()

        await self.burst(["alice", "bob", "dave", "erin"], 10, "@carol++", after=15, disrupt=crash_synapse)
        return f"Synapse back in {restart['up']:.1f}s; " + await self.expect_score("carol", 40, within=90)

    async def check_hangar_sigkill(self) -> str:
        restart = {}

        async def crash_hangar():
            self.h.kill("hangar-serve")
            await asyncio.sleep(1)
            restart["up"] = await self.start_hangar()

        await self.burst(["alice", "carol", "dave", "erin"], 25, "@bob++", after=30, disrupt=crash_hangar)
        # Synapse retries the failed transaction with backoff (2, 4, 8... s).
        return f"hangar back in {restart['up']:.1f}s; " + await self.expect_score("bob", 200, within=120)

    async def check_fail_open(self) -> str:
        self.h.stop("hangar-serve")
        try:
            bob, mark = self.users["bob"], len(self.users["bob"].seen)
            resp = await self.users["alice"].send("darn again")
            if not isinstance(resp, RoomSendResponse):
                raise CheckFailed(f"with Hangar down 'darn again' was refused: {resp} (the module is fail-open)")
            seen = await bob.wait_message(lambda ev: ev.get("event_id") == resp.event_id, mark, within=15)
            if seen is None or body(seen[1]) != "darn again":
                raise CheckFailed(f"bob saw {seen and seen[1]['content']!r}, want body 'darn again'")
        finally:
            await self.start_hangar()
        # The reply may wait for Synapse's next retry of the transactions it
        # could not deliver while Hangar was down (backoff 2, 4, 8... s).
        took = await self.command_answered("carol", "!karma bob", "bob has 200 karma", within=60)
        return f"stored unmasked with Hangar down; after its restart '!karma bob' answered in {took:.1f}s"

    async def check_latency(self) -> str:
        rounds = 30
        carol = self.users["carol"]
        command = [1000 * await self.command_answered("carol", "!karma bob", "bob has 200 karma", 30)
                   for _ in range(rounds)]
        synapse = await self.synapse_round_trips(carol, rounds)
        result = {
            "rounds": rounds,
            "command_reply_ms": {"median": statistics.median(command), "p90": percentile(command, 90),
                                 "samples": command},
            "synapse_round_trip_ms": {"median": statistics.median(synapse), "p90": percentile(synapse, 90),
                                      "samples": synapse},
        }
        path = self.work / "latency.json"
        path.write_text(json.dumps(result, indent=2))
        print(f"  latency written to {path}")
        c, s = result["command_reply_ms"], result["synapse_round_trip_ms"]
        return (f"n={rounds}: '!karma bob' -> puppet reply median {c['median']:.0f} ms p90 {c['p90']:.0f} ms; "
                f"Synapse send -> own sync median {s['median']:.0f} ms p90 {s['p90']:.0f} ms")

    async def synapse_round_trips(self, user: User, rounds: int) -> list[float]:
        """Synapse's own round trip: a plain message until the sender's own
        sync shows it, in ms."""
        samples, token = [], uuid.uuid4().hex[:8]
        for i in range(rounds):
            text, mark, start = f"ping {i} {token}", len(user.seen), time.monotonic()
            resp = await user.send(text)
            if not isinstance(resp, RoomSendResponse):
                raise CheckFailed(f"{user.name} could not send {text!r}: {resp}")
            seen = await user.wait_message(lambda ev: body(ev) == text, mark, within=30)
            if seen is None:
                raise CheckFailed(f"{user.name} never saw its own {text!r}")
            samples.append(1000 * (seen[0] - start))
        return samples

    async def check_synapse_smoke(self) -> str:
        """--synapse-only: messages flow between real clients."""
        bob, mark = self.users["bob"], len(self.users["bob"].seen)
        event_id = await self.users["alice"].send_reliably("hello bob")
        if await bob.wait_message(lambda ev: ev.get("event_id") == event_id, mark, within=15) is None:
            raise CheckFailed("bob never saw alice's message")
        samples = await self.synapse_round_trips(self.users["carol"], 30)
        return (f"bob saw alice's message; Synapse send -> own sync n=30 median "
                f"{statistics.median(samples):.0f} ms p90 {percentile(samples, 90):.0f} ms")

    # ---- running it all

    async def check(self, name: str, run) -> bool:
        try:
            details = await run()
        except Exception as e:
            why = str(e) if isinstance(e, CheckFailed) else f"{type(e).__name__}: {e}"
            print(f"FAIL {name}: {why}", flush=True)
            self.h.print_tails()
            self.failures += 1
            return False
        print(f"PASS {name} ({details})", flush=True)
        return True

    async def setup(self) -> str:
        start = time.monotonic()
        if not self.args.synapse_only:
            self.setup_hangar()
        self.configure_synapse()
        synapse_up = await self.start_synapse()
        details = f"Synapse up in {synapse_up:.1f}s"
        if not self.args.synapse_only:
            details += f", hangar serve in {await self.start_hangar():.1f}s"
        await self.setup_clients()
        return f"{details}; setup took {time.monotonic() - start:.1f}s"

    async def run(self) -> bool:
        try:
            if not await self.check("setup", self.setup):
                return False
            if self.args.synapse_only:
                checks = [("synapse-smoke", self.check_synapse_smoke)]
            else:
                checks = [
                    ("karma-4x25", self.check_karma_4x25),
                    ("word-filter-mask", self.check_word_filter_mask),
                    ("word-filter-veto", self.check_word_filter_veto),
                    ("command-by-puppet", self.check_command_by_puppet),
                    ("synapse-restart", self.check_synapse_restart),
                    ("hangar-sigkill", self.check_hangar_sigkill),
                    ("fail-open", self.check_fail_open),
                    ("latency", self.check_latency),
                ]
            for name, run in checks:
                await self.check(name, run)
            return self.failures == 0
        finally:
            await self.close_clients()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hangar", default=str(REPO / "target/debug/hangar"), help="the hangar binary")
    parser.add_argument("--apps", help="directory with karma.wasm and word_filter.wasm")
    parser.add_argument("--synapse-only", action="store_true", help="leave Hangar out: check the Synapse half alone")
    args = parser.parse_args()
    if not args.synapse_only and not args.apps:
        parser.error("--apps is required (or --synapse-only)")

    work = REPO / "target" / "matrix-e2e" / time.strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    print(f"work dir: {work}", flush=True)
    # SIGTERM to this script still stops the servers (via the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    harness = Harness(work)
    start = time.monotonic()
    try:
        ok = asyncio.run(E2E(args, harness).run())
    finally:
        harness.stop_all()
    print(f"{'all checks passed' if ok else 'FAILED'} in {time.monotonic() - start:.0f}s; files in {work}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

"""Tests for hangar_synapse.HangarPreSend.

Run: cd host/matrix && python -m unittest -v test_hangar_synapse
 or: python -m unittest discover -s host/matrix -v   (from the repo root)

Most tests replace the module's `_post` with an async fake and drive the
callback with asyncio.run: the module's own logic is plain async Python and
awaits nothing else. `RealHttpTest` runs the default `_post` (Synapse's
SimpleHttpClient, timeout_deferred, run_in_background) on the Twisted reactor
in a thread against a loopback http.server; it needs the venv with Synapse.
"""

import asyncio
import http.server
import json
import logging
import threading
import time
import types
import unittest

import hangar_synapse
from hangar_synapse import HangarPreSend

try:
    from synapse.module_api.errors import ConfigError
except ImportError:  # plain python3 without the venv: the module falls back to ValueError
    ConfigError = ValueError
try:
    from twisted.internet.defer import TimeoutError as TwistedTimeout
except ImportError:
    TwistedTimeout = TimeoutError
try:
    import synapse  # noqa: F401

    HAVE_SYNAPSE = True
except ImportError:
    HAVE_SYNAPSE = False

URL = "http://127.0.0.1:9009/_hangar/pre-send"
BASE = {"url": URL, "secret": "s3cret"}
CUSTOM = "org.hangar.custom_fields"


class FakeApi:
    """The parts of synapse.module_api.ModuleApi the module uses."""

    def __init__(self, http_client=None, hs=None):
        self.callbacks = None
        self.http_client = http_client
        self._hs = hs

    def register_third_party_rules_callbacks(self, **kwargs):
        self.callbacks = kwargs

    def is_mine(self, user_id):
        return user_id.endswith(":localhost")


class FakeEvent:
    def __init__(self, content=None, sender="@alice:localhost", type="m.room.message", state_key=None):
        self.event_id = "$ev1"
        self.room_id = "!room:localhost"
        self.sender = sender
        self.type = type
        self.state_key = state_key
        self.content = {"msgtype": "m.text", "body": "hello"} if content is None else content

    def is_state(self):
        return self.state_key is not None

    def get_dict(self):
        d = {"room_id": self.room_id, "sender": self.sender, "type": self.type,
             "content": dict(self.content), "origin_server_ts": 1, "unsigned": {}}
        if self.state_key is not None:
            d["state_key"] = self.state_key
        return d


class FakePost:
    """Records calls; answers with `answer` or raises it if it is an exception."""

    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    async def __call__(self, url, body, headers, timeout_s):
        self.calls.append((url, body, headers, timeout_s))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def make(answer={"action": "allow"}, **config):
    api = FakeApi()
    module = HangarPreSend(HangarPreSend.parse_config({**BASE, **config}), api)
    module._post = FakePost(answer)
    return module, api


def run(module, event):
    return asyncio.run(module.check_event_allowed(event, {}))


class ConfigTest(unittest.TestCase):
    def assertBad(self, config, key):
        with self.assertRaises(ConfigError) as cm:
            HangarPreSend.parse_config(config)
        self.assertIn(repr(key), str(cm.exception.msg if hasattr(cm.exception, "msg") else cm.exception))
        if hasattr(cm.exception, "path"):
            self.assertEqual(tuple(cm.exception.path), (key,))

    def test_defaults(self):
        c = HangarPreSend.parse_config(BASE)
        self.assertEqual((c.url, c.secret, c.timeout_ms, c.fail_closed, c.skip_senders), (URL, "s3cret", 1000, False, None))

    def test_all_keys(self):
        c = HangarPreSend.parse_config({**BASE, "timeout_ms": 60000, "fail_closed": True, "skip_senders": "^@hangar(_.*)?:localhost$"})
        self.assertEqual((c.timeout_ms, c.fail_closed), (60000, True))
        self.assertTrue(c.skip_senders.match("@hangar_bot:localhost"))

    def test_missing_url_or_secret(self):
        self.assertBad({"secret": "x"}, "url")
        self.assertBad({"url": "ftp://x", "secret": "x"}, "url")
        self.assertBad({"url": URL}, "secret")
        self.assertBad({"url": URL, "secret": ""}, "secret")
        self.assertBad({"url": URL, "secret": "a b"}, "secret")

    def test_bad_timeout(self):
        for value in (0, 60001, "1000", 1.5, True):
            self.assertBad({**BASE, "timeout_ms": value}, "timeout_ms")

    def test_bad_fail_closed_regex_and_unknown_key(self):
        self.assertBad({**BASE, "fail_closed": "yes"}, "fail_closed")
        self.assertBad({**BASE, "skip_senders": "(unclosed"}, "skip_senders")
        self.assertBad({**BASE, "skip_senders": 5}, "skip_senders")
        self.assertBad({**BASE, "timeout": 5}, "timeout")

    @unittest.skipUnless(HAVE_SYNAPSE, "needs Synapse")
    def test_synapse_loader(self):
        from synapse.util.module_loader import load_module

        cls, parsed = load_module({"module": "hangar_synapse.HangarPreSend", "config": BASE}, ("modules", "<item 0>"))
        self.assertIs(cls, HangarPreSend)
        self.assertEqual(parsed.url, URL)
        with self.assertRaises(ConfigError) as cm:
            load_module({"module": "hangar_synapse.HangarPreSend", "config": {**BASE, "timeout_ms": 0}}, ("modules", "<item 0>"))
        self.assertEqual(tuple(cm.exception.path), ("modules", "<item 0>", "config", "timeout_ms"))


class VerdictTest(unittest.TestCase):
    def test_registers_callback(self):
        module, api = make()
        self.assertEqual(list(api.callbacks), ["check_event_allowed"])
        self.assertEqual(api.callbacks["check_event_allowed"], module.check_event_allowed)

    def test_allow(self):
        module, _ = make({"action": "allow"})
        self.assertEqual(run(module, FakeEvent()), (True, None))

    def test_prevent(self):
        module, _ = make({"action": "prevent", "reason": "forbidden word"})
        try:
            from synapse.api.errors import SynapseError
        except ImportError:
            self.assertEqual(run(module, FakeEvent()), (False, None))
            return
        # Under Synapse the client reads the apps' reason with its 403.
        with self.assertRaises(SynapseError) as refused:
            run(module, FakeEvent())
        self.assertEqual((refused.exception.code, refused.exception.errcode), (403, "M_FORBIDDEN"))
        self.assertIn("forbidden word", refused.exception.msg)

    def test_modify(self):
        new = {"msgtype": "m.text", "body": "d**n it", CUSTOM: {"word-filter": {"masked": 1}}}
        module, _ = make({"action": "modify", "content": new})
        ok, replacement = run(module, FakeEvent({"msgtype": "m.text", "body": "darn it"}))
        self.assertTrue(ok)
        self.assertEqual(replacement["content"], new)
        self.assertEqual(replacement["content"][CUSTOM], {"word-filter": {"masked": 1}})
        for key in ("room_id", "type", "sender", "origin_server_ts"):
            self.assertEqual(replacement[key], FakeEvent().get_dict()[key])
        self.assertNotIn("state_key", replacement)

    def test_request_body_and_headers(self):
        module, _ = make(timeout_ms=250)
        content = {"msgtype": "m.text", "body": "hi", "m.mentions": {"user_ids": ["@b:localhost"]}}
        run(module, FakeEvent(content))
        [(url, body, headers, timeout_s)] = module._post.calls
        self.assertEqual(url, URL)
        self.assertEqual(body, {"event_id": "$ev1", "room_id": "!room:localhost", "sender": "@alice:localhost",
                                "type": "m.room.message", "content": content})
        self.assertEqual(headers, {b"Authorization": [b"Bearer s3cret"]})
        self.assertEqual(timeout_s, 0.25)

    def test_not_sent(self):
        cases = {
            "other type": FakeEvent(type="m.reaction"),
            "state event": FakeEvent(state_key=""),
            "remote sender": FakeEvent(sender="@bob:elsewhere.org"),
            "skipped sender": FakeEvent(sender="@hangar_bot:localhost"),
            "skipped AS sender": FakeEvent(sender="@hangar:localhost"),
            "edit": FakeEvent({"msgtype": "m.text", "body": "* x", "m.new_content": {"body": "x"},
                               "m.relates_to": {"rel_type": "m.replace", "event_id": "$old"}}),
        }
        for name, event in cases.items():
            with self.subTest(name):
                module, _ = make({"action": "prevent"}, fail_closed=True, skip_senders="^@hangar(_.*)?:localhost$")
                self.assertEqual(run(module, event), (True, None))
                self.assertEqual(module._post.calls, [])

    def test_sent_when_not_matching_skip_or_edit(self):
        for event in (FakeEvent(sender="@hangarfan:localhost"),
                      FakeEvent({"body": "> quote", "m.relates_to": {"m.in_reply_to": {"event_id": "$x"}}})):
            module, _ = make({"action": "allow"}, skip_senders="^@hangar(_.*)?:localhost$")
            self.assertEqual(run(module, event), (True, None))
            self.assertEqual(len(module._post.calls), 1)

    def test_failures(self):
        failures = {
            "exception": ConnectionRefusedError("refused"),
            "twisted timeout": TwistedTimeout("Timed out after 1s"),
            "asyncio timeout": asyncio.TimeoutError(),
            "bad json": ValueError("Expecting value"),
            "non-dict answer": ["allow"],
            "null answer": None,
            "unknown action": {"action": "maybe"},
            "missing action": {},
            "modify without content": {"action": "modify"},
            "modify with list content": {"action": "modify", "content": ["x"]},
        }
        for name, answer in failures.items():
            for fail_closed, expected in ((False, (True, None)), (True, (False, None))):
                with self.subTest(name, fail_closed=fail_closed):
                    module, _ = make(answer, fail_closed=fail_closed)
                    with self.assertLogs("hangar_synapse", "WARNING") as logs:
                        self.assertEqual(run(module, FakeEvent()), expected)
                    self.assertIn(URL, logs.output[0])
                    self.assertIn("refusing" if fail_closed else "allowing", logs.output[0])

    def test_timeout_kind(self):
        module, _ = make(TwistedTimeout("Timed out after 1s"))
        with self.assertLogs("hangar_synapse", "WARNING") as logs:
            run(module, FakeEvent())
        self.assertIn("(timeout: ", logs.output[0])

    def test_warning_rate_limited(self):
        module, _ = make(ConnectionRefusedError("refused"))
        now = [100.0]
        module._now = lambda: now[0]
        with self.assertLogs("hangar_synapse", "WARNING") as logs:
            for t in (100.0, 101.0, 109.9):
                now[0] = t
                run(module, FakeEvent())
            module._post.answer = {"action": "nope"}  # another kind: logged at once
            run(module, FakeEvent())
            module._post.answer = ConnectionRefusedError("refused")
            now[0] = 110.5
            run(module, FakeEvent())
        self.assertEqual(len(logs.output), 3, logs.output)
        self.assertIn("ConnectionRefusedError", logs.output[0])
        self.assertIn("0 similar warnings suppressed", logs.output[0])
        self.assertIn("BadAnswer", logs.output[1])
        self.assertIn("2 similar warnings suppressed", logs.output[2])

    @unittest.skipUnless(HAVE_SYNAPSE, "needs Synapse")
    def test_real_synapse_event(self):
        from synapse.api.room_versions import RoomVersions
        from synapse.events import make_event_from_dict

        event = make_event_from_dict({
            "type": "m.room.message", "room_id": "!r:localhost", "sender": "@alice:localhost",
            "content": {"msgtype": "m.text", "body": "darn", "x": [{"y": 1}]},
            "origin_server_ts": 1, "depth": 3, "prev_events": [], "auth_events": [],
            "hashes": {"sha256": "abc"}, "signatures": {},
        }, RoomVersions.V10)
        new = {"msgtype": "m.text", "body": "d**n", CUSTOM: {"f": {"masked": 1}}}
        module, _ = make({"action": "modify", "content": new})
        ok, replacement = run(module, event)
        body = module._post.calls[0][1]
        self.assertEqual(json.loads(json.dumps(body))["content"], {"msgtype": "m.text", "body": "darn", "x": [{"y": 1}]})
        self.assertEqual(body["event_id"], event.event_id)
        self.assertTrue(ok)
        self.assertEqual(replacement["content"], new)
        self.assertEqual((replacement["room_id"], replacement["type"], replacement["sender"]),
                         ("!r:localhost", "m.room.message", "@alice:localhost"))


class Handler(http.server.BaseHTTPRequestHandler):
    """Loopback stand-in for Hangar's endpoint; the path picks the behaviour."""

    requests = []

    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        Handler.requests.append((self.path, self.headers["Authorization"], self.headers["Content-Type"], raw))
        if self.path == "/slow":
            time.sleep(1.5)
        status, out = 200, json.dumps({"action": "allow"}).encode()
        if self.path == "/modify":
            out = json.dumps({"action": "modify", "content": {"body": "d**n", CUSTOM: {"f": 1}}}).encode()
        elif self.path == "/prevent":
            out = b'{"action": "prevent", "reason": "no"}'
        elif self.path == "/500":
            status, out = 500, b'{"error": "boom"}'
        elif self.path == "/notjson":
            out = b"<html>"
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            # Without this Twisted pools the connection that this HTTP/1.0 server
            # closes, and the next POST on it may fail with ResponseNeverReceived.
            self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except OSError:
            pass  # the client gave up (timeout test)

    def log_message(self, *args):
        pass


@unittest.skipUnless(HAVE_SYNAPSE, "needs Synapse and Twisted")
class RealHttpTest(unittest.TestCase):
    """The default _post with Synapse's real SimpleHttpClient over loopback.

    SimpleHttpClient only needs a few homeserver attributes, so a stand-in `hs`
    is enough. The global reactor runs in a thread; it cannot be restarted, so
    this is the only test class that runs it.
    """

    @classmethod
    def setUpClass(cls):
        from synapse.http.client import SimpleHttpClient
        from synapse.util.clock import Clock
        from twisted.internet import reactor
        from twisted.internet.threads import blockingCallFromThread

        cls.reactor, cls.call = reactor, staticmethod(blockingCallFromThread)
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        cls.server.daemon_threads = True
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.reactor_thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True)
        cls.reactor_thread.start()
        clock = Clock(reactor, server_name="localhost")
        config = types.SimpleNamespace(server=types.SimpleNamespace(user_agent_suffix=None, proxy_config=None),
                                       caches=types.SimpleNamespace(global_factor=1.0))
        cls.hs = types.SimpleNamespace(hostname="localhost", version_string="Synapse/test", config=config,
                                       get_reactor=lambda: reactor, get_clock=lambda: clock,
                                       get_http_client_context_factory=lambda: None)
        cls.client = cls.call(reactor, lambda: SimpleHttpClient(cls.hs))

    @classmethod
    def tearDownClass(cls):
        cls.reactor.callFromThread(cls.reactor.stop)
        cls.reactor_thread.join(10)
        cls.server.shutdown()
        cls.server.server_close()

    def check(self, path, fail_closed=True, timeout_ms=1000, port=None):
        from twisted.internet import defer

        url = "http://127.0.0.1:%d%s" % (port or self.server.server_port, path)
        api = FakeApi(http_client=self.client, hs=self.hs)
        module = HangarPreSend(HangarPreSend.parse_config(
            {"url": url, "secret": "s3cret", "timeout_ms": timeout_ms, "fail_closed": fail_closed}), api)
        event = FakeEvent({"msgtype": "m.text", "body": "darn"})
        return self.call(self.reactor, lambda: defer.ensureDeferred(module.check_event_allowed(event, {})))

    def test_allow_sends_body_and_header(self):
        Handler.requests.clear()
        self.assertEqual(self.check("/allow"), (True, None))
        [(path, auth, ctype, raw)] = Handler.requests
        self.assertEqual((path, auth, ctype), ("/allow", "Bearer s3cret", "application/json"))
        self.assertEqual(json.loads(raw), {"event_id": "$ev1", "room_id": "!room:localhost", "sender": "@alice:localhost",
                                           "type": "m.room.message", "content": {"msgtype": "m.text", "body": "darn"}})

    def test_prevent_and_modify(self):
        from synapse.api.errors import SynapseError
        with self.assertRaises(SynapseError) as refused:
            self.check("/prevent")
        self.assertEqual(refused.exception.errcode, "M_FORBIDDEN")
        ok, new = self.check("/modify")
        self.assertTrue(ok)
        self.assertEqual(new["content"], {"body": "d**n", CUSTOM: {"f": 1}})

    def test_timeout(self):
        with self.assertLogs("hangar_synapse", "WARNING") as logs:
            start = time.monotonic()
            self.assertEqual(self.check("/slow", timeout_ms=200), (False, None))
            self.assertLess(time.monotonic() - start, 1.2)
            self.assertEqual(self.check("/slow", fail_closed=False, timeout_ms=200), (True, None))
        self.assertIn("(timeout: ", logs.output[0])

    def test_http_error_bad_json_refused(self):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed_port = s.getsockname()[1]
        with self.assertLogs("hangar_synapse", "WARNING") as logs:
            self.assertEqual(self.check("/500"), (False, None))
            self.assertEqual(self.check("/notjson"), (False, None))
            self.assertEqual(self.check("/x", port=closed_port), (False, None))
            self.assertEqual(self.check("/x", port=closed_port, fail_closed=False), (True, None))
        text = "\n".join(logs.output)
        for kind in ("HttpResponseException", "JSONDecodeError", "ConnectionRefusedError"):
            self.assertIn(kind, text)


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    unittest.main()

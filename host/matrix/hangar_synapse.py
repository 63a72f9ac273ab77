"""Synapse module that asks Hangar about a local message before it is stored.

Synapse calls `check_event_allowed` for every event a local user creates. For
plain `m.room.message` events from local users this module POSTs the event to
Hangar's pre-send endpoint and maps the answer back:

    {"action": "allow"}                   -> stored as sent
    {"action": "prevent", "reason": "..."} -> refused, the client gets 403 M_FORBIDDEN
    {"action": "modify", "content": {...}} -> stored with the new content

Anything else (no answer within `timeout_ms`, connection error, HTTP error,
bad JSON, unknown answer) lets the event through, or refuses it if
`fail_closed` is true. Enable it in homeserver.yaml:

    modules:
      - module: hangar_synapse.HangarPreSend
        config:
          url: http://127.0.0.1:9009/_hangar/pre-send
          secret: "..."            # sent as "Authorization: Bearer <secret>"
          timeout_ms: 1000         # 1..60000, default 1000
          fail_closed: false       # default false
          skip_senders: "^@hangar(_.*)?:localhost$"   # optional, re.match

What Hangar's endpoint must know:
- A "modify" content replaces the whole content (keep "m.relates_to" for
  replies and threads). Synapse rebuilds the event from it, so the stored
  event gets a new event_id: the "event_id" sent here is only a draft's.
- Edits (rel_type m.replace), other event types, state events, remote senders
  and skip_senders are allowed without asking. Without skip_senders, the app
  service's own messages are sent here too, so answer them without waiting
  on Synapse.
- Synapse keeps idle connections to the endpoint for 2 minutes and does not
  retry a POST on a connection the server has closed. Answer with
  "Connection: close", or keep idle connections open longer than that.
"""

import inspect
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional, Pattern

logger = logging.getLogger(__name__)

WARN_INTERVAL_S = 10.0
_KEYS = ("url", "secret", "timeout_ms", "fail_closed", "skip_senders")


def _config_error(key: str, message: str) -> Exception:
    """Synapse's ConfigError when Synapse is importable, ValueError otherwise."""
    text = "hangar_synapse: %r %s" % (key, message)
    try:
        from synapse.module_api.errors import ConfigError
    except ImportError:
        return ValueError(text)
    return ConfigError(text, (key,))


def _plain(value: Any) -> Any:
    """Copy Synapse's immutable JSON values into plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Prevented(Exception):
    """Hangar's apps prevented the message, saying why."""

    def __init__(self, reason: Any):
        super().__init__(reason)
        self.reason = reason if isinstance(reason, str) and reason else "a Hangar app prevented it"


def _refuse(reason: str) -> "tuple[bool, Optional[dict]]":
    """Refuse the event. Under Synapse the client gets 403 M_FORBIDDEN with
    the apps' reason (a SynapseError passes through the module API as is);
    without Synapse (the tests' plain Python) the plain refusal."""
    try:
        from synapse.api.errors import Codes, SynapseError
    except ImportError:
        return False, None
    raise SynapseError(403, "Message not sent: %.300s" % (reason,), Codes.FORBIDDEN)


class BadAnswer(Exception):
    """Hangar answered, but not with something this module understands."""


@dataclass(frozen=True)
class PreSendConfig:
    url: str
    secret: str
    timeout_ms: int = 1000
    fail_closed: bool = False
    skip_senders: Optional[Pattern] = None


class HangarPreSend:
    """Registers a `check_event_allowed` callback that consults Hangar."""

    def __init__(self, config: PreSendConfig, api: Any):
        self._config = config
        self._api = api
        self._headers = {b"Authorization": [b"Bearer " + config.secret.encode("ascii")]}
        self._post = self._post_with_synapse  # tests replace this
        self._now = time.monotonic  # tests replace this
        self._last_warned: dict = {}  # error kind -> time of last warning
        self._suppressed: dict = {}  # error kind -> warnings skipped since
        api.register_third_party_rules_callbacks(check_event_allowed=self.check_event_allowed)

    @staticmethod
    def parse_config(config: Any) -> PreSendConfig:
        """Check the `config:` block from homeserver.yaml; raise on the first bad key."""
        if not isinstance(config, Mapping):
            raise _config_error("config", "must be a mapping with at least url and secret")
        for key in config:
            if key not in _KEYS:
                raise _config_error(key, "is not a known key; expected one of %s" % ", ".join(_KEYS))
        url = config.get("url")
        if not isinstance(url, str) or not re.match(r"https?://[^/\s]+", url):
            raise _config_error("url", "is required: an http:// or https:// URL, got %r" % (url,))
        secret = config.get("secret")
        if not isinstance(secret, str) or not re.fullmatch(r"[\x21-\x7e]+", secret):
            raise _config_error("secret", "is required: a non-empty string of printable ASCII without spaces")
        timeout_ms = config.get("timeout_ms", 1000)
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or not 1 <= timeout_ms <= 60000:
            raise _config_error("timeout_ms", "must be an integer from 1 to 60000, got %r" % (timeout_ms,))
        fail_closed = config.get("fail_closed", False)
        if not isinstance(fail_closed, bool):
            raise _config_error("fail_closed", "must be true or false, got %r" % (fail_closed,))
        skip = config.get("skip_senders")
        if skip is not None:
            if not isinstance(skip, str):
                raise _config_error("skip_senders", "must be a regular expression string, got %r" % (skip,))
            try:
                skip = re.compile(skip)
            except re.error as e:
                raise _config_error("skip_senders", "is not a valid regular expression: %s" % e)
        return PreSendConfig(url, secret, timeout_ms, fail_closed, skip)

    def _should_ask(self, event: Any) -> bool:
        """Only new local, non-state m.room.message events that are not edits."""
        if event.type != "m.room.message" or event.is_state():
            return False
        if not self._api.is_mine(event.sender):
            return False  # also keeps federated knocks etc. out of Hangar
        skip = self._config.skip_senders
        if skip is not None and skip.match(event.sender):
            return False
        relates_to = event.content.get("m.relates_to")
        return not (isinstance(relates_to, Mapping) and relates_to.get("rel_type") == "m.replace")

    async def check_event_allowed(self, event: Any, state_events: Any) -> "tuple[bool, Optional[dict]]":
        """Synapse callback: (False, None) refuses, (True, dict) replaces the event."""
        if not self._should_ask(event):
            return True, None
        body = {
            "event_id": event.event_id,
            "room_id": event.room_id,
            "sender": event.sender,
            "type": event.type,
            "content": _plain(event.content),
        }
        try:
            answer = await self._post(self._config.url, body, self._headers, self._config.timeout_ms / 1000.0)
            return self._verdict(answer, event)
        except Prevented as p:
            return _refuse(p.reason)
        except Exception as e:
            return self._fail(e)

    @staticmethod
    def _verdict(answer: Any, event: Any) -> "tuple[bool, Optional[dict]]":
        if not isinstance(answer, dict):
            raise BadAnswer("answer is not a JSON object: %.200r" % (answer,))
        action = answer.get("action")
        if action == "allow":
            return True, None
        if action == "prevent":
            logger.info("Hangar prevented %s: %s", event.event_id, answer.get("reason"))
            raise Prevented(answer.get("reason"))
        if action == "modify":
            content = answer.get("content")
            if not isinstance(content, dict):
                raise BadAnswer("'modify' answer without a content object")
            new_event = event.get_dict()  # room_id, type, state_key and sender unchanged
            new_event["content"] = content
            return True, new_event
        raise BadAnswer("unknown action %.100r" % (action,))

    def _fail(self, error: Exception) -> "tuple[bool, Optional[dict]]":
        """Apply fail_closed and log a warning, at most one per error kind per 10 s."""
        closed = self._config.fail_closed
        kind = type(error).__name__  # e.g. HttpResponseException, ConnectionRefusedError
        if kind == "TimeoutError":  # builtin, asyncio's or Twisted's
            kind = "timeout"
        now = self._now()
        last = self._last_warned.get(kind)
        if last is not None and now - last < WARN_INTERVAL_S:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
        else:
            self._last_warned[kind] = now
            logger.warning(
                "Hangar pre-send %s failed (%s: %s); %s the event (fail_closed=%s, %d similar warnings suppressed)",
                self._config.url, kind, error, "refusing" if closed else "allowing", closed,
                self._suppressed.pop(kind, 0),
            )
        return (False, None) if closed else (True, None)

    async def _post_with_synapse(self, url: str, body: dict, headers: dict, timeout_s: float) -> Any:
        """POST with Synapse's http_client under a Twisted deadline; needs a running homeserver.

        Raises TimeoutError after timeout_s, HttpResponseException on a non-2xx
        status, ValueError on a body that is not JSON, Twisted errors otherwise.
        """
        from synapse.module_api import make_deferred_yieldable, run_in_background
        from synapse.util.async_helpers import timeout_deferred
        from twisted.internet import defer

        request = run_in_background(self._api.http_client.post_json_get_json, url, body, headers=headers)
        # Cancelling Synapse's request makes it fail with IndexError (its error log
        # reads e.args[0] of an empty CancelledError), not CancelledError, so note
        # ourselves that the deadline passed.
        timed_out = []

        def cancel(_: Any) -> None:
            timed_out.append(True)
            request.cancel()

        d = defer.Deferred(cancel)
        request.chainDeferred(d)
        hs = self._api._hs  # ModuleApi has no public clock or reactor
        if "clock" in inspect.signature(timeout_deferred).parameters:
            d = timeout_deferred(deferred=d, timeout=timeout_s, clock=hs.get_clock())
        else:  # older Synapse: timeout_deferred(deferred, timeout, reactor); not tested here
            d = timeout_deferred(d, timeout_s, hs.get_reactor())
        try:
            return await make_deferred_yieldable(d)
        except Exception as e:
            if timed_out:
                raise TimeoutError("no answer within %g s" % timeout_s) from e
            raise

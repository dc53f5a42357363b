"""A fake Slack on 127.0.0.1 that speaks the real wire protocols slack_sdk / slack_bolt use.

What it serves:
- Web API: `GET|POST /api/<method>` (form, query or JSON bodies; `Authorization: Bearer` checked
  against the configured bot token, `invalid_auth` otherwise). Implemented: `auth.test`,
  `apps.connections.open` (needs the xapp- token), `chat.postMessage`, `chat.update`,
  `chat.postEphemeral`, `users.info`, `conversations.replies`, `conversations.info`, and the
  AI-app methods of `tests.fakes.slack_ai_app` (streaming, assistant threads, `views.publish`).
  Anything else answers `{"ok": false, "error": "unknown_method"}` and is recorded.
- `POST /response/<id>`: the response_url of slash commands and block actions.
- Socket Mode: `GET /socket-mode` websocket; sends `hello`, pushes envelopes, records acks.
- A client for the bot's HTTP mode: signed requests (v0 signature; can forge, omit, go stale).

Typical use::

    async with FakeSlack() as slack:
        settings = Settings(slack_api_url=slack.api_url, slack_bot_token=slack.bot_token,
                            slack_app_token=slack.app_token, ...)
        ...  # start the adapter
        await slack.wait_connected()
        ts = await slack.send_message("C1", "<@UBOT> hi", user="U1")
        [reply] = await slack.wait_for_messages(channel="C1", thread_ts=ts, count=1)

Helpers, by purpose:
- world: `add_user`, `add_channel`, `seed_thread`, `new_ts`, `fail_next(method, error)`.
- acting as people: `send_message` (both events for a mention, like Slack), `send_event`
  (+ `message_event`, `event_callback` builders; `event_id`/`retry_attempt` for redelivery),
  `send_slash_command`, `click(blocks, action_id, user=...)`, `push_envelope` (raw).
- the connection: `wait_connected(connections=n)`, `drop_socket(graceful=...)`,
  `redeliver_unacked()`, `wait_for_ack`, `unacked()`, `connections_opened`, `sockets_opened`.
- several connections (one app, several processes): `spread = True` sends each envelope to
  the next open connection in turn, as Slack does; `push_envelope(connection=i)` picks one;
  `wait_open(n)`, `open_connections`; `redeliver(envelope)` sends the same event again with
  a new envelope id and `retry_attempt` + 1 to a different connection than the first time.
- HTTP mode: `post_signed(url, body, form=..., forge=..., omit_signature=..., stale=..., retry_num=...)`,
  `sign`, `slash_command_body`, `block_actions_body`.
- assertions: `posted` (PostedMessage: channel, ts, thread_ts, text, blocks, updates),
  `messages_in(channel, thread_ts)`, `wait_for_messages(...)`, `ephemeral`, `wait_for_ephemeral`,
  `responses` (ResponsePost: id, body) and `wait_for_responses(id)`, `calls`, `unknown_calls`.

Defaults model team "T1", bot user "UBOT" (bot id "BBOT").
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web

from tests.fakes.slack_ai_app import SlackAIApp

JsonDict = dict[str, Any]
PLACEHOLDER = "_thinking…_"  # what the bot posts first and then edits into its answer


@dataclass
class PostedMessage:
    """A message the bot posted (or later updated) through the Web API."""

    channel: str
    ts: str
    text: str
    thread_ts: str | None = None
    blocks: list[JsonDict] | None = None
    user: str = "UBOT"
    updates: int = 0  # how many times chat.update (or a stream append) changed it
    streaming: bool = False  # a chat.startStream message not yet stopped

    def as_history(self) -> JsonDict:
        message: JsonDict = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts}
        if self.user == "UBOT" or self.user.startswith("B"):
            message["bot_id"] = "BBOT"
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        return message


@dataclass
class ResponsePost:
    """One POST the bot made to a response_url (slash commands and block actions)."""

    id: str
    body: JsonDict

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))

    @property
    def blocks(self) -> list[JsonDict]:
        return list(self.body.get("blocks") or [])


@dataclass
class Envelope:
    """A Socket Mode envelope the fake pushed, and the client's ack when it came."""

    envelope_id: str
    message: JsonDict
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    ack_payload: JsonDict | None = None
    connection: int | None = None  # which websocket it went down (numbered in opening order, from 0)


class FakeSlack(SlackAIApp):
    """The fake Slack server. Use as an async context manager (or `start()` / `stop()`).

    Streaming, assistant threads and the App Home tab: `tests.fakes.slack_ai_app`.
    """

    def __init__(
        self,
        *,
        team_id: str = "T1",
        team_domain: str = "acme",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        bot_token: str = "xoxb-fake-bot-token",
        app_token: str = "xapp-fake-app-token",
        signing_secret: str = "fake-signing-secret",
        api_app_id: str = "A1",
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.api_app_id = api_app_id

        # Assertion-friendly records.
        self.posted: list[PostedMessage] = []  # chat.postMessage / chat.update, in post order
        self.ephemeral: list[JsonDict] = []  # chat.postEphemeral arguments
        self.responses: list[ResponsePost] = []  # response_url posts
        self.calls: list[str] = []  # every Web API method called, in order
        # The client (host, port) of every Web API call: one per TCP connection it used.
        self.api_peers: set[tuple[str, int]] = set()
        self.unknown_calls: list[str] = []
        self.connections_opened = 0  # apps.connections.open successes
        self.sockets_opened = 0  # websockets accepted, ever
        self.envelopes: list[Envelope] = []  # every envelope pushed, in order
        self._by_envelope_id: dict[str, Envelope] = {}

        self._failures: dict[str, list[str]] = {}
        self._users: dict[str, JsonDict] = {}
        self._channels: dict[str, JsonDict] = {}
        self._history: dict[tuple[str, str], list[JsonDict]] = {}  # (channel, thread_ts) -> seeded
        self._ts_counter = itertools.count(1)
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_numbers: dict[int, int] = {}  # id(websocket) -> its number, in opening order
        self.spread = False  # envelopes round robin over the open connections (else: the newest)
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self.add_user(bot_user_id, "memorybot", is_bot=True)
        self._init_ai_app()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{id}", self._response_url)
        app.router.add_get("/socket-mode", self._socket)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL to give the bot (`SLACK_API_URL`)."""
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------------ world setup

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        display_name: str | None = None,
        real_name: str | None = None,
        is_bot: bool = False,
    ) -> None:
        """Make `users.info` know a person (display_name defaults to `name`)."""
        self._users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name.lower().replace(" ", "."),
            "real_name": real_name if real_name is not None else name,
            "is_bot": is_bot,
            "profile": {
                "display_name": display_name if display_name is not None else name,
                "real_name": real_name if real_name is not None else name,
            },
        }

    def add_channel(self, channel: str, name: str, *, is_im: bool = False, is_private: bool = False) -> None:
        """Make `conversations.info` know a channel (unknown ids are answered generically)."""
        self._channels[channel] = {
            "id": channel,
            "name": name,
            "is_channel": not is_im and not is_private,
            "is_group": is_private,
            "is_im": is_im,
            "is_private": is_private or is_im,
        }

    def seed_thread(
        self, channel: str, messages: Iterable[tuple[str, str]], *, thread_ts: str | None = None
    ) -> str:
        """Put earlier human messages `(user, text)` in a thread; returns the thread's ts.

        Without `thread_ts` the first message becomes the thread's parent.
        """
        stored: list[JsonDict] = []
        for user, text in messages:
            ts = self.new_ts()
            thread_ts = thread_ts or ts
            stored.append({"type": "message", "user": user, "text": text, "ts": ts, "thread_ts": thread_ts})
        if thread_ts is None:
            raise ValueError("seed_thread needs messages or a thread_ts")
        self._history.setdefault((channel, thread_ts), []).extend(stored)
        return thread_ts

    def fail_next(self, method: str, error: str = "internal_error", *, times: int = 1) -> None:
        """Make the next `times` calls of a Web API method answer `{"ok": false, "error": error}`."""
        self._failures.setdefault(method, []).extend([error] * times)

    def new_ts(self) -> str:
        """A fresh, increasing message timestamp (Slack's `ts`)."""
        return f"{int(time.time())}.{next(self._ts_counter):06d}"

    # ------------------------------------------------------------------ assertion helpers

    def messages_in(self, channel: str, thread_ts: str | None = None) -> list[PostedMessage]:
        """What the bot posted in a channel (top level when `thread_ts` is None) or one thread."""
        return [m for m in self.posted if m.channel == channel and m.thread_ts == thread_ts]

    async def wait_for_messages(
        self,
        *,
        channel: str,
        thread_ts: str | None = None,
        count: int = 1,
        timeout: float = 10.0,
        settled: bool = True,
    ) -> list[PostedMessage]:
        """Wait until the bot has posted `count` messages there and returns them.

        With `settled` (default) a message still showing the `PLACEHOLDER`, or still being
        streamed (`chat.startStream` not yet stopped), does not count yet, so the caller sees
        final text.
        """

        def ready() -> list[PostedMessage] | None:
            found = self.messages_in(channel, thread_ts)
            if settled:
                found = [m for m in found if m.text != PLACEHOLDER and not m.streaming]
            return found if len(found) >= count else None

        return await self._wait(ready, timeout, f"{count} message(s) in {channel}/{thread_ts}")

    async def wait_for_responses(
        self, response_id: str, *, count: int = 1, timeout: float = 10.0
    ) -> list[ResponsePost]:
        """Wait for `count` posts to one response_url id."""

        def ready() -> list[ResponsePost] | None:
            found = [r for r in self.responses if r.id == response_id]
            return found if len(found) >= count else None

        return await self._wait(ready, timeout, f"{count} response(s) to {response_id}")

    async def wait_for_ephemeral(self, *, count: int = 1, timeout: float = 10.0) -> list[JsonDict]:
        return await self._wait(
            lambda: list(self.ephemeral) if len(self.ephemeral) >= count else None, timeout, "ephemeral"
        )

    async def wait_connected(self, *, connections: int = 1, timeout: float = 10.0) -> None:
        """Wait until the bot has opened `connections` Socket Mode websockets in total."""
        await self._wait(
            lambda: True if self.sockets_opened >= connections and self._sockets else None,
            timeout,
            f"{connections} socket connection(s)",
        )

    async def wait_until(self, ready: Any, *, timeout: float = 10.0, what: str = "a condition") -> Any:
        """Wait until `ready()` (checked after every Web API call) returns something not None."""
        return await self._wait(ready, timeout, what)

    async def _wait(self, ready: Any, timeout: float, what: str) -> Any:
        async def loop() -> Any:
            async with self._changed:
                while (result := ready()) is None:
                    await self._changed.wait()
                return result

        try:
            return await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; posted={self.posted!r}") from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ Web API

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls.append(method)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.api_peers.add((str(peer[0]), int(peer[1])))
        args: JsonDict = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            raw = await request.text()
            if request.content_type == "application/json":
                args.update(json.loads(raw or "{}"))
            else:
                args.update(dict(parse_qsl(raw, keep_blank_values=True)))
        auth = request.headers.get("Authorization", "")
        token = (
            auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else str(args.get("token", ""))
        )

        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            self.unknown_calls.append(method)
            return web.json_response({"ok": False, "error": "unknown_method"})
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != wanted:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if self._failures.get(method):
            return web.json_response({"ok": False, "error": self._failures[method].pop(0)})
        result: JsonDict = await handler(args)
        await self._notify()
        return web.json_response(result)

    async def _m_auth_test(self, args: JsonDict) -> JsonDict:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": "Acme",
            "user": "memorybot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    async def _m_apps_connections_open(self, args: JsonDict) -> JsonDict:
        self.connections_opened += 1
        ticket = next(self._ids)
        return {
            "ok": True,
            "url": f"ws://127.0.0.1:{self._port}/socket-mode?ticket={ticket}&app_id={self.api_app_id}",
        }

    @staticmethod
    def _blocks(args: JsonDict) -> list[JsonDict] | None:
        blocks = args.get("blocks")
        if isinstance(blocks, str):  # form-encoded bodies carry blocks as a JSON string
            blocks = json.loads(blocks)
        return blocks

    async def _m_chat_postMessage(self, args: JsonDict) -> JsonDict:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        message = PostedMessage(
            channel=str(channel),
            ts=self.new_ts(),
            text=str(args.get("text", "")),
            thread_ts=str(args["thread_ts"]) if args.get("thread_ts") else None,
            blocks=self._blocks(args),
            user=self.bot_user_id,
        )
        self.posted.append(message)
        return {"ok": True, "channel": message.channel, "ts": message.ts, "message": message.as_history()}

    def _message(self, channel: str, ts: str) -> PostedMessage | None:
        return next((m for m in self.posted if m.channel == channel and m.ts == ts), None)

    def _new_posted(self, channel: str, text: str, thread_ts: str | None) -> PostedMessage:
        message = PostedMessage(
            channel=channel, ts=self.new_ts(), text=text, thread_ts=thread_ts, user=self.bot_user_id
        )
        self.posted.append(message)
        return message

    async def _m_chat_update(self, args: JsonDict) -> JsonDict:
        message = self._message(str(args.get("channel")), str(args.get("ts")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.text = str(args.get("text", ""))
        message.blocks = self._blocks(args)
        message.updates += 1
        return {"ok": True, "channel": message.channel, "ts": message.ts, "text": message.text}

    async def _m_chat_postEphemeral(self, args: JsonDict) -> JsonDict:
        record = dict(args)
        record["blocks"] = self._blocks(args)
        self.ephemeral.append(record)
        return {"ok": True, "message_ts": self.new_ts()}

    async def _m_users_info(self, args: JsonDict) -> JsonDict:
        user = self._users.get(str(args.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    async def _m_conversations_info(self, args: JsonDict) -> JsonDict:
        channel_id = str(args.get("channel"))
        channel = self._channels.get(channel_id)
        if channel is None:
            is_im = channel_id.startswith("D")
            channel = {"id": channel_id, "name": channel_id.lower(), "is_channel": not is_im, "is_im": is_im}
        return {"ok": True, "channel": channel}

    async def _m_conversations_replies(self, args: JsonDict) -> JsonDict:
        channel, thread_ts = str(args.get("channel")), str(args.get("ts"))
        messages = list(self._history.get((channel, thread_ts), []))
        messages += [m.as_history() for m in self.posted if m.channel == channel and m.thread_ts == thread_ts]
        messages.sort(key=lambda m: float(m["ts"]))
        limit = int(args.get("limit") or 1000)
        return {"ok": True, "messages": messages[:limit], "has_more": False}

    # ------------------------------------------------------------------ response_url

    def new_response_url(self) -> tuple[str, str]:
        """A fresh response_url and its id (as Slack puts in slash commands and actions)."""
        response_id = f"resp-{next(self._ids)}"
        return response_id, f"{self.base_url}/response/{response_id}"

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses.append(ResponsePost(id=request.match_info["id"], body=body))
        await self._notify()
        return web.Response(text="ok")

    # ------------------------------------------------------------------ Socket Mode

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self._socket_numbers[id(ws)] = self.sockets_opened
        self.sockets_opened += 1
        hello = {
            "type": "hello",
            "num_connections": len(self._sockets),
            "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.api_app_id},
        }
        await ws.send_str(json.dumps(hello))
        await self._notify()
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                envelope = self._by_envelope_id.get(str(data.get("envelope_id")))
                if envelope is not None:
                    envelope.ack_payload = data.get("payload")
                    envelope.acked.set()
                await self._notify()
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            await self._notify()
        return ws

    async def push_envelope(
        self,
        kind: str,
        payload: JsonDict,
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        envelope_id: str | None = None,
        wait_ack: bool = True,
        timeout: float = 10.0,
        connection: int | None = None,
    ) -> Envelope:
        """Send one Socket Mode envelope (`events_api`, `slash_commands`, `interactive`).

        With `wait_ack` (default) returns once the client echoed the envelope_id back.
        `connection` picks the open websocket (by position among those open now); otherwise
        the next one in turn with `spread`, else the newest.
        """
        if not self._sockets:
            await self.wait_connected(timeout=timeout)
        message: JsonDict = {
            "envelope_id": envelope_id or f"env-{next(self._ids)}",
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if retry_attempt is not None:
            message["retry_attempt"] = retry_attempt
            message["retry_reason"] = retry_reason or "timeout"
        if connection is not None:
            ws = self._sockets[connection % len(self._sockets)]
        elif self.spread:
            ws = self._sockets[next(self._turn) % len(self._sockets)]
        else:
            ws = self._sockets[-1]
        envelope = Envelope(
            envelope_id=message["envelope_id"], message=message, connection=self._socket_numbers[id(ws)]
        )
        self.envelopes.append(envelope)
        self._by_envelope_id[envelope.envelope_id] = envelope
        await ws.send_str(json.dumps(message))
        if wait_ack:
            await self.wait_for_ack(envelope, timeout=timeout)
        return envelope

    async def wait_for_ack(self, envelope: Envelope, *, timeout: float = 10.0) -> JsonDict | None:
        """Wait for the client's ack of one envelope; returns the ack's payload (often None)."""
        try:
            await asyncio.wait_for(envelope.acked.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"envelope {envelope.envelope_id} was not acked") from None
        return envelope.ack_payload

    @property
    def open_connections(self) -> int:
        return len(self._sockets)

    async def wait_open(self, count: int, *, timeout: float = 30.0) -> None:
        """Wait until `count` Socket Mode websockets are open at once."""
        await self._wait(
            lambda: True if len(self._sockets) >= count else None, timeout, f"{count} open sockets"
        )

    async def redeliver(self, envelope: Envelope, *, wait_ack: bool = True) -> Envelope:
        """The same event again, as Slack retries it: a new envelope id, `retry_attempt` + 1, and
        (with more than one open) a different connection than the one it went down before."""
        others = [
            index
            for index, ws in enumerate(self._sockets)
            if self._socket_numbers[id(ws)] != envelope.connection
        ]
        attempt = int(envelope.message.get("retry_attempt") or 0) + 1
        return await self.push_envelope(
            envelope.message["type"],
            envelope.message["payload"],
            accepts_response_payload=envelope.message["accepts_response_payload"],
            retry_attempt=attempt,
            retry_reason="timeout",
            wait_ack=wait_ack,
            connection=others[0] if others else None,
        )

    def unacked(self) -> list[Envelope]:
        return [e for e in self.envelopes if not e.acked.is_set()]

    async def drop_socket(self, *, graceful: bool = False) -> None:
        """Close the bot's websocket from the server side, as Slack does now and then.

        `graceful` first sends the `disconnect` message Slack sends before a refresh.
        """
        for ws in list(self._sockets):
            if graceful:
                await ws.send_str(json.dumps({"type": "disconnect", "reason": "refresh_requested"}))
            await ws.close()

    async def redeliver_unacked(self, *, wait_ack: bool = True) -> list[Envelope]:
        """Re-send every envelope that was never acked, as Slack does after a reconnect."""
        again = []
        for envelope in self.unacked():
            self.envelopes.remove(envelope)
            self._by_envelope_id.pop(envelope.envelope_id, None)
            attempt = int(envelope.message.get("retry_attempt") or 0) + 1
            again.append(
                await self.push_envelope(
                    envelope.message["type"],
                    envelope.message["payload"],
                    accepts_response_payload=envelope.message["accepts_response_payload"],
                    retry_attempt=attempt,
                    retry_reason="timeout",
                    wait_ack=wait_ack,
                )
            )
        return again

    # ------------------------------------------------------------------ payload builders

    def event_callback(self, event: JsonDict, *, event_id: str | None = None) -> JsonDict:
        """Wrap an event the way the Events API does (`event_callback`)."""
        return {
            "token": "verification-token",
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }

    def message_event(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U1",
        ts: str | None = None,
        thread_ts: str | None = None,
        channel_type: str | None = None,
        kind: str = "message",
        **extra: Any,
    ) -> JsonDict:
        """A `message` (or, with kind="app_mention", an `app_mention`) event as Slack sends it."""
        ts = ts or self.new_ts()
        event: JsonDict = {
            "type": kind,
            "user": user,
            "text": text,
            "ts": ts,
            "team": self.team_id,
            "channel": channel,
            "event_ts": ts,
            "client_msg_id": f"msg-{ts}",
        }
        if kind == "message":
            event["channel_type"] = channel_type or ("im" if channel.startswith("D") else "channel")
        if thread_ts:
            event["thread_ts"] = thread_ts
        event.update(extra)
        return event

    async def send_event(
        self,
        event: JsonDict,
        *,
        event_id: str | None = None,
        retry_attempt: int | None = None,
        wait_ack: bool = True,
        connection: int | None = None,
    ) -> Envelope:
        """Push one Events API event over Socket Mode."""
        return await self.push_envelope(
            "events_api",
            self.event_callback(event, event_id=event_id),
            retry_attempt=retry_attempt,
            wait_ack=wait_ack,
            connection=connection,
        )

    async def send_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U1",
        thread_ts: str | None = None,
        mention: bool | None = None,
    ) -> str:
        """Say something as a person, delivering what Slack delivers; returns the message ts.

        In a channel a text mentioning the bot arrives twice, as `app_mention` and `message`,
        with different event ids (set `mention` to force either way).
        """
        ts = self.new_ts()
        is_dm = channel.startswith("D")
        mentions_bot = f"<@{self.bot_user_id}>" in text if mention is None else mention
        await self.send_event(self.message_event(channel, text, user=user, ts=ts, thread_ts=thread_ts))
        if mentions_bot and not is_dm:
            await self.send_event(
                self.message_event(channel, text, user=user, ts=ts, thread_ts=thread_ts, kind="app_mention")
            )
        return ts

    def slash_command_body(
        self, command: str, text: str = "", *, user: str = "U1", channel: str = "C1"
    ) -> JsonDict:
        """The form fields of a slash command invocation (values are strings, as Slack sends)."""
        _, response_url = self.new_response_url()
        return {
            "token": "verification-token",
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": "general" if channel.startswith("C") else "directmessage",
            "user_id": user,
            "user_name": self._users.get(user, {}).get("name", user.lower()),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"trig-{next(self._ids)}",
        }

    async def send_slash_command(
        self,
        command: str,
        text: str = "",
        *,
        user: str = "U1",
        channel: str = "C1",
        connection: int | None = None,
    ) -> str:
        """Run a slash command over Socket Mode; returns its response_url id (for `wait_for_responses`)."""
        body = self.slash_command_body(command, text, user=user, channel=channel)
        await self.push_envelope("slash_commands", body, accepts_response_payload=True, connection=connection)
        return body["response_url"].rsplit("/", 1)[1]

    def block_actions_body(self, action: JsonDict, *, user: str, channel: str = "C1") -> JsonDict:
        """A `block_actions` payload for a click on `action` (a button element from our blocks)."""
        _, response_url = self.new_response_url()
        return {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": self.team_id},
            "api_app_id": self.api_app_id,
            "token": "verification-token",
            "container": {
                "type": "message",
                "message_ts": self.new_ts(),
                "channel_id": channel,
                "is_ephemeral": True,
            },
            "trigger_id": f"trig-{next(self._ids)}",
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "general"},
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [
                {
                    "action_id": action["action_id"],
                    "block_id": action.get("block_id", "b1"),
                    "text": action.get("text", {"type": "plain_text", "text": "button"}),
                    "value": action.get("value", ""),
                    "style": action.get("style"),
                    "type": action.get("type", "button"),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    async def click(
        self,
        blocks: list[JsonDict],
        action_id: str,
        *,
        user: str = "U1",
        channel: str = "C1",
        connection: int | None = None,
        index: int = 0,
    ) -> str:
        """Click the `index`-th button `action_id` in `blocks` (in an actions block or a section's
        accessory); returns the action's response_url id."""
        found = [
            dict(element, block_id=block.get("block_id", "b1"))
            for block in blocks
            for element in [block.get("accessory"), *block.get("elements", [])]
            if isinstance(element, dict) and element.get("action_id") == action_id
        ]
        if len(found) <= index:
            raise AssertionError(f"no button {action_id!r} #{index} in {blocks!r}")
        body = self.block_actions_body(found[index], user=user, channel=channel)
        await self.push_envelope("interactive", body, connection=connection)
        return body["response_url"].rsplit("/", 1)[1]

    # ------------------------------------------------------------------ HTTP mode client

    def sign(self, body: str, timestamp: int | None = None, *, secret: str | None = None) -> dict[str, str]:
        """Headers Slack adds to a request: `X-Slack-Request-Timestamp` and a v0 `X-Slack-Signature`."""
        timestamp = int(time.time()) if timestamp is None else timestamp
        base = f"v0:{timestamp}:{body}".encode()
        digest = hmac.new((secret or self.signing_secret).encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}

    async def post_signed(
        self,
        url: str,
        body: Mapping[str, Any] | str,
        *,
        form: bool = False,
        forge: bool = False,
        omit_signature: bool = False,
        stale: bool = False,
        retry_num: int | None = None,
    ) -> tuple[int, str]:
        """POST to the bot's HTTP endpoint as Slack does; returns (status, body text).

        `body` is a JSON-able dict (events) or, with `form`, form fields (slash commands;
        interactive payloads go as `{"payload": json.dumps(...)}`). `forge` signs with a wrong
        secret, `omit_signature` sends no signature headers, `stale` dates the request 10 minutes back.
        """
        if isinstance(body, str):
            raw = body
        elif form:
            raw = urlencode(body)
        else:
            raw = json.dumps(body)
        headers = {"Content-Type": "application/x-www-form-urlencoded" if form else "application/json"}
        if not omit_signature:
            timestamp = int(time.time()) - (600 if stale else 0)
            headers.update(self.sign(raw, timestamp, secret="not-the-secret" if forge else None))
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        async with aiohttp.ClientSession() as session, session.post(url, data=raw, headers=headers) as resp:
            return resp.status, await resp.text()

"""Slack: the Bolt wiring and the connection (Socket Mode, or signed HTTP requests).

Translation lives in `slack_events` (inbound) and `slack_format` (outbound); this module
decides when to answer, talks to the Web API, and keeps exactly one reply per message.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_format as fmt
from adapters.slack_events import (
    SlackEvent,
    display_name,
    forget_phrase,
    incoming_from,
    mentioned_users,
    parse_event,
    plain_text,
    prior_from_replies,
    thread_id,
    user_id,
)
from adapters.text_split import split_message
from bot.messages import PriorMessage
from bot.service import ChatService
from config.settings import ConfigError, Settings

log = logging.getLogger(__name__)

HTTP_PATH = "/slack/events"
APOLOGY = "Sorry — something went wrong on my side while answering. Please try again in a moment."
MENTION_ONLY = "Hi! 👋 What would you like to talk about? Just write it in this thread."
FILES_ONLY = "I can't open attachments yet — could you tell me in words what you'd like?"
NOT_YOURS = "Sorry, only the person who asked for this can confirm or cancel it."
PRIOR_LIMIT = 50


class SlackAuthError(RuntimeError):
    """Slack rejected a token; the message names the setting, never its value."""


class _Recent:
    """A bounded, expiring set: `claim(key)` is True only the first time a key is seen."""

    def __init__(self, maxsize: int = 10_000, ttl: float = 3600.0) -> None:
        self._items: OrderedDict[Hashable, float] = OrderedDict()
        self._maxsize = maxsize
        self._ttl = ttl

    def _expire(self, now: float) -> None:
        while self._items:
            key, seen = next(iter(self._items.items()))
            if now - seen < self._ttl and len(self._items) <= self._maxsize:
                break
            del self._items[key]

    def __contains__(self, key: Hashable) -> bool:
        self._expire(time.monotonic())
        return key in self._items

    def claim(self, key: Hashable) -> bool:
        now = time.monotonic()
        self._expire(now)
        if key in self._items:
            return False
        self._items[key] = now
        return True


class _Without(logging.Filter):
    """Drops log records whose message is exactly `message`."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self._message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self._message


class SlackAdapter:
    """Answers Slack mentions, thread follow-ups and DMs through the core `ChatService`."""

    name = "slack"

    def __init__(self, service: ChatService, settings: Settings, *, http_mode: bool | None = None) -> None:
        """`http_mode` None picks Socket Mode when SLACK_APP_TOKEN is set; True forces HTTP mode."""
        if settings.slack_bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN is not set (the xoxb- bot token)")
        self.socket_mode = settings.slack_app_token is not None if http_mode is None else not http_mode
        if not self.socket_mode and settings.slack_signing_secret is None:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is not set (needed for HTTP mode; or set SLACK_APP_TOKEN)"
            )
        self.service = service
        self.settings = settings
        self.team_id = ""
        self.bot_user_id = ""
        client_args: dict[str, Any] = {"token": settings.slack_bot_token.get_secret_value()}
        if settings.slack_api_url:
            client_args["base_url"] = settings.slack_api_url.rstrip("/") + "/"
        self.client = AsyncWebClient(**client_args)
        secret = settings.slack_signing_secret
        bolt_log = logging.getLogger("slack_bolt")
        # Bolt reads SLACK_BOT_TOKEN from the environment itself and, given a client too, warns
        # at every start that the token "will be unused"; the client carries that same token.
        quiet = _Without(warning_client_prioritized_and_token_skipped())
        bolt_log.addFilter(quiet)
        try:
            self.app = AsyncApp(
                # Without a name, Bolt names the app after its caller's file via inspect.stack(),
                # which reads every frame's source: a quarter of a second of each start-up.
                name="memory-bot",
                client=self.client,
                signing_secret=secret.get_secret_value() if secret else "",
                logger=bolt_log,
            )
        finally:
            bolt_log.removeFilter(quiet)
        self._register()
        self._seen_events = _Recent()
        self._seen_messages = _Recent()
        self._joined_threads = _Recent(maxsize=50_000, ttl=7 * 86400)
        self._names: dict[str, str] = {}
        self._channel_names: dict[str, str | None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._socket: AsyncSocketModeHandler | None = None
        self._http: web.AppRunner | None = None
        self._started = False

    # ------------------------------------------------------------------ connection

    async def start(self) -> None:
        """Learn who we are (`auth.test`), then connect; returns once events can arrive."""
        if self._started:
            return
        # Without a session of its own, slack_sdk opens (and closes) a connection for every
        # Web API call: a TCP and TLS handshake with Slack before each reply it posts.
        self.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.client.timeout))
        try:
            await self._connect()
        except BaseException:
            await self._close_session()
            raise
        self._started = True
        log.info(
            "Slack adapter ready (%s mode, team %s)", "socket" if self.socket_mode else "HTTP", self.team_id
        )

    async def _connect(self) -> None:
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error")
            raise SlackAuthError(f"Slack rejected SLACK_BOT_TOKEN ({error}); check the bot token") from None
        self.team_id, self.bot_user_id = str(auth["team_id"]), str(auth["user_id"])
        if self.socket_mode:
            await self._start_socket_mode()
        else:
            await self._start_http_mode()

    async def _close_session(self) -> None:
        session, self.client.session = self.client.session, None
        if session is not None:
            await session.close()

    async def _start_socket_mode(self) -> None:
        assert self.settings.slack_app_token is not None
        app_token = self.settings.slack_app_token.get_secret_value()
        handler = AsyncSocketModeHandler(self.app, app_token, web_client=self.client)
        try:
            # Asked once here so a bad app token fails start() instead of retrying forever.
            handler.client.wss_uri = await handler.client.issue_new_wss_url()
        except SlackApiError as exc:
            await handler.close_async()
            error = exc.response.get("error", "unknown_error")
            raise SlackAuthError(
                f"Slack rejected SLACK_APP_TOKEN ({error}); check the xapp- app token"
            ) from None
        self._socket = handler
        await handler.connect_async()

    async def _start_http_mode(self) -> None:
        async def handle(request: web.Request) -> web.Response:
            # slack_sdk's verifier raises on a non-numeric timestamp (a 500); it is unsigned junk.
            if not request.headers.get("X-Slack-Request-Timestamp", "").isdigit():
                return web.json_response({"error": "invalid request"}, status=401)
            bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(bolt_response)

        web_app = web.Application()
        web_app.router.add_post(HTTP_PATH, handle)
        runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(
            runner, "0.0.0.0", self.settings.port
        ).start()  # all interfaces: Slack must reach it
        self._http = runner

    async def stop(self) -> None:
        """Stop taking events, let answers in flight finish (bounded), then close."""
        socket, self._socket = self._socket, None
        http, self._http = self._http, None
        if socket is not None:
            await socket.close_async()
        if http is not None:
            await http.cleanup()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.settings.shutdown_grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._close_session()
        self._started = False

    # ------------------------------------------------------------------ Bolt listeners

    def _register(self) -> None:
        # One catch-all so every event is acked (unhandled ones would be redelivered).
        self.app.event(re.compile(".*"))(self._on_event)
        self.app.command("/forget")(self._on_forget)
        self.app.command("/memories")(self._on_memories)
        self.app.action(fmt.FORGET_CONFIRM)(self._on_forget_confirm)
        self.app.action(fmt.FORGET_CANCEL)(self._on_forget_cancel)

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_event(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        # Bolt has acked already; the model call runs in our own task, after the ack.
        event_id = body.get("event_id")
        if event_id and not self._seen_events.claim(event_id):
            return  # a redelivery (retry_attempt / X-Slack-Retry-Num) of an event we have
        self._spawn(self._handle_event(event))

    async def _handle_event(self, event: dict[str, Any]) -> None:
        try:
            await self._route(event)
        except Exception:
            log.exception("Slack: failed to handle a %s event", event.get("type"))

    async def _route(self, event: dict[str, Any]) -> None:
        """Answer the event once if it is addressed to us: a mention, a DM, or a thread we are in."""
        parsed = parse_event(event, bot_user_id=self.bot_user_id)
        if parsed is None or (parsed.channel, parsed.ts) in self._seen_messages:
            return
        conversation = thread_id(self.team_id, parsed)
        addressed = parsed.is_direct or parsed.mentions_bot
        if not addressed and parsed.thread_ts is not None:
            addressed = conversation in self._joined_threads or await self._has_thread(conversation)
        # Claimed only after deciding, with no await in between: the app_mention and the
        # message event for one mention race here, and exactly one of them gets through.
        if not addressed or not self._seen_messages.claim((parsed.channel, parsed.ts)):
            return
        new_to_thread = parsed.mid_thread and conversation not in self._joined_threads
        self._joined_threads.claim(conversation)
        await self._answer(parsed, event, conversation, new_to_thread)

    async def _has_thread(self, conversation: str) -> bool:
        try:
            return await self.service.has_thread(conversation)
        except Exception:
            log.exception("Slack: could not check thread %s", conversation)
            return False

    async def _answer(
        self, parsed: SlackEvent, event: dict[str, Any], conversation: str, new_to_thread: bool
    ) -> None:
        channel, where = parsed.channel, parsed.reply_thread_ts
        placeholder: str | None = None
        try:
            names = await self._names_for([parsed.user, *mentioned_users(parsed.text)])
            text = plain_text(parsed.text, bot_user_id=self.bot_user_id, names=names)
            if not text:
                await self._post(channel, where, FILES_ONLY if parsed.has_files else MENTION_ONLY)
                return
            prior: Sequence[PriorMessage] = ()
            if new_to_thread and not await self._has_thread(conversation):
                prior = await self._prior(parsed)
            # The placeholder goes out while the turn runs, not before it: one round trip less.
            placeholder_task = asyncio.create_task(self._post(channel, where, fmt.THINKING))
            incoming = incoming_from(
                parsed,
                event,
                team_id=self.team_id,
                bot_user_id=self.bot_user_id,
                user_name=names.get(parsed.user),
                names=names,
                channel_name=await self._channel_name(parsed),
            )
            try:
                reply = await self.service.handle(incoming, prior=prior)
            finally:
                placeholder = await _result_or_none(placeholder_task)
            await self._deliver(channel, where, placeholder, reply.text)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Slack: failed to answer message %s in %s", parsed.ts, channel)
            await self._apologize(channel, where, placeholder)

    async def _post(self, channel: str, thread_ts: str | None, text: str) -> str:
        response = await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        return str(response["ts"])

    async def _deliver(self, channel: str, thread_ts: str | None, placeholder: str | None, text: str) -> None:
        """First chunk replaces the placeholder; the rest follow in the same thread."""
        chunks = split_message(fmt.to_mrkdwn(text), fmt.SLACK_CHUNK) or ["…"]
        if placeholder is None:
            await self._post(channel, thread_ts, chunks[0])
        else:
            await self.client.chat_update(channel=channel, ts=placeholder, text=chunks[0])
        for chunk in chunks[1:]:
            await self._post(channel, thread_ts, chunk)

    async def _apologize(self, channel: str, thread_ts: str | None, placeholder: str | None) -> None:
        try:
            if placeholder is None:
                await self._post(channel, thread_ts, APOLOGY)
            else:
                await self.client.chat_update(channel=channel, ts=placeholder, text=APOLOGY)
        except Exception:
            log.exception("Slack: could not post the apology in %s", channel)

    # ------------------------------------------------------------------ lookups (cached)

    async def _name(self, user: str) -> str:
        if user not in self._names:
            try:
                response = await self.client.users_info(user=user)
                self._names[user] = display_name(response["user"])
            except SlackApiError as exc:
                log.warning("Slack: users.info failed for %s (%s)", user, exc.response.get("error"))
                return user
        return self._names[user]

    async def _names_for(self, users: Sequence[str]) -> dict[str, str]:
        return {user: await self._name(user) for user in dict.fromkeys(users)}

    async def _channel_name(self, parsed: SlackEvent) -> str | None:
        if parsed.is_direct or parsed.channel_type == "mpim":
            return None
        if parsed.channel not in self._channel_names:
            try:
                response = await self.client.conversations_info(channel=parsed.channel)
                self._channel_names[parsed.channel] = response["channel"].get("name")
            except SlackApiError as exc:
                log.warning(
                    "Slack: conversations.info failed for %s (%s)", parsed.channel, exc.response.get("error")
                )
                return None
        return self._channel_names[parsed.channel]

    async def _prior(self, parsed: SlackEvent) -> list[PriorMessage]:
        """What was said in the thread before the bot was first mentioned there."""
        try:
            response = await self.client.conversations_replies(
                channel=parsed.channel, ts=parsed.thread_ts or parsed.ts, limit=PRIOR_LIMIT
            )
        except SlackApiError as exc:
            log.warning(
                "Slack: conversations.replies failed in %s (%s)", parsed.channel, exc.response.get("error")
            )
            return []
        messages = list(response.get("messages") or [])
        users = [str(m["user"]) for m in messages if m.get("user") and not m.get("bot_id")]
        for message in messages:
            users += mentioned_users(str(message.get("text") or ""))
        names = await self._names_for(users)
        return prior_from_replies(
            messages, team_id=self.team_id, bot_user_id=self.bot_user_id, before_ts=parsed.ts, names=names
        )

    # ------------------------------------------------------------------ slash commands and actions

    async def _ephemeral_guard(
        self, respond: Callable[..., Awaitable[Any]], what: str, work: Awaitable[None]
    ) -> None:
        try:
            await work
        except Exception:
            log.exception("Slack: %s failed", what)
            try:
                await respond(text=APOLOGY, response_type="ephemeral", replace_original=False)
            except Exception:
                log.exception("Slack: could not send the apology for %s", what)

    async def _on_forget(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack()

        async def work() -> None:
            invoker = str(command["user_id"])
            phrase = forget_phrase(command.get("text"))
            facts = await self.service.memories.preview_forget(user_id(self.team_id, invoker), phrase)
            if not facts:
                await respond(text=fmt.nothing_to_forget(phrase), response_type="ephemeral")
                return
            text, blocks = fmt.forget_preview(facts, invoker=invoker, phrase=phrase)
            await respond(text=text, blocks=blocks, response_type="ephemeral")

        await self._ephemeral_guard(respond, "/forget", work())

    async def _on_memories(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack()

        async def work() -> None:
            facts = await self.service.memories.list_facts(user_id(self.team_id, str(command["user_id"])))
            text, blocks = fmt.memories_list(facts)
            await respond(text=text, blocks=blocks, response_type="ephemeral")

        await self._ephemeral_guard(respond, "/memories", work())

    def _verified_request(
        self, body: dict[str, Any], action: dict[str, Any]
    ) -> tuple[str, str | None] | None:
        """(clicker, phrase) when the clicker is the person who ran /forget, else None."""
        clicker = str((body.get("user") or {}).get("id") or "")
        request = fmt.parse_forget_value(str(action.get("value") or ""))
        if not clicker or request is None or request[0] != clicker:
            return None
        return clicker, request[1]

    async def _on_forget_confirm(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        await ack()

        async def work() -> None:
            verified = self._verified_request(body, action)
            if verified is None:
                log.warning("Slack: refused a /forget confirm from someone other than its invoker")
                await respond(text=NOT_YOURS, response_type="ephemeral", replace_original=False)
                return
            clicker, phrase = verified
            removed = await self.service.memories.forget(user_id(self.team_id, clicker), phrase)
            await respond(text=fmt.forgot(removed), replace_original=True)

        await self._ephemeral_guard(respond, "/forget confirm", work())

    async def _on_forget_cancel(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        await ack()

        async def work() -> None:
            if self._verified_request(body, action) is None:
                await respond(text=NOT_YOURS, response_type="ephemeral", replace_original=False)
                return
            await respond(text="Okay, I kept everything.", replace_original=True)

        await self._ephemeral_guard(respond, "/forget cancel", work())


async def _result_or_none(task: asyncio.Task[str]) -> str | None:
    """The placeholder's ts, or None if posting it failed (the answer is then posted anew)."""
    try:
        return await task
    except SlackApiError as exc:
        log.warning("Slack: could not post the placeholder (%s)", exc.response.get("error"))
        return None

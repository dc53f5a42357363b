"""Slack conversations: which events to answer, exactly once, and how the answer is delivered
(streamed as the model writes it, see `streaming`; or, with streaming off, a placeholder while
the turn runs, replaced by the first chunk of the reply)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.events import (
    SlackEvent,
    incoming_from,
    mentioned_users,
    parse_event,
    plain_text,
    thread_id,
)
from adapters.slack.lookups import Lookups, Workspace
from adapters.slack.render import SLACK_CHUNK, THINKING, to_mrkdwn
from adapters.slack.streaming import Abilities, AnswerStream
from adapters.text_split import split_message
from bot.messages import IncomingMessage, PriorMessage, Reply
from bot.service import ChatService
from bot.streaming import CUT_OFF_NOTE

log = logging.getLogger(__name__)

APOLOGY = "Sorry — something went wrong on my side while answering. Please try again in a moment."
MENTION_ONLY = "Hi! 👋 What would you like to talk about? Just write it in this thread."
FILES_ONLY = "I can't open attachments yet — could you tell me in words what you'd like?"
ADMITTED = "memory_bot_admitted"  # Bolt context key: the inbox's work for this event


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


class Conversations:
    """Answers mentions, thread follow-ups and DMs through the core `ChatService`."""

    def __init__(
        self,
        service: ChatService,
        client: AsyncWebClient,
        workspace: Workspace,
        *,
        memories_changed: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """`memories_changed(slack_user)` runs after a turn that changed what we know about them."""
        self._service = service
        self._memories_changed = memories_changed
        self.abilities = Abilities()
        self._client = client
        self._workspace = workspace
        self._lookups = Lookups(client, workspace)
        self._seen_events = _Recent()
        self._seen_messages = _Recent()
        self._joined_threads = _Recent(maxsize=50_000, ttl=7 * 86400)
        self._tasks: set[asyncio.Task[None]] = set()

    async def on_event(self, body: dict[str, Any], event: dict[str, Any], context: dict[str, Any]) -> None:
        """Bolt's listener for every event: it has acked already; the turn runs in our own task.

        With the inbox (`adapters.slack.admission`), its middleware already recorded the
        message before the ack and left the work to start (or None: nothing to do) in `context`.
        """
        if ADMITTED in context:
            work = context[ADMITTED]
            if work is not None:
                self._spawn(work())
            return
        if not self.first_delivery(body.get("event_id")):
            return  # a redelivery (retry_attempt / X-Slack-Retry-Num) of an event we have
        self._spawn(self._handle_event(event))

    def first_delivery(self, event_id: str | None) -> bool:
        """False for an event id this process has seen (a redelivery to the same process)."""
        return not event_id or self._seen_events.claim(event_id)

    async def drain(self, grace: float) -> None:
        """Let answers in flight finish for up to `grace` seconds, then cancel the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_event(self, event: dict[str, Any]) -> None:
        try:
            await self._route(event)
        except Exception:
            log.exception("Slack: failed to handle a %s event", event.get("type"))

    async def _route(self, event: dict[str, Any]) -> None:
        decided = await self.decide(event)
        if decided is not None:
            await self.answer(*decided, event)

    async def decide(self, event: dict[str, Any]) -> tuple[SlackEvent, str, bool] | None:
        """(message, thread id, new to the thread) if the event is addressed to us and not seen
        in this process yet: a mention, a DM, or a thread we are in; else None."""
        parsed = parse_event(event, bot_user_id=self._workspace.bot_user_id)
        if parsed is None or (parsed.channel, parsed.ts) in self._seen_messages:
            return None
        conversation = thread_id(self._workspace.team_id, parsed)
        addressed = parsed.is_direct or parsed.mentions_bot
        if not addressed and parsed.thread_ts is not None:
            addressed = conversation in self._joined_threads or await self._has_thread(conversation)
        # Claimed only after deciding, with no await in between: the app_mention and the
        # message event for one mention race here, and exactly one of them gets through.
        if not addressed or not self._seen_messages.claim((parsed.channel, parsed.ts)):
            return None
        new_to_thread = parsed.mid_thread and conversation not in self._joined_threads
        self._joined_threads.claim(conversation)
        return parsed, conversation, new_to_thread

    async def _has_thread(self, conversation: str, *, recorded: bool = True) -> bool:
        """Whether we converse in that thread: its history exists, or (`recorded`) the inbox
        knows a message of it, which it does from the first one's arrival, in any process."""
        inbox = self._service.inbox if recorded else None
        try:
            return await self._service.has_thread(conversation) or (
                inbox is not None and await inbox.knows_thread(conversation)
            )
        except Exception:
            log.exception("Slack: could not check thread %s", conversation)
            return False

    async def answer(
        self,
        parsed: SlackEvent,
        conversation: str,
        new_to_thread: bool,
        event: dict[str, Any],
        *,
        stream: bool = True,
    ) -> None:
        """Answer one message in its thread (`stream` False: never streamed, posted whole)."""
        channel, where = parsed.channel, parsed.reply_thread_ts
        bot_user_id = self._workspace.bot_user_id
        placeholder: str | None = None
        try:
            names = await self._lookups.names_for([parsed.user, *mentioned_users(parsed.text)])
            text = plain_text(parsed.text, bot_user_id=bot_user_id, names=names)
            if not text:
                await self._post(channel, where, FILES_ONLY if parsed.has_files else MENTION_ONLY)
                return
            prior: Sequence[PriorMessage] = ()
            if new_to_thread and not await self._has_thread(conversation, recorded=False):
                prior = await self._lookups.prior(parsed)
            # The placeholder goes out while the turn runs, not before it: one round trip less.
            placeholder_task = (
                None
                if self._service.streams and stream
                else asyncio.create_task(self._post(channel, where, THINKING))
            )
            incoming = incoming_from(
                parsed,
                event,
                team_id=self._workspace.team_id,
                bot_user_id=bot_user_id,
                user_name=names.get(parsed.user),
                names=names,
                channel_name=await self._lookups.channel_name(parsed),
            )
            if placeholder_task is None:
                reply = await self._streamed(parsed, incoming, prior)
            else:
                try:
                    reply = await self._service.handle(incoming, prior=prior)
                finally:
                    placeholder = await _result_or_none(placeholder_task)
                await self._deliver(channel, where, placeholder, reply.text)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Slack: failed to answer message %s in %s", parsed.ts, channel)
            await self._apologize(channel, where, placeholder)
            return
        if reply.memories_changed and self._memories_changed is not None:
            await self._memories_changed(parsed.user)

    async def _streamed(
        self, parsed: SlackEvent, incoming: IncomingMessage, prior: Sequence[PriorMessage]
    ) -> Reply:
        """One turn whose answer is shown as the model writes it."""
        stream = AnswerStream(
            self._client,
            self.abilities,
            channel=parsed.channel,
            thread_ts=parsed.reply_thread_ts,
            team_id=self._workspace.team_id,
            user_id=parsed.user,
        )
        stream.start()
        try:
            reply = await self._service.handle(incoming, prior=prior, on_text=stream.sink)
        except asyncio.CancelledError:
            await stream.abandon()
            raise
        except Exception:
            log.exception("Slack: the turn for %s in %s failed", parsed.ts, parsed.channel)
            shown = stream.text.rstrip()
            await stream.finish(shown + CUT_OFF_NOTE if shown else APOLOGY)
            return Reply(text=APOLOGY, failed=True)
        await stream.finish(reply.text)
        return reply

    async def say(self, channel: str, thread_ts: str | None, text: str) -> str:
        """Post `text` in a thread (or a DM's top level); returns its ts."""
        return await self._post(channel, thread_ts, text)

    async def display_name(self, slack_user: str) -> str:
        """How the person is called in this workspace (cached `users.info`)."""
        return await self._lookups.name(slack_user)

    async def _post(self, channel: str, thread_ts: str | None, text: str) -> str:
        response = await self._client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        return str(response["ts"])

    async def _deliver(self, channel: str, thread_ts: str | None, placeholder: str | None, text: str) -> None:
        """First chunk replaces the placeholder; the rest follow in the same thread."""
        chunks = split_message(to_mrkdwn(text), SLACK_CHUNK) or ["…"]
        if placeholder is None:
            await self._post(channel, thread_ts, chunks[0])
        else:
            await self._client.chat_update(channel=channel, ts=placeholder, text=chunks[0])
        for chunk in chunks[1:]:
            await self._post(channel, thread_ts, chunk)

    async def _apologize(self, channel: str, thread_ts: str | None, placeholder: str | None) -> None:
        try:
            if placeholder is None:
                await self._post(channel, thread_ts, APOLOGY)
            else:
                await self._client.chat_update(channel=channel, ts=placeholder, text=APOLOGY)
        except Exception:
            log.exception("Slack: could not post the apology in %s", channel)


async def _result_or_none(task: asyncio.Task[str]) -> str | None:
    """The placeholder's ts, or None if posting it failed (the answer is then posted anew)."""
    try:
        return await task
    except SlackApiError as exc:
        log.warning("Slack: could not post the placeholder (%s)", exc.response.get("error"))
        return None

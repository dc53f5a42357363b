"""Slack and the durable inbox (`bot.inbox`): every message we answer is recorded before Bolt
acknowledges it, under its channel and ts and its event id, so a redelivery (`retry_attempt`,
`X-Slack-Retry-Num`, a new envelope for the same event) to any process is answered once.

A Bolt middleware runs before the ack: it decides whether the message is ours (as
`Conversations.decide`), records it, and leaves the answer to start in the listener's
context. The answer runs under its `Claim`: the messages a turn posts go through
`GuardedClient`, which checks that this process still holds the message before the first
one and records each, so a process taking the message over (`resume`, after the lease)
edits those instead of posting again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.conversation import ADMITTED, Conversations
from adapters.slack.events import SlackEvent, parse_event, thread_id
from adapters.slack.lookups import Workspace
from bot.answer_guard import AnswerGuard, AnswerTakenOver
from bot.inbox import UNAVAILABLE_REPLY, Arrival, Claim, Inbox

log = logging.getLogger(__name__)

PLATFORM = "slack"
TURN_EVENTS = frozenset({"message", "app_mention"})


_Guard = AnswerGuard[str]


_GUARD: ContextVar[_Guard | None] = ContextVar("slack_answer_guard", default=None)


class GuardedClient(AsyncWebClient):
    """The Web API client; inside an answer under a claim, posting is guarded (see the module)."""

    async def _created(self, guard: _Guard, response: AsyncSlackResponse) -> AsyncSlackResponse:
        await guard.claim.posted(str(response["ts"]))
        return response

    async def _check(self, guard: _Guard) -> None:
        if not guard.checked:
            if not await guard.claim.may_post():
                raise AnswerTakenOver(guard.claim.entry.key)
            guard.checked = True

    async def chat_postMessage(self, **kwargs: Any) -> AsyncSlackResponse:
        guard = _GUARD.get()
        if guard is None:
            return await super().chat_postMessage(**kwargs)
        await self._check(guard)
        if guard.reuse:
            ts = guard.reuse.pop(0)
            # A stream its process left open is ended first; an ordinary message says no.
            with contextlib.suppress(SlackApiError):
                await super().chat_stopStream(channel=kwargs["channel"], ts=ts)
            return await super().chat_update(
                channel=kwargs["channel"], ts=ts, text=kwargs.get("text"), blocks=kwargs.get("blocks")
            )
        return await self._created(guard, await super().chat_postMessage(**kwargs))

    async def chat_startStream(self, **kwargs: Any) -> AsyncSlackResponse:
        guard = _GUARD.get()
        if guard is None:
            return await super().chat_startStream(**kwargs)
        await self._check(guard)
        return await self._created(guard, await super().chat_startStream(**kwargs))


Work = Callable[[], Awaitable[None]]


class SlackInbox:
    """The middleware that records messages, and the answers under their claims."""

    def __init__(self, conversations: Conversations, inbox: Inbox, workspace: Workspace) -> None:
        self._conversations = conversations
        self._inbox = inbox
        self._workspace = workspace
        self._accepting: Callable[[], bool] = lambda: True

    def start(self, accepting: Callable[[], bool]) -> None:
        """Take over Slack messages other processes left unanswered (see `bot.inbox_sweeper`)."""
        self._accepting = accepting
        self._inbox.serve(PLATFORM, self.resume)

    def stop(self) -> None:
        self._inbox.unserve(PLATFORM)

    async def middleware(self, body: dict[str, Any], context: dict[str, Any], next: Work) -> None:
        """Bolt global middleware (before the ack): record the message, or find it recorded."""
        event = body.get("event") if body.get("type") == "event_callback" else None
        if isinstance(event, dict) and event.get("type") in TURN_EVENTS:
            try:
                context[ADMITTED] = await self._admit(body, event)
            except Exception:
                log.exception("Slack: could not decide on a %s event", event.get("type"))
                context[ADMITTED] = None
        await next()

    async def _admit(self, body: dict[str, Any], event: dict[str, Any]) -> Work | None:
        event_id = body.get("event_id")
        if not self._conversations.first_delivery(event_id):
            return None  # this process has it already
        decided = await self._conversations.decide(event)
        if decided is None:
            return None
        parsed, conversation, new_to_thread = decided
        arrival = Arrival(
            key=f"slack:{self._workspace.team_id}:{parsed.channel}:{parsed.ts}",
            platform=PLATFORM,
            thread_id=conversation,
            payload={"event": event},
            event_id=f"slack:{event_id}" if event_id else None,
        )
        try:
            claim = await self._inbox.admit(arrival)
        except Exception as exc:  # noqa: BLE001 - the database is gone: say so, politely, once
            log.warning(
                "Slack: the inbox is unreachable (%s); not answering %s", type(exc).__name__, parsed.ts
            )
            return lambda: self._unavailable(parsed)
        if claim is None:
            return None  # another delivery of it reached a process first
        return lambda: self._answer(claim, parsed, conversation, new_to_thread, event)

    async def resume(self, claim: Claim) -> None:
        """Answer a message another process recorded and did not finish."""
        event = claim.entry.payload.get("event")
        parsed = (
            parse_event(event, bot_user_id=self._workspace.bot_user_id) if isinstance(event, dict) else None
        )
        if parsed is None or event is None:
            log.warning("inbox: nothing to answer in %s", claim.entry.key)
            return
        conversation = thread_id(self._workspace.team_id, parsed)
        await self._answer(claim, parsed, conversation, parsed.mid_thread, event)

    async def _answer(
        self, claim: Claim, parsed: SlackEvent, conversation: str, new_to_thread: bool, event: dict[str, Any]
    ) -> None:
        try:
            async with claim.turn():
                if not self._accepting():
                    # Shutting down: another process (or this one, restarted) answers it.
                    await claim.release()
                    return
                token = _GUARD.set(_Guard(claim, reuse=list(claim.existing)))
                try:
                    # Streamed unless it is a take-over with messages to edit.
                    await self._conversations.answer(
                        parsed, conversation, new_to_thread, event, stream=not claim.existing
                    )
                finally:
                    _GUARD.reset(token)
        except AnswerTakenOver:
            log.info("Slack: %s was taken over by another process; it answers it", claim.entry.key)
        except Exception:
            log.exception("Slack: failed to answer %s", claim.entry.key)

    async def _unavailable(self, parsed: SlackEvent) -> None:
        try:
            await self._conversations.say(parsed.channel, parsed.reply_thread_ts, UNAVAILABLE_REPLY)
        except Exception:
            log.exception("Slack: could not say the database is unreachable in %s", parsed.channel)

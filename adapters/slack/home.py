"""Slack's App Home tab ("What I know about you") and the assistant thread's suggested prompts.

The Home tab is the core's `Commands.home` view, published with `views.publish` when the person
opens the tab, after a press of one of its buttons, and after their memories change anywhere
(a turn that saved or erased a fact, a /forget confirmed in a channel). Presses on the tab come
as block actions from a view, without a response_url: the answer is the tab published again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.events import user_id
from adapters.slack.render import home_view
from adapters.slack.stream_text import FAILURES, error_name
from bot.commands import FORGET_START, Commands, CommandView

log = logging.getLogger(__name__)

SUGGESTED_PROMPTS = (
    {"title": "What do you know about me?", "message": "What do you know about me?"},
    {"title": "Forget something", "message": "How do I make you forget something about me?"},
    {"title": "Remember that I…", "message": "Remember that I "},
)


class SlackHome:
    """Publishes each person's Home tab and answers the presses of its buttons."""

    def __init__(self, commands: Commands, client: AsyncWebClient, *, team_id: Callable[[], str]) -> None:
        self._commands = commands
        self._client = client
        self._team_id = team_id

    async def publish(self, slack_user: str, view: CommandView | None = None, *, note: str = "") -> None:
        """Show `view` (by default the person's facts, freshly read) on their Home tab."""
        try:
            shown = view or await self._commands.home(user_id(self._team_id(), slack_user))
            await self._client.views_publish(user_id=slack_user, view=home_view(shown, note=note))
        except FAILURES as exc:
            log.warning("Slack: could not publish the Home tab (%s)", error_name(exc))

    async def on_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home" and event.get("user"):
            await self.publish(str(event["user"]))

    async def on_press(self, slack_user: str, action: str, value: str) -> None:
        """A button on the Home tab: carried out by the core, then the tab shows the outcome."""
        result = await self._commands.press(user_id(self._team_id(), slack_user), action, value)
        if action == FORGET_START and result.buttons:
            await self.publish(slack_user, result)  # the preview, with Erase them / Cancel
        else:
            await self.publish(slack_user, note=result.text)

    async def on_assistant_thread(self, event: dict[str, Any]) -> None:
        """A new assistant thread in the bot's DM: offer a few things to ask."""
        thread = event.get("assistant_thread") or {}
        channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        if not channel or not thread_ts:
            return
        try:
            await self._client.assistant_threads_setSuggestedPrompts(
                channel_id=str(channel),
                thread_ts=str(thread_ts),
                prompts=[dict(p) for p in SUGGESTED_PROMPTS],
            )
        except FAILURES as exc:
            log.info("Slack: no suggested prompts here (%s)", error_name(exc))

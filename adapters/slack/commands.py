"""Slack's slash commands and buttons, handed to the command core (`bot.commands`).

What `/memories`, `/forget`, `/link` and `/unlink` do is decided in the core; here a slash command or a
button press becomes a call on `Commands`, and the view that comes back is rendered
(`render.view_messages`) and sent through the request's response_url.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from adapters.slack.events import forget_phrase, user_id
from adapters.slack.home import SlackHome
from adapters.slack.render import view_messages
from bot.commands import FACT_PRIVATE, FACT_SHARE, FORGET_CONFIRM, FORGET_FACT, Commands, CommandView
from bot.commands.core import FAILED

log = logging.getLogger(__name__)

# Presses after which what the Home tab shows has changed.
_CHANGES_MEMORIES = (FORGET_CONFIRM, FORGET_FACT, FACT_PRIVATE, FACT_SHARE)

Respond = Callable[..., Awaitable[Any]]


class SlackCommands:
    """The Bolt listeners for `/memories`, `/forget`, `/link`, `/unlink` and every button the core offers."""

    def __init__(
        self,
        commands: Commands,
        *,
        team_id: Callable[[], str],
        home: SlackHome | None = None,
        name_of: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        """`team_id` gives the workspace learned at start-up (`auth.test`); `home`, if given,
        answers presses on the App Home tab and is refreshed after a forget; `name_of` gives a
        person's display name (`users.info`), which /link tells the other platform."""
        self._commands = commands
        self._team_id = team_id
        self._home = home
        self._name_of = name_of

    def register(self, app: AsyncApp) -> None:
        app.command("/memories")(self._on_memories)
        app.command("/forget")(self._on_forget)
        app.command("/link")(self._on_link)
        app.command("/unlink")(self._on_unlink)
        # Every button we show comes from a core view, so every press goes back to the core,
        # which answers one it does not know (an old message's button) itself.
        app.block_action(re.compile(".+"))(self._on_press)

    def _user(self, slack_user: str) -> str:
        return user_id(self._team_id(), slack_user)

    async def _on_memories(self, ack: Any, command: dict[str, Any], respond: Respond) -> None:
        await ack()
        await _answer(
            respond, "/memories", self._commands.run("memories", self._user(str(command["user_id"])))
        )

    async def _on_forget(self, ack: Any, command: dict[str, Any], respond: Respond) -> None:
        await ack()
        phrase = forget_phrase(command.get("text")) or ""
        user = self._user(str(command["user_id"]))
        await _answer(respond, "/forget", self._commands.run("forget", user, phrase))

    async def _on_link(self, ack: Any, command: dict[str, Any], respond: Respond) -> None:
        """`/link` (a one-time code for this account) or `/link CODE` (from the other platform)."""
        await ack()
        slack_user = str(command["user_id"])
        code = " ".join(str(command.get("text") or "").split()) or None
        name = await self._name_of(slack_user) if self._name_of else str(command.get("user_name") or "")
        await _answer(respond, "/link", self._commands.link(self._user(slack_user), name, code))
        if code and self._home is not None:
            await self._home.publish(slack_user)  # linked: the facts of both accounts

    async def _on_unlink(self, ack: Any, command: dict[str, Any], respond: Respond) -> None:
        await ack()
        slack_user = str(command["user_id"])
        await _answer(respond, "/unlink", self._commands.unlink(self._user(slack_user)))
        if self._home is not None:
            await self._home.publish(slack_user)

    async def _on_press(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        await ack()
        clicker = str((body.get("user") or {}).get("id") or "")
        name = str(action.get("action_id") or "")
        value = str(action.get("value") or "")
        if self._home is not None and (body.get("container") or {}).get("type") == "view":
            await self._home.on_press(clicker, name, value)  # a view has no response_url
            return
        await _answer(respond, name, self._commands.press(self._user(clicker), name, value), pressed=True)
        if self._home is not None and name in _CHANGES_MEMORIES:
            await self._home.publish(clicker)


async def _answer(
    respond: Respond, what: str, work: Awaitable[CommandView], *, pressed: bool = False
) -> None:
    """Send the view privately; the answer to a press may replace the message it was on."""
    try:
        view = await work
        for index, message in enumerate(view_messages(view)):
            await respond(
                text=message.text,
                blocks=message.blocks or None,
                response_type="ephemeral",
                # Only the first message may replace the one with the buttons; more follow it.
                replace_original=view.replace and index == 0 if pressed else None,
            )
    except Exception:
        log.exception("Slack: %s failed", what)
        try:
            await respond(text=FAILED, response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("Slack: could not send the apology for %s", what)

"""The command core's views -> Discord messages and buttons (outbound, no decisions).

A view becomes message content within Discord's 2,000 characters. A listing too long for
one message goes out over several private messages, whole lines each, in the core's
order. A view with buttons must stay one message (the buttons sit on it), so the facts
that do not fit are counted in its "…and N more." line instead. A press goes back to the
core as the button's (action, value); the core decides everything about it.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import discord

from adapters.discord.events import user_key
from adapters.text_split import split_message
from bot.commands import Button, Commands, CommandView, FactLine
from bot.commands.core import FAILED

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
NO_PINGS = discord.AllowedMentions.none()
STYLES = {
    "danger": discord.ButtonStyle.danger,
    "primary": discord.ButtonStyle.primary,
    "default": discord.ButtonStyle.secondary,
}


def fact_line(fact: FactLine, show_sources: bool) -> str:
    return f"• {fact.text} — {fact.source}" if show_sources else f"• {fact.text}"


def view_lines(view: CommandView) -> list[str]:
    """Headline, one line per fact, the "…and N more." line, footer."""
    lines = [view.text, *(fact_line(fact, view.show_sources) for fact in view.facts)]
    return [line for line in (*lines, view.more_line(), view.footer) if line]


def message_contents(view: CommandView) -> list[str]:
    """The whole view as one or more messages of at most 2,000 characters, split between lines."""
    chunks: list[str] = []
    current = ""
    for line in view_lines(view):
        for piece in split_message(line, MESSAGE_LIMIT) if len(line) > MESSAGE_LIMIT else [line]:
            if current and len(current) + 1 + len(piece) > MESSAGE_LIMIT:
                chunks.append(current)
                current = ""
            current = f"{current}\n{piece}" if current else piece
    return [*chunks, current] if current else chunks or [view.text[:MESSAGE_LIMIT]]


def one_message(view: CommandView) -> str:
    """The view as a single message: the facts that fit, the rest counted as "more"."""
    shown = list(view.facts)
    while True:
        fitted = dataclasses.replace(view, facts=tuple(shown), more=view.more + len(view.facts) - len(shown))
        text = "\n".join(view_lines(fitted))
        if len(text) <= MESSAGE_LIMIT or not shown:
            return text[:MESSAGE_LIMIT]
        shown.pop()


async def show(interaction: discord.Interaction[Any], view: CommandView, commands: Commands) -> None:
    """Answer a deferred command: edit its response, then private followups if it is long."""
    if view.buttons:
        buttons = ButtonsView(view, commands, shown_by=interaction)
        await interaction.edit_original_response(
            content=one_message(view), view=buttons, allowed_mentions=NO_PINGS
        )
        return
    first, *rest = message_contents(view)
    await interaction.edit_original_response(content=first, allowed_mentions=NO_PINGS)
    for content in rest:
        await interaction.followup.send(content, ephemeral=True, allowed_mentions=NO_PINGS)


class _ActionButton(discord.ui.Button["ButtonsView"]):
    """One of the core's buttons; a press hands its (action, value) back to the view."""

    def __init__(self, button: Button) -> None:
        super().__init__(label=button.label, style=STYLES[button.style])
        self.action = button.action
        self.value = button.value

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        assert self.view is not None
        await self.view.pressed(interaction, self.action, self.value)


class ButtonsView(discord.ui.View):
    """The buttons of a view, on the message `shown_by` answered with.

    After `expires_in` seconds unpressed they are taken off that message, which then says
    `expired_text`. Who may press them, and what a press does, is the core's to decide.
    """

    def __init__(self, view: CommandView, commands: Commands, *, shown_by: discord.Interaction[Any]) -> None:
        super().__init__(timeout=view.expires_in)
        self._commands = commands
        self._shown_by = shown_by
        self._expired_text = view.expired_text
        self._busy = False
        for button in view.buttons:
            self.add_item(_ActionButton(button))

    async def on_timeout(self) -> None:
        try:
            if self._expired_text:
                await self._shown_by.edit_original_response(
                    content=self._expired_text, view=None, allowed_mentions=NO_PINGS
                )
            else:
                await self._shown_by.edit_original_response(view=None)
        except discord.HTTPException as exc:
            log.info("discord: could not take expired buttons away (%s)", exc)

    async def pressed(self, interaction: discord.Interaction[Any], action: str, value: str) -> None:
        presser = user_key(interaction.user.id)
        refused = self._commands.refusal(presser, action, value)
        if refused is not None:  # at once: Discord wants an answer within 3 seconds
            await interaction.response.send_message(refused.text, ephemeral=True, allowed_mentions=NO_PINGS)
            return
        await interaction.response.defer()  # carrying it out may outlast those 3 seconds
        if self._busy:
            return  # a second press while the first is carried out: the first one answers
        self._busy = True
        try:
            result = await self._commands.press(presser, action, value)
        except Exception:
            log.exception("discord: a %s press failed", action)
            result = CommandView(text=FAILED, failed=True, replace=False)
        finally:
            self._busy = False
        if result.replace:
            self.stop()
            follow_on = ButtonsView(result, self._commands, shown_by=interaction) if result.buttons else None
            await interaction.edit_original_response(
                content=one_message(result), view=follow_on, allowed_mentions=NO_PINGS
            )
            return
        for content in message_contents(result):
            await interaction.followup.send(content, ephemeral=True, allowed_mentions=NO_PINGS)

"""The command core's views -> Discord messages and buttons (outbound, no decisions).

A view becomes message content within Discord's 2,000 characters. A listing too long for
one message goes out over several private messages, whole lines each, in the core's
order. A view with buttons must stay one message (the buttons sit on it), so the facts
that do not fit are counted in its "…and N more." line instead. A press goes back to the
core as the button's (action, value); the core decides everything about it.

A listing whose facts have their own buttons (/memories: make private, share) is numbered,
and each fact's button on the first message is labelled with its number ("2 · Share").
Discord allows 25 buttons on a message (5 rows of 5), so the first message carries the
facts whose buttons fit; the facts after them follow in further private messages, still
numbered, without buttons. The answer to a press replaces that first message: the facts
that fit with their buttons, the rest counted.
"""

from __future__ import annotations

import asyncio
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
MAX_BUTTONS = 25  # on one message: 5 action rows of 5 buttons
# Buttons with no expiry of their own come off their message after this long: Discord lets a
# bot edit an interaction's reply for 15 minutes, and a view without a timeout would be kept
# in memory for as long as the bot runs. Running the command again brings them back.
BUTTONS_TIMEOUT = 14 * 60.0
NO_PINGS = discord.AllowedMentions.none()
STYLES = {
    "danger": discord.ButtonStyle.danger,
    "primary": discord.ButtonStyle.primary,
    "default": discord.ButtonStyle.secondary,
}


def numbered(view: CommandView) -> bool:
    """Whether the view's facts have buttons of their own, and so are numbered to tell them apart."""
    return any(fact.buttons for fact in view.facts)


def fact_line(fact: FactLine, show_sources: bool, number: int | None = None) -> str:
    mark = "•" if number is None else f"{number}."
    return f"{mark} {fact.text} — {fact.source}" if show_sources else f"{mark} {fact.text}"


def fact_texts(view: CommandView) -> list[str]:
    """One line per fact: numbered from 1 when the facts have buttons, else bulleted."""
    count = numbered(view)
    return [
        fact_line(fact, view.show_sources, index if count else None)
        for index, fact in enumerate(view.facts, start=1)
    ]


def view_lines(view: CommandView) -> list[str]:
    """Headline, one line per fact, the "…and N more." line, footer."""
    return [line for line in (view.text, *fact_texts(view), view.more_line(), view.footer) if line]


def _chunks(lines: list[str], first: str = "") -> list[str]:
    """`lines` after `first`, packed into messages of at most 2,000 characters, split between lines."""
    chunks: list[str] = []
    current = first
    for line in lines:
        for piece in split_message(line, MESSAGE_LIMIT) if len(line) > MESSAGE_LIMIT else [line]:
            if current and len(current) + 1 + len(piece) > MESSAGE_LIMIT:
                chunks.append(current)
                current = ""
            current = f"{current}\n{piece}" if current else piece
    return [*chunks, current] if current else chunks


def message_contents(view: CommandView) -> list[str]:
    """The whole view as one or more messages of at most 2,000 characters, split between lines."""
    return _chunks(view_lines(view)) or [view.text[:MESSAGE_LIMIT]]


def buttoned(view: CommandView) -> int:
    """How many of the first facts can have their buttons on one message, beside the view's own."""
    room = MAX_BUTTONS - len(view.buttons)
    count = 0
    for fact in view.facts:
        room -= len(fact.buttons)
        if room < 0:
            break
        count += 1
    return count


def message_buttons(view: CommandView, shown: int) -> list[Button]:
    """The buttons of the first `shown` facts, labelled with their numbers, then the view's own."""
    return [
        *(
            dataclasses.replace(button, label=f"{number} · {button.label}")
            for number, fact in enumerate(view.facts[:shown], start=1)
            for button in fact.buttons
        ),
        *view.buttons,
    ]


def fit_one(view: CommandView) -> tuple[str, int]:
    """The view as a single message, and how many facts it shows; the rest are counted as "more"."""
    shown = list(view.facts[: buttoned(view)] if numbered(view) else view.facts)
    while True:
        fitted = dataclasses.replace(view, facts=tuple(shown), more=view.more + len(view.facts) - len(shown))
        text = "\n".join(view_lines(fitted))
        if len(text) <= MESSAGE_LIMIT or not shown:
            return text[:MESSAGE_LIMIT], len(shown)
        shown.pop()


def one_message(view: CommandView) -> str:
    """The view as a single message: the facts that fit, the rest counted as "more"."""
    return fit_one(view)[0]


def listing_messages(view: CommandView) -> tuple[list[str], int]:
    """A numbered listing as messages, and how many facts the first one shows (and has buttons
    for): as many as fit and have room for their buttons; every fact is in one message or another."""
    lines = fact_texts(view)
    first, shown = view.text[:MESSAGE_LIMIT], 0
    for line in lines[: buttoned(view)]:
        if len(first) + 1 + len(line) > MESSAGE_LIMIT:
            break
        first, shown = f"{first}\n{line}", shown + 1
    rest = [*lines[shown:], *(line for line in (view.more_line(), view.footer) if line)]
    if shown < len(lines):
        return [first, *_chunks(rest)], shown
    return _chunks(rest, first), shown


async def show(interaction: discord.Interaction[Any], view: CommandView, commands: Commands) -> None:
    """Answer a deferred command: edit its response, then private followups if it is long."""
    if numbered(view):
        (first, *rest), shown = listing_messages(view)
    elif view.buttons:
        first, shown, rest = one_message(view), 0, []
    else:
        (first, *rest), shown = message_contents(view), 0
    buttons = message_buttons(view, shown)
    if buttons:
        shown_with = ButtonsView(view, commands, shown_by=interaction, buttons=buttons)
        await interaction.edit_original_response(content=first, view=shown_with, allowed_mentions=NO_PINGS)
    else:
        await interaction.edit_original_response(content=first, allowed_mentions=NO_PINGS)
        if view.expires_in is not None and view.expired_text:
            expire_later(interaction, view.expires_in, view.expired_text)
    for content in rest:
        await interaction.followup.send(content, ephemeral=True, allowed_mentions=NO_PINGS)


_expiring: set[asyncio.Task[None]] = set()


def expire_later(interaction: discord.Interaction[Any], after: float, text: str) -> None:
    """In `after` seconds, replace the answer (a link code, say) with `text`, if the bot still runs.

    A timer, not a sleeping task: one still pending when the bot stops is simply dropped.
    """

    async def expire() -> None:
        try:
            await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.info("discord: could not mark an answer expired (%s)", exc)

    def due() -> None:
        if interaction.client.is_closed():
            return
        task = asyncio.create_task(expire())
        _expiring.add(task)
        task.add_done_callback(_expiring.discard)

    asyncio.get_running_loop().call_later(after, due)


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

    def __init__(
        self,
        view: CommandView,
        commands: Commands,
        *,
        shown_by: discord.Interaction[Any],
        buttons: list[Button] | None = None,
    ) -> None:
        """`buttons`: what the message shows (default: the view's own, without its facts')."""
        super().__init__(timeout=view.expires_in if view.expires_in is not None else BUTTONS_TIMEOUT)
        self._commands = commands
        self._shown_by = shown_by
        self._expired_text = view.expired_text
        self._busy = False
        for button in view.buttons if buttons is None else buttons[:MAX_BUTTONS]:
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
            content, shown = fit_one(result)
            buttons = message_buttons(result, shown)
            follow_on = (
                ButtonsView(result, self._commands, shown_by=interaction, buttons=buttons)
                if buttons
                else None
            )
            await interaction.edit_original_response(
                content=content, view=follow_on, allowed_mentions=NO_PINGS
            )
            return
        for content in message_contents(result):
            await interaction.followup.send(content, ephemeral=True, allowed_mentions=NO_PINGS)

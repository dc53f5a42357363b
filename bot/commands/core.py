"""What `/memories`, `/forget`, `/link` and `/unlink` do for a person, decided once for every
platform.

Each call takes the person's verified user id from the adapter (never from the text they
typed) and returns a `CommandView`. A button press comes back through `press`, which
checks that the presser is the person the buttons were made for and that they have not
expired. Buttons carry everything they need in their value, so a press can be handled
by any bot process, not only the one that showed the buttons.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.commands.buttons import ButtonValue, parse_value
from bot.commands.link import link_view, unlink_view
from bot.commands.listing import FACT_PRIVATE, FACT_SHARE, fact_lines, memories_noun, shown_phrase
from bot.commands.views import Button, CommandView, FactLine
from bot.commands.wording import (
    ALREADY_REMEMBERED,
    EXPIRED,
    FAILED,
    FORGOT,
    FORGOT_NOTHING,
    FORGOT_ONE,
    FORGOT_ONE_GONE,
    HOME_EMPTY,
    HOME_MORE,
    HOME_TITLE,
    KEPT,
    KNOWN,
    MADE_PRIVATE,
    MADE_SHARED,
    NOT_YOUR_MEMORY,
    NOT_YOUR_MESSAGE,
    NOT_YOURS,
    NOTHING_KNOWN,
    NOTHING_TO_FORGET,
    NOTHING_TO_REMEMBER,
    PHRASE_TOO_LONG,
    PREVIEW,
    PREVIEW_FOOTER,
    REMEMBERED,
    UNKNOWN_BUTTON,
    UNKNOWN_COMMAND,
    VISIBILITY_FOOTER,
    VISIBILITY_GONE,
)
from bot.linking import Linker
from bot.memory import MemoryManager, Provenance
from bot.visibility import PRIVATE, SHARED, Visibility

log = logging.getLogger(__name__)

FORGET_CONFIRM = "forget.confirm"
FORGET_CANCEL = "forget.cancel"
FORGET_FACT = "forget.fact"  # one fact, from a listing that offers a button per fact
FORGET_START = "forget.start"  # "Forget everything": leads to the same preview as /forget
_VISIBILITY_ACTIONS: dict[str, Visibility] = {FACT_PRIVATE: PRIVATE, FACT_SHARE: SHARED}
FORGET_TIMEOUT_SECONDS = 600.0  # Discord lets a bot edit a command's reply for 15 minutes
PREVIEW_LIMIT = 20
HOME_LIMIT = 40  # facts with their own button on a home screen (Slack: 100 blocks a view)
MAX_PHRASE_CHARS = 1000


def _failed() -> CommandView:
    return CommandView(text=FAILED, failed=True, replace=False)


class Commands:
    """The one entry point every platform calls for a person's commands and buttons."""

    def __init__(
        self,
        memories: MemoryManager,
        *,
        forget_timeout: float = FORGET_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock` (seconds since the epoch) decides when /forget buttons and link codes expire."""
        self._memories = memories
        self._forget_timeout = forget_timeout
        self._clock = clock
        self._linker = Linker(memories, clock=clock)

    async def run(
        self, name: str, user_id: str, argument: str = "", *, display_name: str = ""
    ) -> CommandView:
        """Run the command called `name` ("memories", "/forget", "link", ...) with its argument
        text. `display_name`: how the person is called on this platform (for /link)."""
        name = name.strip().lstrip("/").lower()
        if name == "memories":
            return await self.memories(user_id)
        if name == "forget":
            return await self.forget(user_id, argument)
        if name == "link":
            return await self.link(user_id, display_name, argument.strip() or None)
        if name == "unlink":
            return await self.unlink(user_id)
        return CommandView(text=UNKNOWN_COMMAND, replace=False)

    async def memories(self, user_id: str, *, note: str | None = None) -> CommandView:
        """Everything the bot knows about the person, newest first, with where each was learned,
        whether it is private or shared, and a button per fact to change that."""
        try:
            facts = await self._memories.list_facts(user_id)
        except Exception:
            log.exception("/memories failed")
            return _failed()
        if not facts:
            return CommandView(text=note or NOTHING_KNOWN)
        return CommandView(
            text=note or KNOWN.format(count=len(facts)),
            facts=fact_lines(facts, owner=user_id),
            footer=VISIBILITY_FOOTER,
        )

    async def set_visibility(self, user_id: str, fact_id: str, visibility: Visibility) -> CommandView:
        """Make one of the person's facts private or shared; answers with the updated listing."""
        try:
            fact = await self._memories.set_visibility(user_id, fact_id, visibility)
        except Exception:
            log.exception("changing a fact's visibility failed")
            return _failed()
        if fact is None:
            return await self.memories(user_id, note=VISIBILITY_GONE)
        done = MADE_PRIVATE if visibility == PRIVATE else MADE_SHARED
        return await self.memories(user_id, note=done.format(text=shown_phrase(fact.text, 200)))

    async def link(self, user_id: str, display_name: str, code: str | None = None) -> CommandView:
        """`/link` without a code: a one-time code for this account. With one (typed on the
        other platform): join this account with the one that made it. Private answers."""
        return await link_view(self._linker, user_id, display_name or user_id, code, self._clock())

    async def unlink(self, user_id: str) -> CommandView:
        """`/unlink`: separate this account from the ones it is linked with."""
        return await unlink_view(self._linker, user_id)

    async def forget(self, user_id: str, phrase: str | None = None) -> CommandView:
        """A preview of what `/forget [phrase]` would erase, with Erase and Cancel buttons."""
        phrase = " ".join((phrase or "").split()) or None
        if phrase is not None and len(phrase) > MAX_PHRASE_CHARS:
            return CommandView(text=PHRASE_TOO_LONG.format(limit=MAX_PHRASE_CHARS))
        try:
            facts = await self._memories.preview_forget(user_id, phrase)
        except Exception:
            log.exception("/forget preview failed")
            return _failed()
        if not facts:
            matching = f" matching “{shown_phrase(phrase)}”" if phrase else ""
            return CommandView(text=NOTHING_TO_FORGET.format(matching=matching))
        what = (
            f"the memories matching “{shown_phrase(phrase)}”" if phrase else "everything I remember about you"
        )
        value = ButtonValue(
            owner=user_id, phrase=phrase, expires_at=self._clock() + self._forget_timeout
        ).encode()
        return CommandView(
            text=PREVIEW.format(what=what, count=memories_noun(len(facts))),
            facts=fact_lines(facts[:PREVIEW_LIMIT]),
            show_sources=False,
            more=max(0, len(facts) - PREVIEW_LIMIT),
            footer=PREVIEW_FOOTER,
            buttons=(
                Button(action=FORGET_CONFIRM, label="Erase them", value=value, style="danger"),
                Button(action=FORGET_CANCEL, label="Cancel", value=value),
            ),
            expires_in=self._forget_timeout,
            expired_text=EXPIRED,
        )

    async def home(self, user_id: str) -> CommandView:
        """A person's own page: their facts, a Forget button on each, and Forget everything."""
        try:
            facts = await self._memories.list_facts(user_id)
        except Exception:
            log.exception("the home view failed")
            return _failed()
        if not facts:
            return CommandView(text=HOME_TITLE, footer=HOME_EMPTY)
        shown = tuple(
            FactLine(
                id=line.id,
                text=line.text,
                source=line.source,
                visibility=line.visibility,
                buttons=(
                    Button(
                        action=FORGET_FACT,
                        label="Forget",
                        value=ButtonValue(owner=user_id, fact_id=line.id).encode(),
                    ),
                    *line.buttons,
                ),
            )
            for line in fact_lines(facts[:HOME_LIMIT], owner=user_id)
        )
        more = max(0, len(facts) - HOME_LIMIT)
        return CommandView(
            text=HOME_TITLE,
            facts=shown,
            more=more,
            footer=HOME_MORE.format(count=len(facts)) if more else "",
            buttons=(
                Button(
                    action=FORGET_START,
                    label="Forget everything",
                    value=ButtonValue(owner=user_id).encode(),
                    style="danger",
                ),
            ),
        )

    async def remember(self, user_id: str, author_id: str, text: str, source: Provenance) -> CommandView:
        """Keep what `author_id` said in a message, for `user_id`, who asked: only their own."""
        if author_id != user_id:
            return CommandView(text=NOT_YOUR_MESSAGE)
        said = " ".join(text.split())
        if not any(char.isalnum() for char in said):
            return CommandView(text=NOTHING_TO_REMEMBER)
        try:
            _, changed = await self._memories.save(user_id, f"User said: “{said}”", "Noted", source)
        except Exception:
            log.exception("remembering a message failed")
            return _failed()
        return CommandView(
            text=REMEMBERED.format(text=shown_phrase(said, 200)) if changed else ALREADY_REMEMBERED
        )

    def refusal(self, user_id: str, action: str, value: str) -> CommandView | None:
        """Why a press by `user_id` will not be carried out, or None; instant, no I/O.

        Adapters that must answer a press within a deadline ask this first: a refusal goes
        back at once as a private note; anything else may take longer (`press`).
        """
        request = _request(action, value)
        if request is None:
            return CommandView(text=UNKNOWN_BUTTON, replace=False)
        if request.owner != user_id:
            log.warning("refused a %s press from someone other than the person it was for", action)
            return CommandView(
                text=NOT_YOUR_MEMORY if action in _VISIBILITY_ACTIONS else NOT_YOURS, replace=False
            )
        return None

    async def press(self, user_id: str, action: str, value: str) -> CommandView:
        """A button press by `user_id`: carried out only for the person it was offered to."""
        refused = self.refusal(user_id, action, value)
        request = _request(action, value)
        if refused is not None or request is None:
            return refused or CommandView(text=UNKNOWN_BUTTON, replace=False)
        if action == FORGET_CANCEL:
            return CommandView(text=KEPT)
        if action == FORGET_START:
            return await self.forget(user_id)
        if action in _VISIBILITY_ACTIONS:
            assert request.fact_id is not None
            return await self.set_visibility(user_id, request.fact_id, _VISIBILITY_ACTIONS[action])
        try:
            if action == FORGET_FACT:
                assert request.fact_id is not None
                gone = await self._memories.delete(user_id, request.fact_id)
                return CommandView(text=FORGOT_ONE if gone else FORGOT_ONE_GONE)
            if request.expires_at is not None and self._clock() > request.expires_at:
                return CommandView(text=EXPIRED)
            count = await self._memories.forget(user_id, request.phrase)
        except Exception:
            log.exception("%s failed", action)
            return _failed()
        return CommandView(text=FORGOT.format(count=memories_noun(count)) if count else FORGOT_NOTHING)


def _request(action: str, value: str) -> ButtonValue | None:
    """The button value of a press, if `action` is ours and the value has what it needs."""
    request = parse_value(value)
    if request is None:
        return None
    if action in {FORGET_CONFIRM, FORGET_CANCEL}:
        return request if request.expires_at is not None else None
    if action == FORGET_FACT or action in _VISIBILITY_ACTIONS:
        return request if request.fact_id is not None else None
    return request if action == FORGET_START else None

"""What `/memories` and `/forget` do for a person, decided once for every platform.

Each call takes the person's verified user id from the adapter (never from the text they
typed) and returns a `CommandView`. A button press comes back through `press`, which
checks that the presser is the person the buttons were made for and that they have not
expired. Buttons carry everything they need in their value, so a press can be handled
by any bot process, not only the one that showed the buttons.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from bot.commands.buttons import ButtonValue, parse_value
from bot.commands.views import Button, CommandView, FactLine
from bot.memory import Fact, MemoryManager, Provenance

log = logging.getLogger(__name__)

FORGET_CONFIRM = "forget.confirm"
FORGET_CANCEL = "forget.cancel"
FORGET_FACT = "forget.fact"  # one fact, from a listing that offers a button per fact
FORGET_START = "forget.start"  # "Forget everything": leads to the same preview as /forget
FORGET_TIMEOUT_SECONDS = 600.0  # Discord lets a bot edit a command's reply for 15 minutes
PREVIEW_LIMIT = 20
HOME_LIMIT = 40  # facts with their own button on a home screen (Slack: 100 blocks a view)
MAX_PHRASE_CHARS = 1000

NOTHING_KNOWN = "I don't remember anything about you yet. Tell me something and I'll keep it in mind."
KNOWN = "Here's what I remember about you ({count}):"
NOTHING_TO_FORGET = "I don't remember anything about you{matching}, so there's nothing to forget."
PREVIEW = "This will erase {what} ({count}):"
PREVIEW_FOOTER = "Erase them, or cancel to keep everything."
FORGOT = "Done. I erased {count} about you."
FORGOT_NOTHING = "Nothing needed erasing: I had nothing matching left."
KEPT = "Okay, I kept everything."
NOT_YOURS = "Sorry, only the person who ran /forget can confirm or cancel it."
EXPIRED = "This /forget has expired and I kept everything. Run /forget again if you still want to."
UNKNOWN_BUTTON = "Sorry, I don't recognise that button any more. Run the command again."
PHRASE_TOO_LONG = (
    "That phrase is too long for me to search for. Try a few words ({limit:,} characters at most)."
)
HOME_TITLE = "What I know about you"
HOME_EMPTY = "Nothing yet. Tell me about yourself in a DM or a thread and I'll remember it."
HOME_MORE = "Run /memories to see all {count}."
FORGOT_ONE = "Done. I erased that memory about you."
FORGOT_ONE_GONE = "That memory was already gone."
REMEMBERED = "Got it. I'll remember that you said: “{text}”"
ALREADY_REMEMBERED = "I already remember that."
NOT_YOUR_MESSAGE = "I can only remember what you said yourself, and that message is someone else's."
NOTHING_TO_REMEMBER = "That message has no text I could remember."
UNKNOWN_COMMAND = "I don't know that command. Try /memories or /forget [phrase]."
FAILED = "Sorry, something went wrong on my side. Please try again in a moment."


def memories_noun(count: int) -> str:
    return f"{count} memor{'y' if count == 1 else 'ies'}"


def shown_phrase(phrase: str, limit: int = 100) -> str:
    """A person's phrase as we quote it back: one line, cut to `limit` characters."""
    phrase = " ".join(phrase.split())
    return phrase if len(phrase) <= limit else phrase[: limit - 1] + "…"


def fact_lines(facts: Sequence[Fact]) -> tuple[FactLine, ...]:
    return tuple(
        FactLine(id=fact.id, text=fact.text, source=f"learned in {fact.where()}, {fact.updated_at:%Y-%m-%d}")
        for fact in facts
    )


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
        self._memories = memories
        self._forget_timeout = forget_timeout
        self._clock = clock

    async def run(self, name: str, user_id: str, argument: str = "") -> CommandView:
        """Run the command called `name` ("memories", "/forget", ...) with its argument text."""
        name = name.strip().lstrip("/").lower()
        if name == "memories":
            return await self.memories(user_id)
        if name == "forget":
            return await self.forget(user_id, argument)
        return CommandView(text=UNKNOWN_COMMAND, replace=False)

    async def memories(self, user_id: str) -> CommandView:
        """Everything the bot knows about the person, newest first, with where it was learned."""
        try:
            facts = await self._memories.list_facts(user_id)
        except Exception:
            log.exception("/memories failed")
            return _failed()
        if not facts:
            return CommandView(text=NOTHING_KNOWN)
        return CommandView(text=KNOWN.format(count=len(facts)), facts=fact_lines(facts))

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
                buttons=(
                    Button(
                        action=FORGET_FACT,
                        label="Forget",
                        value=ButtonValue(owner=user_id, fact_id=line.id).encode(),
                    ),
                ),
            )
            for line in fact_lines(facts[:HOME_LIMIT])
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
            return CommandView(text=NOT_YOURS, replace=False)
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
    if action == FORGET_FACT:
        return request if request.fact_id is not None else None
    return request if action == FORGET_START else None

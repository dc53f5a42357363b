"""What a command answers, in no platform's terms: adapters render these and nothing else.

A view is text plus, optionally, facts and buttons. A button carries an `action` (what
it does, e.g. `forget.confirm`) and an opaque `value`; a press hands both back to
`Commands.press` unchanged, so an adapter never needs to know what a button means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.visibility import Visibility

ButtonStyle = Literal["danger", "primary", "default"]


@dataclass(frozen=True, kw_only=True)
class Button:
    """One choice offered to the person who ran the command."""

    action: str
    label: str
    value: str
    style: ButtonStyle = "default"


@dataclass(frozen=True, kw_only=True)
class FactLine:
    """One fact as a person sees it in a listing."""

    id: str
    text: str
    source: str  # "learned in a Slack DM, 2026-12-02 · private (DMs only)"
    buttons: tuple[Button, ...] = ()  # what can be done to this one fact
    visibility: Visibility = "shared"  # also named at the end of `source`; for styling


@dataclass(frozen=True, kw_only=True)
class CommandView:
    """A command's answer. Every view is private to the person who asked.

    `text` is the headline (or the whole answer); `facts` follow it, then `more` (how many
    further facts were left out), then `footer`. `show_sources` says whether each fact's
    source is shown. `buttons` stop working after `expires_in` seconds; a renderer that can
    take them away then shows `expired_text` instead. `replace`: for the answer to a press,
    whether it replaces the message that had the buttons (else it is a new private note).
    """

    text: str
    facts: tuple[FactLine, ...] = ()
    show_sources: bool = True
    more: int = 0
    footer: str = ""
    buttons: tuple[Button, ...] = ()
    expires_in: float | None = None
    expired_text: str = ""
    replace: bool = True
    failed: bool = False

    def more_line(self) -> str:
        """The line that stands for the facts left out, or ''."""
        return f"…and {self.more} more." if self.more else ""

    def lines(self) -> list[str]:
        """The view as plain text lines, the same on every platform (styling aside)."""
        out = [self.text]
        for fact in self.facts:
            out.append(f"• {fact.text}" + (f" ({fact.source})" if self.show_sources else ""))
        if self.more:
            out.append(self.more_line())
        if self.footer:
            out.append(self.footer)
        return out

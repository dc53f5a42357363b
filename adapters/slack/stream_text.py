"""What of a growing answer Slack may be shown now, and where a long one is cut.

Kept apart from the delivery (`streaming`) so it can be read and tested on its own.
"""

from __future__ import annotations

import re

import aiohttp
from slack_sdk.errors import SlackApiError

from adapters.slack.render import escape

# What a Web API call can fail with: Slack's refusal, or no answer at all.
FAILURES = (SlackApiError, aiohttp.ClientError, OSError, TimeoutError)
_HELD_TAIL = re.compile(r"(\s*@\w*|\s+)\Z")


def whole_paragraphs(text: str) -> str:
    """`text` up to its last paragraph end ('' if it has none)."""
    index = text.rfind("\n\n")
    return text[: index + 2] if index >= 0 else ""


def error_name(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or "unknown_error")
    return type(exc).__name__


def safe_cut(text: str) -> int:
    """How much of `text` can be shown now: all but a trailing `@word` or whitespace."""
    match = _HELD_TAIL.search(text)
    return match.start() if match else len(text)


def message_end(text: str, room: int, *, used: int = 0, shown_whole: bool = False) -> int:
    """Where to end a message that has `room` characters left (escaped) after the `used` it
    already shows, on a boundary: the best kind (paragraph, line, sentence, word) that still
    leaves the whole message at least half full, however the text arrived in pieces. When
    what it shows ends a paragraph (`shown_whole`) and `text` has no paragraph end within
    the room, the message ends as it is (0)."""
    if shown_whole and used and "\n\n" not in text[:room]:
        return 0
    budget = room
    while budget > 0:
        window = text[:budget]
        cut = budget
        for separator in ("\n\n", "\n", ". ", " "):
            index = window.rfind(separator)
            if index >= 0 and used + index >= (used + budget) // 2:
                cut = index + len(separator)
                break
        overflow = len(escape(text[:cut])) - room
        if overflow <= 0:
            return cut
        budget = min(budget, cut) - overflow
    return 0

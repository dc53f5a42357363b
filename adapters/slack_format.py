"""Model Markdown -> Slack mrkdwn, with every ping defused, and the Block Kit we send.

Slack parses `<...>` as control sequences (`<!channel>`, `<@U123>`, `<url|text>`) even
inside code, so `&`, `<` and `>` are escaped everywhere; the only `<...>` left in what
we post are links we build ourselves. Text-style `@channel`/`@here`/`@everyone` gets a
zero-width space so no client setting (`link_names`) can turn it into a ping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from bot.memory import Fact

ZWSP = "\u200b"
SLACK_CHUNK = 3500
THINKING = "_thinking…_"
FORGET_CONFIRM = "forget_confirm"
FORGET_CANCEL = "forget_cancel"

_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_CODE = re.compile(r"(```.*?(?:```|\Z)|`[^`\n]+`)", re.DOTALL)
_LINK = re.compile(r"!?\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.MULTILINE)
_BOLD_MARK = "\x00"  # stands for Slack's `*` until single-star italics are converted


def escape(text: str) -> str:
    """Escape Slack's three control characters and defuse broadcast words."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return neutralize_broadcasts(text)


def neutralize_broadcasts(text: str) -> str:
    """`@channel` -> `@\u200bchannel` so it can never notify a room."""
    return _BROADCAST.sub(lambda m: "@" + ZWSP + m.group(1), text)


def _prose(text: str, links: list[str]) -> str:
    """Convert Markdown outside code; finished links are parked in `links` as placeholders."""

    def park_link(match: re.Match[str]) -> str:
        label = match.group(1).replace("|", "¦")
        links.append(f"<{escape(match.group(2))}|{escape(label)}>")
        return f"\x01{len(links) - 1}\x01"

    text = _LINK.sub(park_link, text)
    text = escape(text)
    text = _HEADING.sub(lambda m: f"{_BOLD_MARK}{m.group(1).replace('**', '')}{_BOLD_MARK}", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(1)}{_BOLD_MARK}", text)
    text = _ITALIC.sub(lambda m: f"_{m.group(1)}_", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    return text.replace(_BOLD_MARK, "*")


def to_mrkdwn(markdown: str) -> str:
    """Render the model's Markdown as Slack mrkdwn that cannot ping anyone."""
    markdown = markdown.replace("\x00", "").replace("\x01", "")
    links: list[str] = []
    parts = []
    for index, piece in enumerate(_CODE.split(markdown)):
        if index % 2:  # code: kept as written, only escaped
            parts.append(escape(piece))
        else:
            parts.append(_prose(piece, links))
    text = "".join(parts)
    return re.sub("\x01(\\d+)\x01", lambda m: links[int(m.group(1))], text)


def plain(text: str, limit: int = 300) -> str:
    """Untrusted text (a fact, a name) made safe for a mrkdwn field and cut to `limit`."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape(text)


# ---------------------------------------------------------------- Block Kit

_MAX_LISTED = 20


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _fact_sections(title: str, facts: Sequence[Fact], *, with_source: bool) -> list[dict[str, Any]]:
    """The title and one bullet per fact, a few per section to stay under Slack's 3,000 chars."""
    lines = []
    for fact in facts[:_MAX_LISTED]:
        line = f"• {plain(fact.text, 200)}"
        if with_source:
            line += f" _({plain(fact.where(), 80)}, {fact.updated_at:%Y-%m-%d})_"
        lines.append(line)
    if len(facts) > _MAX_LISTED:
        lines.append(f"…and {len(facts) - _MAX_LISTED} more.")
    sections = [_section(f"*{title}*")]
    for start in range(0, len(lines), 8):
        sections.append(_section("\n".join(lines[start : start + 8])))
    return sections


def forget_value(invoker: str, phrase: str | None) -> str:
    """The button value: who asked (the raw Slack user id) and what to erase."""
    return json.dumps({"u": invoker, "p": phrase}, separators=(",", ":"))


def parse_forget_value(value: str) -> tuple[str, str | None] | None:
    """Inverse of `forget_value`; None when the value is not ours."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), str):
        return None
    phrase = data.get("p")
    return data["u"], phrase if isinstance(phrase, str) and phrase else None


def forget_preview(
    facts: Sequence[Fact], *, invoker: str, phrase: str | None
) -> tuple[str, list[dict[str, Any]]]:
    """The ephemeral "this will be erased" message with confirm and cancel buttons."""
    what = f"memories matching “{plain(phrase, 100)}”" if phrase else "everything I remember about you"
    count = f"{len(facts)} memor{'y' if len(facts) == 1 else 'ies'}"
    text = f"This will erase {what} ({count}):"
    value = forget_value(invoker, phrase)
    blocks = [
        *_fact_sections(text, facts, with_source=False),
        {
            "type": "actions",
            "block_id": "forget_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": FORGET_CONFIRM,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Erase them"},
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": FORGET_CANCEL,
                    "text": {"type": "plain_text", "text": "Cancel"},
                    "value": value,
                },
            ],
        },
    ]
    return text, blocks


def nothing_to_forget(phrase: str | None) -> str:
    if phrase:
        shown = plain(phrase, 100)
        return f"I don't remember anything about you matching “{shown}”, so there's nothing to erase."
    return "I don't remember anything about you yet, so there's nothing to erase."


def forgot(count: int) -> str:
    if count == 0:
        return "Nothing needed erasing — I had nothing matching left."
    return f"Done. I erased {count} memor{'y' if count == 1 else 'ies'} about you."


def memories_list(facts: Sequence[Fact]) -> tuple[str, list[dict[str, Any]]]:
    """The ephemeral `/memories` answer: each fact with where and when it was learned."""
    if not facts:
        text = "I don't remember anything about you yet."
        return text, [_section(text)]
    text = f"Here's what I remember about you ({len(facts)}):"
    return text, _fact_sections(text, facts, with_source=True)

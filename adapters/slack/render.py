"""Slack output: the model's Markdown as mrkdwn with every ping defused, and command views
as Block Kit.

Slack parses `<...>` as control sequences (`<!channel>`, `<@U123>`, `<url|text>`) even
inside code, so `&`, `<` and `>` are escaped everywhere; the only `<...>` left in what
we post are links we build ourselves. Text-style `@channel`/`@here`/`@everyone` gets a
zero-width space so no client setting (`link_names`) can turn it into a ping.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.commands import Button, CommandView, FactLine

ZWSP = "\u200b"
SLACK_CHUNK = 3500
THINKING = "_thinking…_"
SECTION_CHARS = 3000  # Slack's limit on one section's text
MAX_BLOCKS = 50  # Slack's limit per message
MAX_MESSAGES = 5  # how often Slack lets one response_url be used
FACTS_PER_SECTION = 8

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


@dataclass(frozen=True, kw_only=True)
class SlackMessage:
    """One message to send through a response_url: fallback text and its blocks."""

    text: str
    blocks: list[dict[str, Any]]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_CHARS]}}


def fact_line(fact: FactLine, *, show_source: bool) -> str:
    line = f"• {plain(fact.text, 200)}"
    return line + f" _({plain(fact.source, 120)})_" if show_source else line


def _pack(lines: Sequence[str]) -> list[list[str]]:
    """Lines grouped a few per section, each group under Slack's 3,000 characters."""
    groups: list[list[str]] = []
    size = 0
    for line in lines:
        if not groups or len(groups[-1]) >= FACTS_PER_SECTION or size + 1 + len(line) > SECTION_CHARS:
            groups.append([])
            size = -1
        groups[-1].append(line)
        size += 1 + len(line)
    return groups


def _tail(view: CommandView) -> list[dict[str, Any]]:
    """What follows the facts: the "…and N more" line, the footer, the buttons."""
    lines = [line for line in (view.more_line(), plain(view.footer, 1000)) if line]
    blocks = [_section("\n".join(lines))] if lines else []
    if view.buttons:
        blocks.append({"type": "actions", "block_id": "view_actions", "elements": buttons(view)})
    return blocks


def buttons(view: CommandView) -> list[dict[str, Any]]:
    """One Block Kit button per view button; a press hands back its action_id and value."""
    return [_button(button) for button in view.buttons]


def view_messages(view: CommandView) -> list[SlackMessage]:
    """A command view as Slack messages: one, or (for a long listing) up to `MAX_MESSAGES`.

    Every fact is shown, in the view's order, until Slack's limits are reached; only then
    does a "…and N more" line stand for the rest.
    """
    text = plain(view.text, SECTION_CHARS)
    if not (view.facts or view.more or view.footer or view.buttons):
        return [SlackMessage(text=text, blocks=[])]
    room = MAX_MESSAGES * MAX_BLOCKS - 1 - len(_tail(view))  # the title takes one block
    each = [
        _fact_blocks(index, fact, fact_line(fact, show_source=view.show_sources))
        for index, fact in enumerate(view.facts)
    ]
    if any(fact.buttons for fact in view.facts) and sum(len(blocks) for blocks in each) <= room:
        # Every fact its own section, with its buttons (make private / share).
        blocks = [_section(f"*{text}*"), *(b for blocks in each for b in blocks), *_tail(view)]
        return _messages(text, blocks)
    # Too many for a section each: a few per section, without per-fact buttons.
    groups = _pack([fact_line(fact, show_source=view.show_sources) for fact in view.facts])
    if len(groups) > room:
        cut = dataclasses.replace(view, more=view.more + 1)  # make room for the "more" line
        room = MAX_MESSAGES * MAX_BLOCKS - 1 - len(_tail(cut))
        left_out = sum(len(group) for group in groups[room:])
        view = dataclasses.replace(view, more=view.more + left_out)
        groups = groups[:room]
    blocks = [_section(f"*{text}*"), *(_section("\n".join(group)) for group in groups), *_tail(view)]
    return _messages(text, blocks)


def _messages(text: str, blocks: list[dict[str, Any]]) -> list[SlackMessage]:
    """`blocks` cut into messages of Slack's 50 blocks; a fact's buttons stay with it."""
    messages: list[SlackMessage] = []
    start = 0
    while start < len(blocks):
        end = min(len(blocks), start + MAX_BLOCKS)
        if end < len(blocks) and blocks[end].get("type") == "actions" and end - 1 > start:
            end -= 1  # a row of buttons opens the next message with its fact
        messages.append(SlackMessage(text=text, blocks=blocks[start:end]))
        start = end
    return messages


# ---------------------------------------------------------------- App Home

MAX_VIEW_BLOCKS = 100  # Slack's limit for a Home tab


def _button(button: Button) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": button.action,
        "text": {"type": "plain_text", "text": button.label[:75]},
        "value": button.value,
    }
    if button.style in ("danger", "primary"):
        element["style"] = button.style
    return element


def _fact_blocks(index: int, fact: FactLine, text: str) -> list[dict[str, Any]]:
    """A fact's section; its one button as the section's accessory, several in a row below."""
    block = _section(text)
    block["block_id"] = f"fact_{index}"
    if len(fact.buttons) == 1:
        block["accessory"] = _button(fact.buttons[0])
    elif fact.buttons:
        row = {"type": "actions", "block_id": f"fact_{index}_actions"}
        return [block, {**row, "elements": [_button(button) for button in fact.buttons]}]
    return [block]


def _home_fact(index: int, fact: FactLine, *, show_source: bool) -> list[dict[str, Any]]:
    text = plain(fact.text, 300) + (f"\n_{plain(fact.source, 120)}_" if show_source else "")
    return _fact_blocks(index, fact, text)


def home_view(view: CommandView, *, note: str = "") -> dict[str, Any]:
    """A command view as the App Home tab: a header, then each fact with its buttons (Forget,
    Make private / Share), the footer and the view's buttons, within Slack's 100 blocks."""
    head: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": " ".join(view.text.split())[:150] or "…"}}
    ]
    if note:
        head.append(_section(plain(note, SECTION_CHARS)))
    room = MAX_VIEW_BLOCKS - len(head) - len(_tail(dataclasses.replace(view, more=view.more + 1)))
    body: list[dict[str, Any]] = []
    shown = 0
    for index, fact in enumerate(view.facts):
        blocks = _home_fact(index, fact, show_source=view.show_sources)
        if len(body) + len(blocks) > room:
            break
        body += blocks
        shown += 1
    if shown < len(view.facts):
        view = dataclasses.replace(view, more=view.more + len(view.facts) - shown)
    return {"type": "home", "blocks": [*head, *body, *_tail(view)]}

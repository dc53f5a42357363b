"""Pure Slack translation on recorded payloads: events in, mrkdwn and Block Kit out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from adapters.slack import render as fmt
from adapters.slack.events import (
    display_name,
    forget_phrase,
    parse_event,
    plain_text,
    prior_from_replies,
    to_incoming,
)
from adapters.slack.render import view_messages
from bot.commands import FORGET_CANCEL, FORGET_CONFIRM, Commands, CommandView, FactLine
from bot.commands.core import NOT_YOURS
from bot.memory import Fact, MemoryManager, Provenance

PAYLOADS = Path(__file__).parent / "payloads" / "slack"


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def event(name: str) -> dict[str, Any]:
    return payload(name)["event"]


def fact(text: str, *, direct: bool = False, label: str | None = "#general") -> Fact:
    when = datetime(2024, 5, 1, tzinfo=UTC)
    source = Provenance(platform="slack", thread_id="slack:T1:C1:1.0", is_direct=direct, channel_label=label)
    return Fact(id="m1", text=text, topic="Notes", created_at=when, updated_at=when, source=source)


# ---------------------------------------------------------------- inbound


def test_app_mention_starts_a_thread_on_its_own_ts() -> None:
    message = to_incoming(event("app_mention"), team_id="T1", bot_user_id="UBOT", user_name="Ana")
    assert message is not None
    assert message.platform == "slack"
    assert message.thread_id == "slack:T1:C1:1717171717.000100"
    assert message.user_id == "slack:T1:U1"
    assert message.user_name == "Ana"
    assert message.text == "what should we eat?"
    assert message.is_direct is False
    assert message.channel_label == "#C1"
    assert message.message_id == "1717171717.000100"


def test_thread_reply_keeps_the_parent_thread_and_reads_like_a_person_wrote_it() -> None:
    raw = event("message_channel_thread")
    message = to_incoming(raw, team_id="T1", bot_user_id="UBOT", names={"U1": "Ana"}, channel_name="general")
    assert message is not None
    assert message.thread_id == "slack:T1:C1:1717171717.000100"
    assert message.text == "and <b> for @Ana: see the menu (https://example.com/menu) in #random"
    assert message.channel_label == "#general"
    assert message.user_name == "U2"  # no name known: the raw id, never empty
    parsed = parse_event(raw, bot_user_id="UBOT")
    assert parsed is not None and parsed.mid_thread and not parsed.mentions_bot


def test_dm_top_level_is_one_conversation_and_dm_threads_their_own() -> None:
    raw = event("message_im")
    message = to_incoming(raw, team_id="T1", bot_user_id="UBOT")
    assert message is not None
    assert message.thread_id == "slack:T1:D1"
    assert message.is_direct is True
    assert message.channel_label == "DM"
    parsed = parse_event(raw, bot_user_id="UBOT")
    assert parsed is not None and parsed.reply_thread_ts is None
    threaded = to_incoming(dict(raw, thread_ts="1717171000.000001"), team_id="T1", bot_user_id="UBOT")
    assert threaded is not None and threaded.thread_id == "slack:T1:D1:1717171000.000001"


@pytest.mark.parametrize("name", ["bot_message", "message_changed", "message_deleted"])
def test_bots_edits_and_deletions_are_dropped(name: str) -> None:
    assert to_incoming(event(name), team_id="T1", bot_user_id="UBOT") is None


def test_our_own_messages_and_unknown_events_are_dropped() -> None:
    own = dict(event("message_im"), user="UBOT")
    assert to_incoming(own, team_id="T1", bot_user_id="UBOT") is None
    with_bot_id = dict(event("message_im"), bot_id="BBOT")
    assert to_incoming(with_bot_id, team_id="T1", bot_user_id="UBOT") is None
    assert to_incoming({"type": "reaction_added", "user": "U1"}, team_id="T1", bot_user_id="UBOT") is None
    assert to_incoming({"type": "message", "channel": "C1"}, team_id="T1", bot_user_id="UBOT") is None


def test_file_share_and_thread_broadcast_carry_human_text() -> None:
    files = parse_event(event("file_share"), bot_user_id="UBOT")
    assert files is not None and files.has_files and files.text == ""
    broadcast = to_incoming(event("thread_broadcast"), team_id="T1", bot_user_id="UBOT")
    assert broadcast is not None
    assert broadcast.thread_id == "slack:T1:C1:1717171717.000100"
    assert broadcast.text == "also sending this to the channel"


def test_mention_alone_leaves_no_text() -> None:
    assert plain_text("<@UBOT>  ", bot_user_id="UBOT") == ""
    assert plain_text("<@UBOT|memorybot> hi <!here>", bot_user_id="UBOT") == "hi @here"
    assert plain_text("<!subteam^S1|@devs> ping", bot_user_id="UBOT") == "@devs ping"


def test_display_name_prefers_display_then_real_then_handle() -> None:
    assert (
        display_name({"name": "ana", "profile": {"display_name": "Ana B", "real_name": "Ana Banana"}})
        == "Ana B"
    )
    assert (
        display_name({"name": "ana", "profile": {"display_name": "", "real_name": "Ana Banana"}})
        == "Ana Banana"
    )
    assert display_name({"name": "ana", "profile": {}}) == "ana"


def test_prior_keeps_earlier_messages_only_and_marks_the_bot() -> None:
    replies = [
        {
            "type": "message",
            "user": "U2",
            "text": "order food?",
            "ts": "100.000001",
            "thread_ts": "100.000001",
        },
        {"type": "message", "user": "UBOT", "bot_id": "BBOT", "text": "Sure!", "ts": "100.000002"},
        {
            "type": "message",
            "subtype": "channel_join",
            "user": "U3",
            "text": "<@U3> joined",
            "ts": "100.000003",
        },
        {
            "type": "message",
            "user": "UPOLL",
            "bot_id": "BPOLL",
            "bot_profile": {"id": "BPOLL", "name": "Pollbot"},
            "text": "vote: pizza or sushi",
            "ts": "100.000004",
        },
        {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "BHOOK",
            "username": "github",
            "text": "build failed",
            "ts": "100.000005",
        },
        {"type": "message", "user": "U1", "text": "<@UBOT> ideas?", "ts": "100.000006"},
    ]
    prior = prior_from_replies(
        replies, team_id="T1", bot_user_id="UBOT", before_ts="100.000006", names={"U2": "Bruno"}
    )
    assert [(p.user_name, p.text, p.from_bot) for p in prior] == [
        ("Bruno", "order food?", False),
        ("UBOT", "Sure!", True),
        ("Pollbot", "vote: pizza or sushi", False),  # other apps are not the bot itself
        ("github", "build failed", False),
    ]
    assert prior[0].user_id == "slack:T1:U2"


def test_forget_phrase_trims_quotes_and_junk() -> None:
    assert forget_phrase("") is None
    assert forget_phrase("   ") is None
    assert forget_phrase(' "pizza" ') == "pizza"
    assert len(forget_phrase("x" * 5000) or "") == 200


def test_slash_command_and_action_payloads_carry_what_we_read() -> None:
    command = payload("slash_forget")
    assert (command["user_id"], forget_phrase(command["text"])) == ("U1", "pizza")
    action = payload("block_actions_forget_confirm")
    pressed = action["actions"][0]
    assert pressed["action_id"] == FORGET_CONFIRM
    assert (action["user"]["id"], action["team"]["id"]) == ("U1", "T1")
    # The value goes back to the core untouched; it knows whose button it was.
    commands = commands_over([])
    assert commands.refusal("slack:T1:U1", pressed["action_id"], pressed["value"]) is None
    refused = commands.refusal("slack:T1:U2", pressed["action_id"], pressed["value"])
    assert refused is not None and refused.text == NOT_YOURS
    assert payload("slash_memories")["command"] == "/memories"


# ---------------------------------------------------------------- outbound


def test_markdown_becomes_mrkdwn() -> None:
    text = "# Plan\nSome **bold**, *italic*, ~~gone~~ and [docs](https://x.io/a?b=1&c=2).\n- one\n  * two"
    assert fmt.to_mrkdwn(text) == (
        "*Plan*\nSome *bold*, _italic_, ~gone~ and <https://x.io/a?b=1&amp;c=2|docs>.\n• one\n  • two"
    )


def test_code_is_kept_but_still_cannot_ping() -> None:
    text = "```python\nif a < b and **kw:  # <!channel>\n```\nand `**x**`"
    assert fmt.to_mrkdwn(text) == "```python\nif a &lt; b and **kw:  # &lt;!channel&gt;\n```\nand `**x**`"


@pytest.mark.parametrize(
    "ping", ["<!channel>", "<!here>", "<!everyone>", "<!subteam^S123|devs>", "<@U123>", "<@W9|bob>"]
)
def test_control_sequences_from_the_model_are_neutralized(ping: str) -> None:
    out = fmt.to_mrkdwn(f"hey {ping} look")
    assert ping not in out
    assert "<" not in out and ">" not in out


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@Everyone"])
def test_broadcast_words_get_a_zero_width_space(word: str) -> None:
    out = fmt.to_mrkdwn(f"hi {word}!")
    assert word not in out
    assert out == f"hi @{fmt.ZWSP}{word[1:]}!"


class _Memories:
    """Just what `Commands` reads for a preview or a listing."""

    def __init__(self, facts: list[Fact]) -> None:
        self.facts = facts

    async def preview_forget(self, user_id: str, phrase: str | None = None) -> list[Fact]:
        return self.facts

    async def list_facts(self, user_id: str) -> list[Fact]:
        return self.facts


def commands_over(facts: list[Fact]) -> Commands:
    return Commands(cast(MemoryManager, _Memories(facts)))


def bullets(blocks: list[dict[str, Any]]) -> list[str]:
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    return [line for text in texts for line in text.split("\n") if line.startswith("• ")]


async def test_forget_preview_lists_facts_safely_with_both_buttons() -> None:
    commands = commands_over([fact("likes <!channel> pizza")])
    view = await commands.forget("slack:T1:U1", "pizza <!here>")
    [message] = view_messages(view)
    assert "1 memory" in message.text
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    shown = json.dumps([message.text, sections])  # what people see (a button's value is not shown)
    assert "<!channel>" not in shown and "<!here>" not in shown
    assert "pizza &lt;!here&gt;" in sections[0]
    assert bullets(message.blocks) == ["• likes &lt;!channel&gt; pizza"]  # no sources in a preview
    [actions] = [b for b in message.blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [FORGET_CONFIRM, FORGET_CANCEL]
    assert [e.get("style") for e in actions["elements"]] == ["danger", None]
    assert [e["text"]["text"] for e in actions["elements"]] == ["Erase them", "Cancel"]
    assert [e["value"] for e in actions["elements"]] == [b.value for b in view.buttons]
    assert commands.refusal("slack:T1:U1", FORGET_CONFIRM, actions["elements"][0]["value"]) is None
    assert message.blocks[-2]["text"]["text"] == view.footer


async def test_memories_list_says_where_and_when_for_every_fact() -> None:
    listed = await commands_over([fact("User likes tea"), fact("User lives in SF", direct=True)]).memories(
        "u"
    )
    [message] = view_messages(listed)
    dumped = json.dumps(message.blocks)
    assert "Slack #general, 2024-05-01" in dumped
    assert "a Slack DM" in dumped
    many = [fact(f"fact {i} " + "y" * 190) for i in range(30)]
    [listing] = view_messages(await commands_over(many).memories("u"))
    assert all(len(b["text"]["text"]) <= 3000 for b in listing.blocks)
    assert [line.split(" ")[2] for line in bullets(listing.blocks)] == [str(i) for i in range(30)]
    assert "more." not in dumped + json.dumps(listing.blocks)


def test_facts_full_of_escapes_still_fit_their_sections_whole() -> None:
    facts = tuple(FactLine(id=str(i), text="&<>" * 70, source="learned in a Slack DM") for i in range(20))
    [message] = view_messages(CommandView(text="Here:", facts=facts))
    assert all(len(b["text"]["text"]) <= 3000 for b in message.blocks)
    shown = bullets(message.blocks)
    assert len(shown) == 20 and all(line.endswith("_(learned in a Slack DM)_") for line in shown)


def test_a_listing_too_long_for_five_messages_says_how_many_more() -> None:
    facts = tuple(FactLine(id=str(i), text=f"fact {i}", source="learned in a Slack DM") for i in range(3000))
    messages = view_messages(CommandView(text="Here:", facts=facts, more=7))
    assert len(messages) == fmt.MAX_MESSAGES
    assert all(len(m.blocks) <= fmt.MAX_BLOCKS for m in messages)
    shown = [int(line.split(" ")[2]) for m in messages for line in bullets(m.blocks)]
    assert shown == list(range(len(shown)))  # the first ones, in order
    assert messages[-1].blocks[-1]["text"]["text"] == f"…and {3000 - len(shown) + 7} more."


def test_a_plain_answer_is_text_only_and_escaped() -> None:
    [message] = view_messages(CommandView(text="Nothing matching “<!channel>”"))
    assert message.blocks == []
    assert message.text == "Nothing matching “&lt;!channel&gt;”"

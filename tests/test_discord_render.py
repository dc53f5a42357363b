"""`adapters.discord.render`: the core's views as Discord messages and buttons (no network)."""

from __future__ import annotations

from typing import Any, cast

import discord

from adapters.discord.render import ButtonsView, message_contents, one_message
from bot.commands import Button, CommandView, FactLine


def facts(count: int, size: int = 480) -> tuple[FactLine, ...]:
    return tuple(
        FactLine(
            id=f"f{i}", text=f"User fact {i:03d} " + "x" * size, source="learned in a Discord DM, 2026-01-02"
        )
        for i in range(count)
    )


def test_a_long_listing_keeps_every_line_in_order_under_the_limit() -> None:
    view = CommandView(text="Here's what I remember about you (60):", facts=facts(60))

    chunks = message_contents(view)

    assert len(chunks) > 1 and all(len(chunk) <= 2000 for chunk in chunks)
    lines = [line for chunk in chunks for line in chunk.splitlines()]
    assert lines[0] == view.text
    assert lines[1:] == [f"• {fact.text} — {fact.source}" for fact in view.facts]


def test_a_view_with_buttons_fits_one_message_and_counts_what_it_left_out() -> None:
    view = CommandView(
        text="This will erase everything I remember about you (25 memories):",
        facts=facts(20),
        show_sources=False,
        more=5,
        footer="Erase them, or cancel to keep everything.",
    )

    text = one_message(view)

    assert len(text) <= 2000
    lines = text.splitlines()
    shown = [line for line in lines if line.startswith("• ")]
    assert 0 < len(shown) < 20 and shown == [f"• {fact.text}" for fact in view.facts[: len(shown)]]
    assert lines[-2:] == [f"…and {25 - len(shown)} more.", view.footer]


async def test_buttons_are_built_from_the_view() -> None:
    view = CommandView(
        text="Sure?",
        buttons=(
            Button(action="forget.confirm", label="Erase them", value="v", style="danger"),
            Button(action="forget.cancel", label="Cancel", value="v"),
        ),
        expires_in=42.0,
    )

    buttons = ButtonsView(view, cast(Any, None), shown_by=cast(Any, None))

    items = [cast(discord.ui.Button[Any], item) for item in buttons.children]
    assert [(b.label, b.style) for b in items] == [
        ("Erase them", discord.ButtonStyle.danger),
        ("Cancel", discord.ButtonStyle.secondary),
    ]
    assert buttons.timeout == 42.0
    buttons.stop()

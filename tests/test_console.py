"""The console adapter drives the same command core as Slack and Discord, over stdin/stdout."""

from __future__ import annotations

import io

from adapters.console import ConsoleAdapter
from bot.memory import Provenance
from bot.runtime import Runtime

SOURCE = Provenance(platform="console", thread_id="console:ana", is_direct=True, channel_label="console")


async def _chat(runtime: Runtime, *lines: str) -> list[str]:
    out = io.StringIO()
    console = ConsoleAdapter(
        runtime.service,
        user_name="ana",
        stdin=io.StringIO("".join(f"{line}\n" for line in lines)),
        stdout=out,
    )
    assert await console.run() == 0
    return out.getvalue().splitlines()


async def test_memories_shows_the_core_view(sqlite_runtime: Runtime) -> None:
    await sqlite_runtime.memories.save("console:ana", "User likes tea", "food", SOURCE)
    view = await sqlite_runtime.service.commands.memories("console:ana")

    lines = await _chat(sqlite_runtime, "/memories")

    assert lines[0] == f"bot> {view.text}"
    assert lines[1] == f"  1. User likes tea ({view.facts[0].source})"
    assert "learned in the console chat" in lines[1]


async def test_forget_asks_then_erases_on_yes(sqlite_runtime: Runtime) -> None:
    memories = sqlite_runtime.memories
    await memories.save("console:ana", "User likes tea", "food", SOURCE)
    await memories.save("console:ana", "User rows on Sundays", "sport", SOURCE)

    lines = await _chat(sqlite_runtime, "/forget tea", "yes", "/memories")

    assert lines[:4] == [
        "bot> This will erase the memories matching “tea” (1 memory):",
        "  • User likes tea",
        "  Erase them, or cancel to keep everything.",
        "bot> Type 'yes' to erase them, anything else to cancel.",
    ]
    assert "bot> Done. I erased 1 memory about you." in lines
    assert [fact.text for fact in await memories.list_facts("console:ana")] == ["User rows on Sundays"]


async def test_forget_keeps_everything_on_anything_else(sqlite_runtime: Runtime) -> None:
    await sqlite_runtime.memories.save("console:ana", "User likes tea", "food", SOURCE)

    lines = await _chat(sqlite_runtime, "/forget", "no thanks")

    assert lines[-1] == "bot> Okay, I kept everything."
    assert len(await sqlite_runtime.memories.list_facts("console:ana")) == 1


async def test_forget_with_nothing_known_asks_nothing(sqlite_runtime: Runtime) -> None:
    lines = await _chat(sqlite_runtime, "/forget", "/quit")

    assert lines == ["bot> I don't remember anything about you, so there's nothing to forget."]


async def test_private_and_share_change_fact_n_of_the_numbered_list(sqlite_runtime: Runtime) -> None:
    memories = sqlite_runtime.memories
    await memories.save("console:ana", "User likes tea", "food", SOURCE)
    await memories.save("console:ana", "User rows on Sundays", "sport", SOURCE)

    lines = await _chat(sqlite_runtime, "/memories", "/private 2", "/share 2", "/private 9", "/share x")

    assert lines[1].startswith("  1. User rows on Sundays (") and lines[1].endswith("· shared)")
    assert lines[2].startswith("  2. User likes tea (")
    assert "bot> Done: “User likes tea” is now private. I'll use it only in our direct messages." in lines
    assert any(
        line.startswith("  2. User likes tea") and line.endswith("· private (DMs only))") for line in lines
    )
    assert "bot> Done: “User likes tea” is now shared. I can use it wherever you talk to me." in lines
    assert lines[-2:] == [
        "bot> There's no memory number 9. Run /memories to see the list.",
        "bot> There's no memory number x. Run /memories to see the list.",
    ]
    assert {f.text: f.visibility for f in await memories.list_facts("console:ana")} == {
        "User likes tea": "shared",
        "User rows on Sundays": "shared",
    }


async def test_private_works_before_any_listing_on_the_current_order(sqlite_runtime: Runtime) -> None:
    await sqlite_runtime.memories.save("console:ana", "User likes tea", "food", SOURCE)
    lines = await _chat(sqlite_runtime, "/private 1")
    assert lines[0] == "bot> Done: “User likes tea” is now private. I'll use it only in our direct messages."
    [fact] = await sqlite_runtime.memories.list_facts("console:ana")
    assert fact.visibility == "private"


async def test_link_and_unlink_from_the_console(sqlite_runtime: Runtime) -> None:
    await sqlite_runtime.memories.save("console:ana", "User likes tea", "food", SOURCE)
    [issued] = [line for line in await _chat(sqlite_runtime, "/link") if "link code is" in line]
    code = issued.split("link code is ")[1][:8]
    commands = sqlite_runtime.service.commands
    linked = await commands.link("slack:T1:U1", "Ana", code)
    assert linked.text.startswith("Linked: this Slack account and your console account ana are")
    assert [f.text for f in await sqlite_runtime.memories.list_facts("slack:T1:U1")] == ["User likes tea"]

    lines = await _chat(sqlite_runtime, "/link ZZZZ2222", "/unlink", "/unlink")
    assert lines[0].startswith("bot> I don't know that code.")
    assert lines[1].startswith("bot> Unlinked: this console account and your Slack account Ana are separate")
    assert lines[2] == "bot> This account isn't linked with any other, so there's nothing to unlink."
    assert await sqlite_runtime.memories.list_facts("slack:T1:U1") == []

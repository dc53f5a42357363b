"""The command core: what /memories, /forget and their buttons do, once for every platform."""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.commands import FORGET_CANCEL, FORGET_CONFIRM, FORGET_FACT, FORGET_START, Commands, CommandView
from bot.commands.core import EXPIRED, KEPT, NOT_YOURS, PHRASE_TOO_LONG, UNKNOWN_BUTTON
from bot.memory import Provenance
from bot.runtime import Runtime

DM = Provenance(platform="slack", thread_id="slack:T1:D1", is_direct=True)
CHANNEL = Provenance(platform="discord", thread_id="discord:1:2", is_direct=False, channel_label="#food")


async def _remember(runtime: Runtime, user: str, *facts: tuple[str, Provenance]) -> None:
    for text, source in facts:
        await runtime.memories.save(user, text, "misc", source)


def _button(view: CommandView, action: str) -> tuple[str, str]:
    [button] = [b for b in view.buttons if b.action == action]
    return button.action, button.value


async def test_memories_lists_every_fact_newest_first_with_where_it_was_learned(runtime: Runtime) -> None:
    commands = runtime.service.commands
    await _remember(runtime, "slack:T1:U1", ("User likes tea", DM), ("User lives in Oslo", CHANNEL))

    view = await commands.run("/memories", "slack:T1:U1")

    assert view.text == "Here's what I remember about you (2):"
    assert [fact.text for fact in view.facts] == ["User lives in Oslo", "User likes tea"]
    assert view.facts[0].source.startswith("learned in Discord #food, ")
    assert view.facts[1].source.startswith("learned in a Slack DM, ")
    assert view.buttons == ()
    empty = await commands.memories("slack:T1:U2")
    assert "don't remember anything" in empty.text and empty.facts == ()


async def test_forget_previews_then_confirm_erases_only_what_matched(runtime: Runtime) -> None:
    commands = runtime.service.commands
    await _remember(
        runtime, "console:ana", ("User likes tea", DM), ("User likes green tea", DM), ("User rows", DM)
    )

    preview = await commands.forget("console:ana", "  tea ")
    assert preview.text == "This will erase the memories matching “tea” (2 memories):"
    assert sorted(fact.text for fact in preview.facts) == ["User likes green tea", "User likes tea"]
    assert [b.label for b in preview.buttons] == ["Erase them", "Cancel"]
    assert preview.expires_in and preview.expired_text == EXPIRED

    done = await commands.press("console:ana", *_button(preview, FORGET_CONFIRM))
    assert done.text == "Done. I erased 2 memories about you." and done.replace
    assert [fact.text for fact in await runtime.memories.list_facts("console:ana")] == ["User rows"]
    again = await commands.press("console:ana", *_button(preview, FORGET_CONFIRM))
    assert "Nothing needed erasing" in again.text


async def test_cancel_keeps_everything(runtime: Runtime) -> None:
    commands = runtime.service.commands
    await _remember(runtime, "console:ana", ("User likes tea", DM))
    preview = await commands.forget("console:ana")
    assert "everything I remember about you (1 memory)" in preview.text

    kept = await commands.press("console:ana", *_button(preview, FORGET_CANCEL))

    assert kept.text == KEPT
    assert len(await runtime.memories.list_facts("console:ana")) == 1


async def test_only_the_person_who_asked_can_confirm(sqlite_runtime: Runtime) -> None:
    commands = sqlite_runtime.service.commands
    await _remember(sqlite_runtime, "console:ana", ("User likes tea", DM))
    await _remember(sqlite_runtime, "console:bo", ("User likes coffee", DM))
    preview = await commands.forget("console:ana")

    refused = await commands.press("console:bo", *_button(preview, FORGET_CONFIRM))

    assert refused.text == NOT_YOURS and not refused.replace
    assert len(await sqlite_runtime.memories.list_facts("console:ana")) == 1
    assert len(await sqlite_runtime.memories.list_facts("console:bo")) == 1


async def test_an_expired_confirm_erases_nothing(sqlite_runtime: Runtime) -> None:
    now = [1_000_000.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    commands = Commands(sqlite_runtime.memories, forget_timeout=600, clock=clock)
    await _remember(sqlite_runtime, "console:ana", ("User likes tea", DM))
    preview = await commands.forget("console:ana")

    now[0] += 601
    late = await commands.press("console:ana", *_button(preview, FORGET_CONFIRM))

    assert late.text == EXPIRED
    assert len(await sqlite_runtime.memories.list_facts("console:ana")) == 1


async def test_forged_or_foreign_button_values_do_nothing(sqlite_runtime: Runtime) -> None:
    commands = sqlite_runtime.service.commands
    await _remember(sqlite_runtime, "console:ana", ("User likes tea", DM))
    forged = [
        "",
        "not json",
        "[1, 2]",
        json.dumps({"o": "console:ana"}),  # no expiry
        json.dumps({"o": 5, "x": 9e18}),
        json.dumps({"o": "console:ana", "x": True}),
    ]
    for value in forged:
        view = await commands.press("console:ana", FORGET_CONFIRM, value)
        assert view.text == UNKNOWN_BUTTON, value
    unknown = await commands.press(
        "console:ana", "something.else", json.dumps({"o": "console:ana", "x": 9e18})
    )
    assert unknown.text == UNKNOWN_BUTTON
    assert len(await sqlite_runtime.memories.list_facts("console:ana")) == 1


async def test_bad_phrases_get_a_kind_answer(sqlite_runtime: Runtime) -> None:
    commands = sqlite_runtime.service.commands
    await _remember(sqlite_runtime, "console:ana", ("User likes tea", DM))

    nothing = await commands.forget("console:ana", "<!channel> ☃ )))")
    assert (
        nothing.text
        == "I don't remember anything about you matching “<!channel> ☃ )))”, so there's nothing to forget."
    )
    assert nothing.buttons == ()
    long_one = await commands.forget("console:ana", "tea " * 400)
    assert long_one.text == PHRASE_TOO_LONG.format(limit=1000) and long_one.buttons == ()
    quoted = await commands.forget("console:ana", "x" * 300)
    assert len(quoted.text) < 200  # the phrase is quoted back cut short
    unknown = await commands.run("/remember", "console:ana")
    assert "don't know that command" in unknown.text


async def test_a_broken_store_gets_an_apology_not_an_error(sqlite_runtime: Runtime) -> None:
    class Broken:
        async def list_facts(self, user_id: str) -> list[object]:
            raise RuntimeError("disk on fire")

        async def preview_forget(self, user_id: str, phrase: str | None = None) -> list[object]:
            raise RuntimeError("disk on fire")

    commands = Commands(Broken())  # type: ignore[arg-type]
    for view in (await commands.memories("console:ana"), await commands.forget("console:ana")):
        assert view.failed and "something went wrong" in view.text


async def test_a_long_preview_lists_twenty_and_counts_the_rest(sqlite_runtime: Runtime) -> None:
    commands = sqlite_runtime.service.commands
    await _remember(sqlite_runtime, "console:ana", *((f"User fact number {i}", DM) for i in range(25)))

    preview = await commands.forget("console:ana")

    assert len(preview.facts) == 20 and preview.more == 5
    assert preview.lines()[-2:] == ["…and 5 more.", "Erase them, or cancel to keep everything."]
    listing = await commands.memories("console:ana")
    assert len(listing.facts) == 25 and listing.more == 0


async def test_home_offers_a_forget_button_per_fact_and_forget_everything(runtime: Runtime) -> None:
    commands = runtime.service.commands
    await _remember(runtime, "slack:T1:U1", ("User likes tea", DM), ("User lives in Oslo", CHANNEL))
    await _remember(runtime, "slack:T1:U2", ("User likes coffee", DM))

    home = await commands.home("slack:T1:U1")
    assert home.text == "What I know about you"
    assert [fact.text for fact in home.facts] == ["User lives in Oslo", "User likes tea"]
    oslo = home.facts[0].buttons[0]
    assert oslo.action == FORGET_FACT and oslo.label == "Forget"

    # Someone else's press on it does nothing; the owner's erases exactly that fact.
    assert (await commands.press("slack:T1:U2", oslo.action, oslo.value)).text == NOT_YOURS
    done = await commands.press("slack:T1:U1", oslo.action, oslo.value)
    assert done.text == "Done. I erased that memory about you."
    assert [f.text for f in await runtime.memories.list_facts("slack:T1:U1")] == ["User likes tea"]
    assert "already gone" in (await commands.press("slack:T1:U1", oslo.action, oslo.value)).text

    # Forget everything asks first, with the same preview as /forget.
    [everything] = home.buttons
    assert everything.action == FORGET_START and everything.style == "danger"
    preview = await commands.press("slack:T1:U1", everything.action, everything.value)
    assert preview.text == "This will erase everything I remember about you (1 memory):"
    await commands.press("slack:T1:U1", *_button(preview, FORGET_CONFIRM))
    assert await runtime.memories.list_facts("slack:T1:U1") == []
    assert len(await runtime.memories.list_facts("slack:T1:U2")) == 1
    empty = await commands.home("slack:T1:U1")
    assert empty.facts == () and empty.buttons == () and "Nothing yet" in empty.footer


async def test_remember_keeps_only_the_persons_own_message(sqlite_runtime: Runtime) -> None:
    commands = sqlite_runtime.service.commands
    memories = sqlite_runtime.memories

    refused = await commands.remember("discord:1", "discord:2", "I like tea", CHANNEL)
    assert "someone else's" in refused.text
    assert "no text" in (await commands.remember("discord:1", "discord:1", " 🎉 !!! ", CHANNEL)).text
    assert await memories.list_facts("discord:1") == [] and await memories.list_facts("discord:2") == []

    kept = await commands.remember("discord:1", "discord:1", "I  play the\n cello", CHANNEL)
    assert kept.text == "Got it. I'll remember that you said: “I play the cello”"
    [fact] = await memories.list_facts("discord:1")
    assert fact.text == "User said: “I play the cello”" and fact.source == CHANNEL
    again = await commands.remember("discord:1", "discord:1", "I play the cello", CHANNEL)
    assert again.text == "I already remember that."

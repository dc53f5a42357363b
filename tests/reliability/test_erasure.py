"""Real erasure: after /forget the text is gone from the store, the SQLite file, its WAL and
the stored vectors, stays gone after a restart, and the same DM recalls nothing.

The core version without vectors is in tests/test_memory_api.py; here with
BOT_EMBEDDING_MODEL set, through the Slack and Discord /forget flows, and on Postgres.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import orjson

from bot.commands import FORGET_CONFIRM
from bot.memory import Provenance
from bot.runtime import open_runtime
from config.settings import Settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import dm
from tests.reliability.conftest import DiscordWorld, SlackWorld, Tally, sqlite_bytes

SECRET = "zanzibarquokka"
KEPT = "marmaladeotter"


async def test_forgotten_facts_and_their_vectors_leave_no_bytes_behind(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI, tmp_path: Path, tally: Tally
) -> None:
    settings = make_settings(bot_embedding_model="text-embedding-3-small")
    db = tmp_path / "bot.db"
    async with open_runtime(settings) as runtime:
        for text in (f"remember that {SECRET} is my word", "I like green tea", "I live in Porto"):
            await runtime.service.handle(dm("ana", text))
        await runtime.service.handle(dm("ben", f"remember that {KEPT} is mine"))
        items = await runtime.storage.store.asearch(("memories", "console:ana"), limit=10)
        # The store keeps values as orjson text, so the vector appears byte for byte.
        vectors = [orjson.dumps(item.value["embedding"]) for item in items]
        on_disk = sqlite_bytes(db)
        assert len(vectors) == 3 and all(vector in on_disk for vector in vectors)  # the checks can fail
        assert SECRET.encode() in on_disk

        assert await runtime.memories.forget("console:ana") == 3
        tally.inputs_tried += 1
        on_disk = sqlite_bytes(db)
        assert SECRET.encode() not in on_disk
        assert not [vector for vector in vectors if vector in on_disk]
        assert KEPT.encode() in on_disk

        reply = await runtime.service.handle(dm("ana", "what do you know about me?"))
        assert "nothing about you yet" in reply.text
        assert SECRET not in json.dumps(fake_model.last_request())

    async with open_runtime(settings) as reopened:
        assert await reopened.memories.list_facts("console:ana") == []
        assert [f.text for f in await reopened.memories.list_facts("console:ben")] == [f"{KEPT} is mine"]
    assert SECRET.encode() not in sqlite_bytes(db)


async def test_forgetting_one_phrase_leaves_no_trace_in_the_dm(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI, tmp_path: Path
) -> None:
    async with open_runtime(make_settings()) as runtime:
        await runtime.service.handle(dm("ana", f"remember that {SECRET} is my word"))
        await runtime.service.handle(dm("ana", "I like green tea"))
        assert await runtime.memories.forget("console:ana", SECRET) == 1
        await runtime.service.handle(dm("ana", "what was my word?"))
        assert SECRET not in json.dumps(fake_model.last_request())
        assert SECRET.encode() not in sqlite_bytes(tmp_path / "bot.db")


async def test_slack_forget_flow_erases_from_disk_and_the_dm(
    slack_world: SlackWorld, tmp_path: Path, tally: Tally
) -> None:
    slack, openai = slack_world.slack, slack_world.openai
    await slack.send_message("D1", f"remember that {SECRET} is my word", user="U1")
    await slack.wait_for_messages(channel="D1")
    await slack.send_message("D2", f"remember that {KEPT} is mine", user="U2")
    await slack.wait_for_messages(channel="D2")
    assert SECRET.encode() in sqlite_bytes(tmp_path / "bot.db")

    response_id = await slack.send_slash_command("/forget", "", user="U1", channel="D1")
    [preview] = await slack.wait_for_responses(response_id)
    [done] = await slack.wait_for_responses(await slack.click(preview.blocks, FORGET_CONFIRM, user="U1"))
    assert "erased 1 memory" in done.text
    tally.inputs_tried += 1

    on_disk = sqlite_bytes(tmp_path / "bot.db")
    assert SECRET.encode() not in on_disk and KEPT.encode() in on_disk
    await slack.send_message("D1", "what was my word?", user="U1")
    replies = await slack.wait_for_messages(channel="D1", count=2)
    assert SECRET not in replies[-1].text
    assert SECRET not in json.dumps(openai.last_request())


async def test_discord_forget_flow_erases_from_disk_and_the_dm(
    discord_world: DiscordWorld, tmp_path: Path, tally: Tally
) -> None:
    discord, openai, ana = discord_world.discord, discord_world.openai, discord_world.ana
    channel = discord.dm_channel_id(ana)
    await discord.push_dm(ana, f"remember that {SECRET} is my word")
    await discord.wait_for_messages(channel, 1)
    await discord.push_dm(discord_world.bo, f"remember that {KEPT} is mine")
    await discord.wait_for_messages(discord.dm_channel_id(discord_world.bo), 1)

    command = await discord.push_slash_command(ana, "forget", in_guild=False)
    _, preview = await discord.wait_for_interaction_responses(command, 2)
    click = await discord.click_button(ana, preview, "Erase them")
    _, done = await discord.wait_for_interaction_responses(click, 2)
    assert done.content == "Done. I erased 1 memory about you." and done.components == []
    tally.inputs_tried += 1

    on_disk = sqlite_bytes(tmp_path / "bot.db")
    assert SECRET.encode() not in on_disk and KEPT.encode() in on_disk
    await discord.push_dm(ana, "what was my word?")
    replies = await discord.wait_for_messages(channel, 2)
    assert SECRET not in replies[-1].content
    assert SECRET not in json.dumps(openai.last_request())


async def test_postgres_forget_leaves_no_row_holding_the_text(
    make_settings: Callable[..., Settings], postgres_url: str, tally: Tally
) -> None:
    import psycopg

    def rows_holding(text: str) -> int:
        with psycopg.connect(postgres_url) as conn:
            store = conn.execute("SELECT count(*) FROM store WHERE value::text LIKE %s", (f"%{text}%",))
            total = store.fetchone()[0]  # type: ignore[index]
            for table in ("checkpoint_blobs", "checkpoint_writes"):
                found = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE position(convert_to(%s, 'UTF8') in blob) > 0",
                    (text,),
                )
                total += found.fetchone()[0]  # type: ignore[index]
            found = conn.execute(
                "SELECT count(*) FROM checkpoints WHERE checkpoint::text LIKE %s", (f"%{text}%",)
            )
            return int(total + found.fetchone()[0])  # type: ignore[index]

    settings = make_settings(database_url=postgres_url, bot_embedding_model="text-embedding-3-small")
    async with open_runtime(settings) as runtime:
        await runtime.service.handle(dm("ana", f"remember that {SECRET} is my word"))
        await runtime.service.handle(dm("ben", f"remember that {KEPT} is mine"))
        assert rows_holding(SECRET) > 0
        assert await runtime.memories.forget("console:ana") == 1
        tally.inputs_tried += 1
        assert rows_holding(SECRET) == 0
        assert rows_holding(KEPT) > 0
    async with open_runtime(settings) as reopened:
        assert await reopened.memories.list_facts("console:ana") == []


# Words whose Porter and Snowball stems differ from the words: the index stores stems.
INDEXED_SECRET = "Zanzibarquokka adores quokkaberries and marmosetting"
INDEXED_FORMS = ("zanzibarquokka", "quokkaberries", "quokkaberri", "marmosetting", "marmoset")


async def test_forget_leaves_no_trace_in_the_full_text_index_on_disk(
    make_settings: Callable[..., Settings], tmp_path: Path, tally: Tally
) -> None:
    db = tmp_path / "bot.db"
    where = Provenance(platform="console", thread_id="t", is_direct=True)
    async with open_runtime(make_settings()) as runtime:
        memories = runtime.memories
        await memories.save("console:ana", INDEXED_SECRET, "Food", where)
        for index in range(30):  # enough writes that the index has several segments
            await memories.save("console:ana", f"filler fact number {index} about tea", "Misc", where)
        await memories.save("console:ben", f"{KEPT} keeps quokkaberries too", "Food", where)
        found = await memories.relevant_facts("console:ana", "quokkaberry", limit=5, token_budget=500)
        assert found[0].text == INDEXED_SECRET  # the index serves the query
        on_disk = sqlite_bytes(db)
        assert all(form.encode() in on_disk for form in INDEXED_FORMS), "the check could not fail"

        [secret] = await memories.preview_forget("console:ana", "zanzibarquokka")
        assert await memories.forget("console:ana", "zanzibarquokka") == 1
        tally.inputs_tried += 1
        on_disk = sqlite_bytes(db)
        for form in ("zanzibarquokka", "marmosetting", "marmoset"):
            assert form.encode() not in on_disk, form
        # Ben's fact still holds "quokkaberries" (and the index its stem); Ana's is gone from it.
        left = await memories.relevant_facts("console:ana", "zanzibarquokka", limit=5, token_budget=500)
        assert secret.id not in {fact.id for fact in left}
        [bens] = await memories.relevant_facts("console:ben", "quokkaberry", limit=1, token_budget=500)
        assert KEPT in bens.text

        assert await memories.forget("console:ben") == 1
        on_disk = sqlite_bytes(db)
        assert not [form for form in INDEXED_FORMS if form.encode() in on_disk]
        assert KEPT.encode() not in on_disk


async def test_postgres_index_rows_go_with_the_fact(
    make_settings: Callable[..., Settings], postgres_url: str, tally: Tally
) -> None:
    import psycopg

    def lexemes_holding(stem: str) -> int:
        with psycopg.connect(postgres_url) as conn:
            found = conn.execute(
                "SELECT count(*) FROM store WHERE fact_terms @@ bot_person_tsquery(bot_person_key(prefix), to_tsquery('english', %s))",
                (stem,),
            ).fetchone()
            return int(found[0])  # type: ignore[index]

    where = Provenance(platform="console", thread_id="t", is_direct=True)
    async with open_runtime(make_settings(database_url=postgres_url)) as runtime:
        await runtime.memories.save("console:ana", INDEXED_SECRET, "Food", where)
        [found] = await runtime.memories.relevant_facts(
            "console:ana", "quokkaberry", limit=1, token_budget=500
        )
        assert found.text == INDEXED_SECRET
        assert lexemes_holding("zanzibarquokka") == 1
        assert await runtime.memories.forget("console:ana") == 1
        tally.inputs_tried += 1
        assert lexemes_holding("zanzibarquokka") == 0
        assert (
            await runtime.memories.relevant_facts("console:ana", "zanzibarquokka", limit=5, token_budget=500)
            == []
        )

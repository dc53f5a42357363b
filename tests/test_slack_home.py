"""Slack's App Home tab: what the bot knows about the person, with a Forget button per fact and
Forget everything, published with `views.publish` and rebuilt after their memories change.
The real slack-bolt / slack-sdk against the fake Slack."""

from __future__ import annotations

import json
from typing import Any

from adapters.slack import SlackAdapter
from bot.commands import FACT_PRIVATE, FACT_SHARE, FORGET_CONFIRM, FORGET_FACT, FORGET_START
from bot.commands.core import FORGOT_ONE, HOME_EMPTY, HOME_TITLE, KEPT
from bot.memory import Provenance
from bot.runtime import Runtime
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.slack_fixtures import *  # noqa: F403  (the Slack fixtures)

DM = Provenance(platform="slack", thread_id="slack:T1:D1", is_direct=True)
ANA = "slack:T1:U1"


def shown_text(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


async def home_of(slack: FakeSlack, user: str, ready: Any) -> dict[str, Any]:
    """Wait until the user's published Home tab satisfies `ready(text)`."""

    def check() -> dict[str, Any] | None:
        view = slack.home_views.get(user)
        return view if view is not None and ready(shown_text(view)) else None

    return await slack.wait_until(check, what=f"{user}'s Home tab")


async def test_opening_home_shows_my_facts_with_where_they_were_learned(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    await runtime.memories.save(ANA, "User likes pepperoni pizza", "food", DM)
    await runtime.memories.save(ANA, "User lives in Lisbon", "location", DM)
    await runtime.memories.save("slack:T1:U2", "User owns a red kayak", "hobby", DM)
    await slack.open_home("U1")
    view = await home_of(slack, "U1", lambda text: "pepperoni" in text)
    text = shown_text(view)
    assert view["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": HOME_TITLE}}
    assert "User lives in Lisbon" in text and "a Slack DM" in text
    assert "kayak" not in text  # someone else's fact
    labels = [(b["action_id"], b["text"]["text"]) for b in slack.home_buttons("U1")]
    assert labels.count((FORGET_FACT, "Forget")) == 2 and (FORGET_START, "Forget everything") in labels
    assert len(view["blocks"]) <= 100


async def test_an_empty_home_says_so(bot: SlackAdapter, slack: FakeSlack) -> None:
    await slack.open_home("U2")
    view = await home_of(slack, "U2", lambda text: HOME_EMPTY in text)
    assert slack.home_buttons("U2") == []
    assert view["type"] == "home"


async def test_forget_on_one_fact_erases_it_and_republishes(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    await runtime.memories.save(ANA, "User likes pepperoni pizza", "food", DM)
    await runtime.memories.save(ANA, "User lives in Lisbon", "location", DM)
    await slack.open_home("U1")
    await home_of(slack, "U1", lambda text: "pepperoni" in text and "Lisbon" in text)
    first = slack.home_buttons("U1")[0]
    doomed = next(
        b["text"]["text"] for b in slack.home_views["U1"]["blocks"] if b.get("block_id") == "fact_0"
    )
    await slack.click_home("U1", FORGET_FACT, index=0)
    view = await home_of(slack, "U1", lambda text: FORGOT_ONE in text)
    remaining = [fact.text for fact in await runtime.memories.list_facts(ANA)]
    assert len(remaining) == 1 and remaining[0] not in doomed and remaining[0] in shown_text(view)
    assert first["value"] not in [b["value"] for b in slack.home_buttons("U1")]


async def test_forget_everything_asks_first_then_erases_all(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    await runtime.memories.save(ANA, "User likes pepperoni pizza", "food", DM)
    await runtime.memories.save(ANA, "User lives in Lisbon", "location", DM)
    await slack.open_home("U1")
    await home_of(slack, "U1", lambda text: "pepperoni" in text)
    await slack.click_home("U1", FORGET_START)
    await home_of(slack, "U1", lambda text: "This will erase" in text)
    assert len(await runtime.memories.list_facts(ANA)) == 2  # nothing erased before the confirmation
    await slack.click_home("U1", FORGET_CONFIRM)
    await home_of(slack, "U1", lambda text: "erased 2 memories" in text and HOME_EMPTY in text)
    assert await runtime.memories.list_facts(ANA) == []


async def test_cancel_keeps_everything(bot: SlackAdapter, slack: FakeSlack, runtime: Runtime) -> None:
    await runtime.memories.save(ANA, "User likes pepperoni pizza", "food", DM)
    await slack.open_home("U1")
    await home_of(slack, "U1", lambda text: "pepperoni" in text)
    await slack.click_home("U1", FORGET_START)
    await home_of(slack, "U1", lambda text: "This will erase" in text)
    cancel = next(b["action_id"] for b in slack.home_buttons("U1") if b["action_id"] != FORGET_CONFIRM)
    await slack.click_home("U1", cancel)
    await home_of(slack, "U1", lambda text: KEPT in text and "pepperoni" in text)
    assert len(await runtime.memories.list_facts(ANA)) == 1


async def test_someone_elses_press_changes_nothing(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    await runtime.memories.save(ANA, "User likes pepperoni pizza", "food", DM)
    await slack.open_home("U1")
    await home_of(slack, "U1", lambda text: "pepperoni" in text)
    # A forged press: Bo sends Ana's button value (a Home tab is only ever shown to its owner).
    await slack.click_home("U1", FORGET_FACT, as_user="U2")
    await slack.wait_until(lambda: slack.home_views.get("U2"), what="Bo's tab answered")
    assert len(await runtime.memories.list_facts(ANA)) == 1


async def test_a_turn_that_saves_a_fact_republishes_the_home_tab(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime, openai: FakeOpenAI
) -> None:
    await slack.open_home("U1")
    await home_of(slack, "U1", lambda text: HOME_EMPTY in text)
    await slack.send_message("D1", "I live in Porto", user="U1")
    view = await home_of(slack, "U1", lambda text: "Porto" in text)
    assert "Porto" in shown_text(view)


async def test_a_slash_forget_confirmed_in_a_channel_updates_the_home_tab(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    await runtime.memories.save(ANA, "User likes pepperoni pizza", "food", DM)
    await slack.open_home("U1")
    await home_of(slack, "U1", lambda text: "pepperoni" in text)
    response_id = await slack.send_slash_command("/forget", user="U1", text="pizza")
    [preview] = await slack.wait_for_responses(response_id)
    await slack.click(preview.blocks, FORGET_CONFIRM, user="U1")
    await home_of(slack, "U1", lambda text: "pepperoni" not in text and HOME_EMPTY in text)


async def test_the_home_tab_switches_a_fact_between_private_and_shared(
    bot: SlackAdapter, slack: FakeSlack, runtime: Runtime
) -> None:
    await runtime.memories.save(ANA, "User likes pepperoni pizza", "food", DM)
    await slack.open_home("U1")
    await home_of(slack, "U1", lambda text: "pepperoni" in text)
    [fact] = await runtime.memories.list_facts(ANA)
    toggle = FACT_PRIVATE if fact.visibility == "shared" else FACT_SHARE
    await slack.click_home("U1", toggle)
    await home_of(slack, "U1", lambda text: "Done" in text)
    [after] = await runtime.memories.list_facts(ANA)
    assert after.visibility != fact.visibility
    back = FACT_SHARE if toggle == FACT_PRIVATE else FACT_PRIVATE
    assert [b["action_id"] for b in slack.home_buttons("U1")][:2] == [FORGET_FACT, back]

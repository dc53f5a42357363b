"""A bounded soak: 200 concurrent conversations from 50 people (SOAK_TURNS turns, default 1,000).

Zero lost replies, zero cross-talk (every reply and every prompt holds only the speaker's own
facts, and only its own thread's messages), and memory that stays bounded.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.messages import IncomingMessage
from bot.runtime import open_runtime
from config.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, message_text
from tests.reliability.conftest import SlackWorld, Tally, quiet

PEOPLE = 50
CONVERSATIONS = 200
SHARED = 50  # of the conversations, the rest are DMs (three per person)
SOAK_TURNS = int(os.environ.get("SOAK_TURNS", "1000"))
WARM_UP = 200
RSS_GROWTH_BOUND = 200 * 1024 * 1024  # generous: catches a leak per turn, not allocator noise

PERSON = re.compile(r"kw\d{2}q")
THREAD = re.compile(r"th\d{3}x")
TURN = re.compile(r"\bturn(\d+)\b")


def person_marker(person: int) -> str:
    return f"kw{person:02d}q"


def thread_marker(conversation: int) -> str:
    return f"th{conversation:03d}x"


@dataclass(frozen=True)
class Turn:
    number: int
    person: int
    conversation: int
    text: str

    @property
    def shared(self) -> bool:
        return self.conversation >= CONVERSATIONS - SHARED

    def message(self) -> IncomingMessage:
        platform = "slack" if self.person % 2 else "discord"
        return IncomingMessage(
            platform=platform,
            user_id=f"{platform}:{person_marker(self.person)}",
            user_name=f"Person {self.person}",
            thread_id=f"{platform if not self.shared else 'slack'}:{thread_marker(self.conversation)}",
            text=self.text,
            is_direct=not self.shared,
            channel_label="#soak" if self.shared else "DM",
        )


def plan(turns: int, seed: int = 7) -> list[list[Turn]]:
    """Each conversation's turns in order; DMs belong to one person, shared threads to four."""
    rng = random.Random(seed)
    members = [
        [c % PEOPLE] if c < CONVERSATIONS - SHARED else rng.sample(range(PEOPLE), 4)
        for c in range(CONVERSATIONS)
    ]
    scripts: list[list[Turn]] = [[] for _ in range(CONVERSATIONS)]
    for number in range(turns):
        conversation = number % CONVERSATIONS if number < CONVERSATIONS else rng.randrange(CONVERSATIONS)
        person = rng.choice(members[conversation])
        kw, th = person_marker(person), thread_marker(conversation)
        if rng.random() < 0.3:
            text = f"remember that {kw} keeps item {number} from {th} turn{number}"
        else:
            text = f"{kw} asks about {th} in turn{number}"
        scripts[conversation].append(Turn(number, person, conversation, text))
    return scripts


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc to read the process size")
async def test_soak_many_people_many_threads(
    make_settings: Callable[..., Settings], fake_model: FakeOpenAI, tally: Tally
) -> None:
    scripts = plan(SOAK_TURNS)
    by_number = {turn.number: turn for script in scripts for turn in script}
    replies: dict[int, list[str]] = {}
    failures: list[str] = []
    done = 0
    rss_after_warm_up = 0

    async with open_runtime(make_settings()) as runtime:

        async def converse(script: list[Turn]) -> None:
            nonlocal done, rss_after_warm_up
            for turn in script:
                reply = await runtime.service.handle(turn.message())
                replies.setdefault(turn.number, []).append(reply.text)
                if reply.failed:
                    failures.append(reply.text)
                done += 1
                if done == WARM_UP:
                    rss_after_warm_up = rss_bytes()

        await asyncio.gather(*(converse(script) for script in scripts))
        assert runtime.service.in_flight == 0
    growth = rss_bytes() - rss_after_warm_up

    cross_talk: list[str] = []
    for number, texts in replies.items():
        own = person_marker(by_number[number].person)
        cross_talk += [text for text in texts if set(PERSON.findall(text)) - {own}]
    for request in fake_model.requests:
        problem = prompt_problem(request, by_number)
        if problem:
            cross_talk.append(problem)
    lost = sum(1 for number in by_number if number not in replies) + len(failures)
    duplicates = sum(len(texts) - 1 for texts in replies.values() if len(texts) > 1)
    tally.turns_run += len(by_number)
    tally.interleavings_run += 1
    tally.replies_lost += lost
    tally.duplicates += duplicates
    tally.cross_talk += len(cross_talk)

    assert lost == 0, failures[:3]
    assert duplicates == 0
    assert cross_talk == [], cross_talk[:3]
    recalled = 0
    for number, (text,) in replies.items():
        if "asks about" in by_number[number].text:
            assert f"turn{number}" in text  # the reply answers this turn, not another one
            recalled += "keeps item" in text
    assert recalled > len(replies) // 4  # facts really reached the prompts: the checks had teeth
    assert growth < RSS_GROWTH_BOUND, f"RSS grew {growth / 2**20:.0f} MiB after warm-up"


def prompt_problem(request: dict, by_number: dict[int, Turn]) -> str | None:
    """Why this model request mixes people or threads up, or None when it does not."""
    users = [m for m in request["messages"] if m["role"] == "user"]
    numbers = TURN.findall(message_text(users[-1]["content"])) if users else []
    if not numbers:
        return "a prompt without the turn it belongs to"
    turn = by_number[int(numbers[-1])]
    own, thread = person_marker(turn.person), thread_marker(turn.conversation)
    system = " ".join(message_text(m["content"]) for m in request["messages"] if m["role"] == "system")
    if set(PERSON.findall(system)) - {own}:
        return f"turn {turn.number}: another person's facts in the system prompt"
    said = " ".join(message_text(m["content"]) for m in users)
    if set(THREAD.findall(said)) - {thread}:
        return f"turn {turn.number}: another thread's messages in the prompt"
    if not turn.shared:
        everything = " ".join(message_text(m.get("content")) for m in request["messages"])
        if set(PERSON.findall(everything)) - {own}:
            return f"turn {turn.number}: someone else in a private conversation"
    return None


async def test_slack_soak_concurrent_people_in_dms_and_threads(slack_world: SlackWorld, tally: Tally) -> None:
    """A smaller soak through the real Slack clients: DMs and shared threads at once."""
    slack = slack_world.slack
    people = [f"U{10 + index}" for index in range(12)]
    for index, user in enumerate(people):
        slack.add_user(user, f"Person {index}")
    rounds = 6
    threads: list[str] = []
    for index in range(4):
        threads.append(
            await slack.send_message("C1", f"<@UBOT> thread {thread_marker(index)} opens", user="U1")
        )
    for thread in threads:
        await slack.wait_for_messages(channel="C1", thread_ts=thread)

    async def person(index: int) -> None:
        kw, channel = person_marker(index), f"D{index}"
        for n in range(rounds):
            text = f"remember that {kw} keeps item {n}" if n % 3 == 0 else f"{kw} asks turn{n}"
            await slack.send_message(channel, text, user=people[index])
            await slack.wait_for_messages(channel=channel, count=n + 1, timeout=30)
            if n == rounds - 1:  # and once in a shared thread
                thread = threads[index % len(threads)]
                await slack.send_message(
                    "C1", f"<@UBOT> {kw} in {thread_marker(index % 4)}", thread_ts=thread, user=people[index]
                )

    await asyncio.gather(*(person(index) for index in range(len(people))))
    for index, thread in enumerate(threads):
        expected = 1 + sum(1 for p in range(len(people)) if p % len(threads) == index)
        await slack.wait_for_messages(channel="C1", thread_ts=thread, count=expected, timeout=30)
    await quiet()

    turns = len(people) * (rounds + 1)
    lost = duplicates = cross_talk = 0
    for index in range(len(people)):
        texts = [m.text for m in slack.messages_in(f"D{index}")]
        lost += max(0, rounds - len(texts))
        duplicates += max(0, len(texts) - rounds)
        cross_talk += sum(1 for text in texts if set(PERSON.findall(text)) - {person_marker(index)})
    for index, thread in enumerate(threads):
        said = [m.text for m in slack.messages_in("C1", thread)]
        expected = 1 + sum(1 for p in range(len(people)) if p % len(threads) == index)
        lost += max(0, expected - len(said))
        duplicates += max(0, len(said) - expected)
        for text in said[1:]:  # "You said: kwNNq in thNNNx. I know: <that person's facts>"
            speaker = PERSON.findall(text)[:1]
            cross_talk += bool(set(PERSON.findall(text)) - set(speaker))
            cross_talk += bool(set(THREAD.findall(text)) - {thread_marker(index)})
    tally.turns_run += turns
    tally.interleavings_run += 1
    tally.replies_lost += lost
    tally.duplicates += duplicates
    tally.cross_talk += cross_talk
    assert (lost, duplicates, cross_talk) == (0, 0, 0)
    assert slack.messages_in("C1") == []  # nothing at the channel's top level

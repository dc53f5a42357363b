"""Property tests (Hypothesis) over random sequences of saves (DM or shared thread), visibility
changes, links, unlinks and forgets, against a model of who is one person:

- a private fact never reaches a shared-thread prompt (nor the query behind it);
- no fact ever reaches another person's prompt, and each person's listing is exactly theirs;
- link and unlink refuse exactly what they should.

At the store level on SQLite and Postgres (fast, many examples), and once end to end through
the real graph and the fake model.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import FACT_PRIVATE, FACT_SHARE
from bot.facts import Provenance
from bot.identities import platform_of
from bot.linking import Linker
from bot.memory import MemoryManager
from bot.messages import IncomingMessage
from bot.runtime import open_runtime
from bot.storage import open_storage
from bot.visibility import PRIVATE, SHARED, Visibility, default_visibility
from config.settings import Settings, parse_database_url
from tests.fakes.openai_server import FakeOpenAI

MARK = re.compile(r"zq\d+x")
# Two Slack accounts (same platform: never one person), one on Discord, one on the console.
NATIVE = ["slack:T1:U", "slack:T1:V", "discord:1", "console:c"]
_examples = itertools.count()

who = st.integers(0, len(NATIVE) - 1)
saves = st.tuples(st.just("save"), who, st.booleans(), st.booleans())
steps = st.lists(
    st.one_of(
        saves,
        saves,
        st.tuples(st.just("visibility"), who, st.integers(0, 20), st.sampled_from([PRIVATE, SHARED])),
        st.tuples(st.just("link"), who, who),
        st.tuples(st.just("unlink"), who),
        st.tuples(st.just("forget"), who),
    ),
    min_size=2,
    max_size=14,
)


@dataclass
class Model:
    """Who is one person, and which facts each person has, as the rules say."""

    ids: list[str]
    dm_default: Visibility
    group: dict[str, frozenset[str]] = field(default_factory=dict)
    # fact text -> (the identities of the person it belongs to, platform learned on, visibility)
    facts: dict[str, tuple[frozenset[str], str, Visibility]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.group = {user: frozenset([user]) for user in self.ids}

    def of(self, user: str) -> dict[str, Visibility]:
        return {text: vis for text, (owner, _, vis) in self.facts.items() if owner == self.group[user]}

    def link_status(self, issuer: str, redeemer: str) -> str:
        if platform_of(issuer) == platform_of(redeemer):
            return "same_platform"
        if len(self.group[redeemer]) > 1:
            return "already_linked" if self.group[redeemer] == self.group[issuer] else "linked_elsewhere"
        if platform_of(redeemer) in {platform_of(u) for u in self.group[issuer]}:
            return "platform_taken"
        return "linked"

    def link(self, issuer: str, redeemer: str) -> None:
        old = (self.group[issuer], self.group[redeemer])
        joined = old[0] | old[1]
        for user in joined:
            self.group[user] = joined
        self.facts = {t: (joined if o in old else o, p, v) for t, (o, p, v) in self.facts.items()}

    def unlink(self, user: str) -> None:
        old = self.group[user]
        rest = old - {user}
        for member in rest:
            self.group[member] = rest
        self.group[user] = frozenset([user])
        self.facts = {
            t: ((self.group[user] if p == platform_of(user) else rest) if o == old else o, p, v)
            for t, (o, p, v) in self.facts.items()
        }


def place(user: str, direct: bool) -> Provenance:
    return Provenance(
        platform=platform_of(user), thread_id=f"{user}:{'dm' if direct else 'shared'}", is_direct=direct
    )


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def check(memories: MemoryManager, model: Model, problems: list[str]) -> None:
    everything = " ".join(model.facts) or "nothing"
    for user in model.ids:
        expected = model.of(user)
        listed = {fact.text: fact.visibility for fact in await memories.list_facts(user)}
        if listed != expected:
            problems.append(f"{user} lists {listed}, expected {expected}")
        for include_private in (False, True):
            found = await memories.relevant_facts(
                user, everything, limit=40, token_budget=2000, include_private=include_private
            )
            allowed = {t for t, v in expected.items() if include_private or v == SHARED}
            got = {fact.text for fact in found}
            if got - allowed:
                problems.append(f"{user} (private={include_private}) got {got - allowed}, not theirs to see")
            if got != allowed:
                problems.append(f"{user} (private={include_private}) got {got}, expected {allowed}")


async def store_example(url: str, actions: list[tuple[Any, ...]], dm_private: bool) -> list[str]:
    run = next(_examples)
    ids = [f"{native}{run}" for native in NATIVE]
    model = Model(ids=ids, dm_default=PRIVATE if dm_private else SHARED)
    problems: list[str] = []
    async with open_storage(parse_database_url(url)) as storage:
        memories = MemoryManager(
            storage.store,
            storage.checkpointer,
            facts_index=storage.facts,
            links=storage.links,
            after_erase=storage.purge,
            dm_visibility=model.dm_default,
        )
        clock = Clock()
        linker = Linker(memories, clock=clock)
        for number, action in enumerate(actions):
            kind, user = action[0], ids[action[1]]
            if kind == "save":
                _, _, direct, sensitive = action
                text = f"User likes item zq{number}x"
                await memories.save(user, text, "Things", place(user, direct), sensitive=sensitive)
                vis = default_visibility(is_direct=direct, sensitive=sensitive, dm_default=model.dm_default)
                model.facts[text] = (model.group[user], platform_of(user), vis)
            elif kind == "visibility":
                mine = sorted(model.of(user))
                if mine:
                    text = mine[action[2] % len(mine)]
                    [fact] = [f for f in await memories.list_facts(user) if f.text == text]
                    await memories.set_visibility(user, fact.id, action[3])
                    owner, platform, _ = model.facts[text]
                    model.facts[text] = (owner, platform, action[3])
            elif kind == "link":
                redeemer = ids[action[2]]
                code = (await linker.issue(user, user)).code
                outcome = await linker.redeem(redeemer, redeemer, code)
                expected = model.link_status(user, redeemer)
                if outcome.status != expected:
                    problems.append(f"link {user} <- {redeemer}: {outcome.status}, expected {expected}")
                if outcome.status == "linked":
                    model.link(user, redeemer)
                clock.now += 1
            elif kind == "unlink":
                outcome = await linker.unlink(user)
                if bool(outcome.others) != (len(model.group[user]) > 1):
                    problems.append(f"unlink {user}: {outcome}")
                if outcome.others:
                    model.unlink(user)
            else:
                await memories.forget(user)
                model.facts = {t: f for t, f in model.facts.items() if f[0] != model.group[user]}
            await check(memories, model, problems)
            if problems:
                return [f"after {action}: {problem}" for problem in problems]
    return problems


@pytest.mark.parametrize("examples", [120])
def test_random_saves_links_and_visibility_changes_keep_facts_where_they_belong(
    database_url: str, examples: int
) -> None:
    count = examples if database_url.startswith("sqlite") else examples // 3

    @settings(max_examples=count, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(actions=steps, dm_private=st.booleans())
    def run(actions: list[tuple[Any, ...]], dm_private: bool) -> None:
        assert asyncio.run(store_example(database_url, actions, dm_private)) == []

    run()


# ---------------------------------------------------------------- end to end, once

E2E_NATIVE = ["slack:T1:U", "discord:1", "console:c"]
someone = st.integers(0, len(E2E_NATIVE) - 1)
e2e_steps = st.lists(
    st.one_of(
        st.tuples(st.just("tell"), someone, st.booleans()),
        st.tuples(st.just("ask"), someone, st.booleans()),
        st.tuples(st.just("ask"), someone, st.just(False)),
        st.tuples(st.just("visibility"), someone, st.integers(0, 20)),
        st.tuples(st.just("link"), someone, someone),
        st.tuples(st.just("unlink"), someone),
    ),
    min_size=3,
    max_size=10,
)


def message(user: str, direct: bool, text: str) -> IncomingMessage:
    return IncomingMessage(
        platform=platform_of(user),
        user_id=user,
        user_name=user,
        thread_id=f"{user}:dm" if direct else f"{platform_of(user)}:team-thread",
        text=text,
        is_direct=direct,
        channel_label=None if direct else "#team",
    )


async def e2e_example(actions: list[tuple[Any, ...]]) -> list[str]:
    ids = [f"{native}e" for native in E2E_NATIVE]
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        async with FakeOpenAI() as fake:
            config = Settings(  # type: ignore[call-arg]
                _env_file=None,
                openai_api_key="sk-test",
                openai_base_url=fake.base_url,
                database_url=f"sqlite:///{folder}/bot.db",
                model_max_retries=0,
                memory_dm_visibility="private",
            )
            async with open_runtime(config) as runtime:
                commands, memories = runtime.service.commands, runtime.memories
                for number, action in enumerate(actions):
                    kind, user = action[0], ids[action[1]]
                    if kind in {"tell", "ask"}:
                        direct = action[2]
                        text = f"remember that zq{number}x is mine" if kind == "tell" else "what do you know?"
                        before = len(fake.requests)
                        await runtime.service.handle(message(user, direct, text))
                        mine = {f.text: f.visibility for f in await memories.list_facts(user)}
                        allowed = {MARK.search(t).group() for t, v in mine.items() if direct or v == SHARED}  # type: ignore[union-attr]
                        for request in fake.requests[before:]:
                            system = " ".join(
                                str(m.get("content")) for m in request["messages"] if m["role"] == "system"
                            )
                            leaked = set(MARK.findall(system)) - allowed
                            if leaked:
                                problems.append(f"{action}: {leaked} in the prompt for {user}")
                    elif kind == "visibility":
                        listing = await commands.memories(user)
                        if listing.facts:
                            line = listing.facts[action[2] % len(listing.facts)]
                            [toggle] = line.buttons
                            assert toggle.action in {FACT_PRIVATE, FACT_SHARE}
                            await commands.press(user, toggle.action, toggle.value)
                    elif kind == "link":
                        issued = await commands.link(user, user)
                        code = re.search(r"link code is ([A-Z2-9]{8})", issued.text)
                        assert code
                        await commands.link(ids[action[2]], ids[action[2]], code.group(1))
                    else:
                        await commands.unlink(user)
    return problems


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=e2e_steps)
def test_end_to_end_a_private_fact_never_reaches_a_shared_thread_prompt(
    actions: list[tuple[Any, ...]],
) -> None:
    assert asyncio.run(e2e_example(actions)) == []

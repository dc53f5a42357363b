"""Streaming on Discord: how soon a person sees the answer begin, how often its messages are
edited, and whether what arrives is exactly what the model wrote.

`python -m bot` (the real Discord adapter, `BOT_STREAMING` on, its default) runs in its own
process on the fake Discord's gateway; the fake Discord and a fake model run in this one.
The model waits `ttft` seconds, then writes its answer in 12-character pieces `chunk_delay`
apart. One person's DM per turn, one turn at a time, so each model request is its turn's.

Figures: time from the person's message (pushed at the gateway) to the first text at the
fake Discord, beside the model's own time to first token (request in -> first piece out);
target p50 at most TTFT + 150 ms. Edits per second per message (target at most 1) from the
times the fake received each message and each applied edit. Mismatches: turns whose
messages did not end showing exactly the reply (split at 2,000 characters, as Discord
needs it); target 0.

    python -m bench.streaming_discord [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.discord.render import MESSAGE_LIMIT
from adapters.text_split import split_message
from bench.measure import Figures, percentile, sqlite_url
from bench.platforms import discord_bot_process
from tests.fakes.discord_server import FakeDiscord, SentMessage
from tests.fakes.openai_server import FakeOpenAI, Text

TARGET_ADDED_MS = 150.0  # first visible text at most the model's TTFT + this (p50)
TARGET_EDITS_PER_SECOND = 1.0
WARMUP_TURNS = 1  # the first turn pays for cold caches and connections; not counted
SETTLE_SECONDS = 30.0  # how long a turn's messages may take to show the whole reply


class StreamingModel(FakeOpenAI):
    """The fake model, noting when each chat request came in and when its first piece went out."""

    def __init__(self, ttft: float, chunk_delay: float) -> None:
        # The wait before the stream, plus the one gap before its first text piece, is the TTFT.
        super().__init__(latency=max(0.0, ttft - chunk_delay))
        self.chunk_delay = chunk_delay
        self.arrived: list[float] = []
        self.first_piece: list[float] = []

    async def __aenter__(self) -> StreamingModel:
        await self.start()
        return self

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.arrived.append(time.monotonic())
        return await super()._chat(request)

    async def _stream(self, *args: Any, **kwargs: Any) -> web.StreamResponse:
        # The stream writes its role chunk, waits `chunk_delay`, then its first text piece.
        self.first_piece.append(time.monotonic() + self.chunk_delay)
        return await super()._stream(*args, **kwargs)


def answer_text(turn: int, chars: int) -> str:
    """A distinct answer per turn, in sentences and paragraphs, about `chars` long."""
    sentences: list[str] = []
    size = 0
    while size < chars:
        number = len(sentences)
        sentence = f"Turn {turn}, sentence {number}: the model keeps writing words for the person."
        sentences.append(sentence + ("\n\n" if number % 5 == 4 else " "))
        size += len(sentences[-1])
    return "".join(sentences).strip()


def _shows(discord: FakeDiscord, channel: int, wanted: list[str]) -> Callable[[], bool]:
    return lambda: discord.shown_in(channel) == wanted


def _edit_figures(discord: FakeDiscord, messages: list[SentMessage]) -> tuple[list[int], list[float], float]:
    """Per message: edits applied; the gaps between its updates (send included); and the
    most edits that fell within any one second of any message."""
    counts: list[int] = []
    gaps: list[float] = []
    most = 0
    for message in messages:
        edits = [edit.at for edit in discord.edits_of(message.id)]
        counts.append(len(edits))
        updates = [message.at, *edits]
        gaps += [later - earlier for earlier, later in pairwise(updates)]
        for index, start in enumerate(edits):
            most = max(most, sum(1 for at in edits[index:] if at < start + 1.0))
    return counts, gaps, float(most)


async def measure(
    *,
    turns: int = 20,
    ttft: float = 0.5,
    chunk_delay: float = 0.01,
    answer_chars: int = 2400,
    workdir: Path,
) -> Figures:
    """Run `turns` streamed DM answers (plus a warm-up) and return the figures."""
    first_text: list[float] = []
    model_ttft: list[float] = []
    added: list[float] = []
    edit_counts: list[int] = []
    gaps: list[float] = []
    most_in_a_second = 0.0
    lifetimes: list[float] = []
    mismatches: list[dict[str, Any]] = []
    messages_per_answer: list[int] = []
    async with StreamingModel(ttft, chunk_delay) as model:
        people = turns + WARMUP_TURNS
        url = sqlite_url(workdir, "streaming_discord.db")
        async with discord_bot_process(model.base_url, url, people, workdir, streaming=True) as (
            driver,
            _child,
        ):
            discord = driver.discord
            for turn in range(people):
                user = driver.people[turn]
                channel = discord.dm_channel_id(user)
                expected = answer_text(turn, answer_chars)
                wanted = split_message(expected, MESSAGE_LIMIT)
                model.script(Text(expected))
                mark = len(model.arrived)
                pushed = time.monotonic()
                await discord.push_dm(user, f"question number {turn}, please answer at length")
                [first] = await discord.wait_for_messages(channel, 1, timeout=60)
                try:
                    await discord.wait_until(_shows(discord, channel, wanted), SETTLE_SECONDS)
                except AssertionError:
                    mismatches.append({"turn": turn, "wanted": wanted, "shown": discord.shown_in(channel)})
                if turn < WARMUP_TURNS:
                    continue
                ttft_seen = model.first_piece[mark] - model.arrived[mark]
                first_text.append(first.at - pushed)
                model_ttft.append(ttft_seen)
                added.append(first.at - pushed - ttft_seen)
                sent = [m for m in discord.messages if m.channel_id == channel and not m.deleted]
                messages_per_answer.append(len(sent))
                counts, turn_gaps, most = _edit_figures(discord, sent)
                edit_counts += counts
                gaps += turn_gaps
                most_in_a_second = max(most_in_a_second, most)
                for message in sent:
                    edits = discord.edits_of(message.id)
                    if edits:
                        lifetimes.append(edits[-1].at - message.at)
            # Late edits would change what was shown: look at every turn once more at the end.
            await asyncio.sleep(1.5)
            for turn in range(people):
                channel = discord.dm_channel_id(driver.people[turn])
                wanted = split_message(answer_text(turn, answer_chars), MESSAGE_LIMIT)
                shown = discord.shown_in(channel)
                if shown != wanted and all(m["turn"] != turn for m in mismatches):
                    mismatches.append({"turn": turn, "wanted": wanted, "shown": shown})
    edits_total = sum(edit_counts)

    def ms(values: list[float], pct: float) -> float:
        return round(percentile(values, pct) * 1000, 1)

    added_p50 = ms(added, 50)
    max_rate = most_in_a_second
    return {
        "turns": turns,
        "warmup_turns": WARMUP_TURNS,
        "model": {
            "ttft_s": ttft,
            "chunk_delay_s": chunk_delay,
            "piece_chars": 12,
            "answer_chars": answer_chars,
        },
        "first_text_ms": {"p50": ms(first_text, 50), "p95": ms(first_text, 95)},
        "model_ttft_ms": {"p50": ms(model_ttft, 50), "p95": ms(model_ttft, 95)},
        "added_to_ttft_ms": {"p50": added_p50, "p95": ms(added, 95)},
        "messages_per_answer": {"min": min(messages_per_answer), "max": max(messages_per_answer)},
        "edits_per_message": {
            "mean": round(edits_total / len(edit_counts), 2) if edit_counts else 0.0,
            "max": max(edit_counts, default=0),
        },
        "edits_per_second_per_message": {
            "mean": round(edits_total / sum(lifetimes), 3) if lifetimes else 0.0,
            "max_in_any_second": max_rate,
        },
        "min_seconds_between_updates": round(min(gaps), 3) if gaps else None,
        "mismatches": len(mismatches),
        "mismatched_turns": [m["turn"] for m in mismatches],
        "targets": {"added_to_ttft_p50_ms": TARGET_ADDED_MS, "edits_per_second": TARGET_EDITS_PER_SECOND},
        "meets_first_text_target": added_p50 <= TARGET_ADDED_MS,
        "meets_edit_rate_target": max_rate <= TARGET_EDITS_PER_SECOND,
        "meets_text_target": not mismatches,
    }


async def run(*, quick: bool, workdir: Path) -> Figures:
    """The figures as `python -m bench` would run them (`quick`: a smoke run, not figures)."""
    if quick:
        return await measure(turns=3, ttft=0.2, chunk_delay=0.005, answer_chars=600, workdir=workdir)
    return await measure(workdir=workdir)


def _main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.streaming_discord", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke run in seconds, not figures"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-streaming-discord-") as folder:
        figures = asyncio.run(run(quick=args.quick, workdir=Path(folder)))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    _main()

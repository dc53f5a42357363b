"""Figure 9: streamed answers as a person sees them, on Slack (Discord: `streaming_discord`).

The real Slack adapter (slack-bolt Socket Mode, slack-sdk Web API) in this process against the
fake Slack, the real core against the fake model, which waits `TTFT` seconds before its first
token and then sends 12-character pieces `CHUNK_DELAY` apart. For each answer, in a new channel
thread (after one answer that is not counted: a process's first turn loads the related-words
table and the stemmer): the time from the person's message to the first Web API call that shows text
(`chat.startStream` with text, or the post/update that replaces the placeholder), the most
calls on one answer's messages within any one second, and whether the thread ends up showing
exactly the model's text. Rows: Slack's native streaming, and the post + `chat.update`
fallback of a workspace that refuses it.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from adapters.slack import SlackAdapter
from bench import streaming_discord
from bench.measure import Figures, percentile
from bot.runtime import open_runtime
from config.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, Text
from tests.fakes.slack_server import PLACEHOLDER, FakeSlack

TTFT = 0.5  # the fake model's time to first token, seconds
CHUNK_DELAY = 0.03  # between 12-character pieces: about 400 characters a second


def answer_text(sentences: int) -> str:
    return " ".join(
        f"Sentence {i} of the answer says something useful about dinner plans tonight."
        for i in range(sentences)
    )


ADDED_TARGET_MS = 150.0
CALLS_TARGET = 2  # calls on one answer's messages within any second (about one, plus the last)
_WRITES = ("chat_postMessage", "chat_update", "chat_startStream", "chat_appendStream", "chat_stopStream")


class _TimedSlack(FakeSlack):
    """The fake Slack, also noting when each message first showed text and every write to it."""

    def __init__(self) -> None:
        super().__init__()
        self.first_text: dict[str, float] = {}  # thread ts -> when it first showed text
        self.writes: dict[str, list[float]] = defaultdict(list)  # message ts -> call times
        for name in _WRITES:
            self._time_writes(name)

    def _time_writes(self, name: str) -> None:
        handler = getattr(self, "_m_" + name)

        async def timed(args: dict[str, Any]) -> dict[str, Any]:
            result: dict[str, Any] = await handler(args)
            if result.get("ok") and result.get("ts"):
                self.writes[str(result["ts"])].append(time.perf_counter())
            return result

        setattr(self, "_m_" + name, timed)

    async def _notify(self) -> None:
        now = time.perf_counter()
        for message in self.posted:
            thread = message.thread_ts
            if thread and thread not in self.first_text and message.text.strip() not in ("", PLACEHOLDER):
                self.first_text[thread] = now
        await super()._notify()


def _most_in_a_second(times: list[float]) -> int:
    ordered, best, start = sorted(times), 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def _answer(slack: _TimedSlack, index: int, answer: str) -> dict[str, Any]:
    started = time.perf_counter()
    ts = await slack.send_message("C1", f"<@UBOT> question {index}")

    def done() -> bool | None:
        replies = slack.messages_in("C1", ts)
        settled = replies and not any(m.streaming or m.text == PLACEHOLDER for m in replies)
        return True if settled and "".join(m.text for m in replies).endswith(answer[-20:]) else None

    await slack.wait_until(done, timeout=60, what=f"answer {index}")
    replies = slack.messages_in("C1", ts)
    writes = [moment for m in replies for moment in slack.writes.get(m.ts, [])]
    return {
        "first_s": slack.first_text[ts] - started,
        "most_calls_in_1s": _most_in_a_second(writes),
        "calls": len(writes),
        "exact": "".join(m.text for m in replies) == answer,
    }


async def _slack_row(*, refuse: bool, answers: int, answer: str, workdir: Path) -> Figures:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    slack = _TimedSlack()
    async with FakeOpenAI(latency=TTFT) as model, slack:
        model.chunk_delay = CHUNK_DELAY
        model.script(*[Text(answer) for _ in range(answers + 1)])
        slack.add_user("U1", "Ana")
        slack.add_channel("C1", "general")
        if refuse:
            slack.refuse_streaming("not_allowed")
        values: dict[str, Any] = {
            "openai_api_key": "sk-bench",
            "openai_base_url": model.base_url,
            "database_url": f"sqlite:///{workdir / 'bot.db'}",
            "slack_bot_token": slack.bot_token,
            "slack_app_token": slack.app_token,
            "slack_api_url": slack.api_url,
            "model_max_retries": 0,
            "bot_streaming": True,
        }
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        async with open_runtime(settings) as runtime:
            adapter = SlackAdapter(runtime.service, settings)
            await adapter.start()
            try:
                # One answer first, not counted: the process's first turn loads what later
                # turns reuse (the related-words table, the stemmer, the database's pages).
                await _answer(slack, -1, answer)
                # Five conversations at a time, as people who are not synchronised would write.
                results: list[dict[str, Any]] = []
                for batch in range(0, answers, 5):
                    results += await asyncio.gather(
                        *(_answer(slack, i, answer) for i in range(batch, min(answers, batch + 5)))
                    )
            finally:
                await adapter.stop()
    first = [r["first_s"] for r in results]
    return {
        "answers": len(results),
        "first_text_p50_ms": round(percentile(first, 50) * 1000, 1),
        "first_text_p95_ms": round(percentile(first, 95) * 1000, 1),
        "added_p50_ms": round((percentile(first, 50) - TTFT - CHUNK_DELAY) * 1000, 1),
        "most_calls_in_1s": max(r["most_calls_in_1s"] for r in results),
        "calls_per_answer_mean": round(sum(r["calls"] for r in results) / len(results), 1),
        "exact": sum(r["exact"] for r in results),
    }


async def run(*, quick: bool, workdir: Path) -> Figures:
    answers, answer = (2, answer_text(3)) if quick else (20, answer_text(12))
    rows = {
        "slack_native": await _slack_row(
            refuse=False, answers=answers, answer=answer, workdir=workdir / "native"
        ),
        "slack_fallback": await _slack_row(
            refuse=True, answers=answers, answer=answer, workdir=workdir / "fallback"
        ),
    }
    await asyncio.to_thread((workdir / "discord").mkdir, parents=True, exist_ok=True)
    discord = await streaming_discord.run(quick=quick, workdir=workdir / "discord")
    return {
        "discord": discord,
        # The fake sends its role chunk, waits CHUNK_DELAY, then the first piece of text.
        "ttft_ms": round((TTFT + CHUNK_DELAY) * 1000),
        "answer_chars": len(answer),
        "model_seconds_per_answer": round(TTFT + CHUNK_DELAY * (len(answer) / 12 + 2), 2),
        "target_added_ms": ADDED_TARGET_MS,
        "rows": rows,
    }


_LABELS = {"slack_native": "Slack, native stream", "slack_fallback": "Slack, post + chat.update"}


def report_rows(figures: Figures) -> list[tuple[str, str, str, str, str]]:
    out = []
    for name, row in figures["rows"].items():
        label = _LABELS.get(name, name)
        met = (
            row["added_p50_ms"] <= figures["target_added_ms"]
            and row["most_calls_in_1s"] <= CALLS_TARGET
            and row["exact"] == row["answers"]
        )
        out.append(
            (
                f"9. streamed answer, {label}: first text p50 / p95 ms (model TTFT {figures['ttft_ms']:.0f});"
                " most calls in 1 s; exact text",
                f"{row['first_text_p50_ms']} / {row['first_text_p95_ms']} (+{row['added_p50_ms']});"
                f" {row['most_calls_in_1s']} ({row['calls_per_answer_mean']} per answer);"
                f" {row['exact']}/{row['answers']}",
                "-",
                f"<= TTFT + {figures['target_added_ms']:.0f}; <= {CALLS_TARGET}; all",
                "met" if met else "**missed**",
            )
        )
    discord = figures.get("discord")
    if discord:
        met = (
            discord["meets_first_text_target"]
            and discord["meets_edit_rate_target"]
            and discord["meets_text_target"]
        )
        out.append(
            (
                f"9. streamed answer, Discord DM (`python -m bot`): first text p50 / p95 ms (model TTFT"
                f" {discord['model_ttft_ms']['p50']:.0f}); most edits per message in 1 s; exact text",
                f"{discord['first_text_ms']['p50']} / {discord['first_text_ms']['p95']}"
                f" (+{discord['added_to_ttft_ms']['p50']});"
                f" {discord['edits_per_second_per_message']['max_in_any_second']}"
                f" ({discord['edits_per_message']['mean']} edits per message);"
                f" {discord['turns'] - discord['mismatches']}/{discord['turns']}",
                "-",
                f"<= TTFT + {discord['targets']['added_to_ttft_p50_ms']:.0f}; <= 1; all",
                "met" if met else "**missed**",
            )
        )
    return out


if __name__ == "__main__":
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(asyncio.run(run(quick=False, workdir=Path(folder))), indent=2))

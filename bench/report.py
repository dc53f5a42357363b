"""Turn the figures into one markdown table, and describe the machine they came from."""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any

from bench import recall_report, streaming

Row = tuple[str, str, str, str, str]


def machine() -> dict[str, Any]:
    """nproc, CPU model and Python version: the context every figure needs."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


CALIBRATION_LOOP = 2_000_000


def python_speed_ms() -> float:
    """Milliseconds for a fixed pure-Python loop: how fast this machine is *right now*.

    Shared machines slow down and speed up by several times; timing the same loop at the start
    and at the end of a run says whether its figures came from a fast or a slow moment.
    """
    started = time.perf_counter()
    total = 0
    for value in range(CALIBRATION_LOOP):
        total += value * value
    return round((time.perf_counter() - started) * 1000, 1)


def _met(flag: object) -> str:
    if flag is None:
        return "-"
    return "met" if flag else "**missed**"


def _ms(row: dict[str, Any]) -> str:
    if "p50_ms" not in row:
        return str(row.get("error") or row.get("skipped") or "n/a")
    return f"{row['p50_ms']:.2f} / {row['p99_ms']:.2f}"


def _overhead(figures: dict[str, Any]) -> list[Row]:
    rows = figures["rows"]
    seed = _ms(rows["seed"])
    out: list[Row] = []
    for name, label in (("service", "ChatService.handle"), ("slack", "Slack DM"), ("discord", "Discord DM")):
        row = rows[name]
        flags = [row.get(key) for key in ("meets_p50", "meets_p99", "meets_seed_ratio")]
        met = None if None in flags else all(flags)
        ratio = f" ({row['vs_seed_p50']}x seed)" if "vs_seed_p50" in row else ""
        out.append(
            (
                f"1. overhead/turn p50 / p99 ms, {label}",
                _ms(row) + ratio,
                seed,
                "<= 10 / <= 40, <= 2x seed",
                _met(met),
            )
        )
    return out


def _concurrency(figures: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    rows = figures["rows"]
    cores = figures.get("cores", "nproc")

    def cell(row: dict[str, Any]) -> str:
        if "turns_per_s" not in row:
            return str(row.get("error", "n/a"))
        return f"{row['turns_per_s']:.1f} ({row['fraction_of_ideal']:.0%})"

    for index, service in enumerate(rows["service"]):
        last = index == len(rows["service"]) - 1
        workers = rows["workers"][index]
        out.append(
            (
                f"2. turns/s at N={service['n']} (% of ideal): in-process / {cores} workers / Slack process",
                f"{cell(service)} / {cell(workers)} / {cell(rows['slack'][index])}",
                cell(rows["seed"][index]),
                f">= 90% of {service['ideal_turns_per_s']:.0f}/s on {cores} cores" if last else "-",
                _met(workers["fraction_of_ideal"] >= figures["target_fraction"]) if last else "-",
            )
        )
    largest, pooled_largest = rows["service"][-1], rows["workers"][-1]
    if "cpu_ms_per_turn" in largest and "cpu_ms_per_turn" in pooled_largest:
        out.append(
            (
                f"2. bot CPU ms per turn at N={largest['n']} (all its processes): in-process / {cores} workers",
                f"{largest['cpu_ms_per_turn']:.2f} / {pooled_largest['cpu_ms_per_turn']:.2f}",
                "-",
                "-",
                "-",
            )
        )
    if rows.get("lockstep"):
        in_process, pooled = rows["lockstep"]
        out.append(
            (
                f"2. same, N={in_process['n']} all starting at the same instant: in-process / {cores} workers",
                f"{cell(in_process)} / {cell(pooled)}",
                "-",
                "-",
                "-",
            )
        )
    return out


def _memory(figures: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for bot, seed in zip(figures["rows"]["bot"], figures["rows"]["seed"], strict=True):
        out.append(
            (
                f"3. prompt tokens, recall at {bot['facts']:,} facts",
                f"{bot['tokens_mean']:.0f}, {bot['recall']:.0%}",
                f"{seed['tokens_mean']:.0f}, {seed['recall']:.0%}",
                "-",
                "-",
            )
        )
    out.append(
        (
            "3. token growth (largest / 10 facts), min recall",
            f"{figures['token_growth']}x, {figures['min_recall']:.0%}",
            f"{figures['seed_token_growth']}x, {figures['seed_min_recall']:.0%}",
            "<= 1.5x, >= 95%",
            _met(figures["meets_token_target"] and figures["meets_recall_target"]),
        )
    )
    return out


def _thread(figures: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    budget = figures["history_token_budget"]
    for bot, seed in zip(figures["rows"]["bot"], figures["rows"]["seed"], strict=True):
        out.append(
            (
                f"4. prompt tokens (history part) at {bot['turns']:,} turns",
                f"{bot['tokens']:,} ({bot['history_tokens']:,})",
                f"{seed['tokens']:,} ({seed['history_tokens']:,})",
                f"history <= {budget:,}",
                _met(bot["history_tokens"] <= budget),
            )
        )
    return out


def _store(figures: dict[str, Any]) -> list[Row]:
    rows = figures["rows"]
    size = f"{figures['people']:,} people x {figures['facts_per_person']} facts"
    seed = _ms(rows["seed_inmemory"]) + " (InMemoryStore)"
    return [
        (
            f"5. retrieval p50 / p99 ms, SQLite, {size}",
            _ms(rows["sqlite"]),
            seed,
            "p99 <= 20",
            _met(figures["meets_target"]),
        ),
        (f"5. retrieval p50 / p99 ms, Postgres, {size}", _ms(rows["postgres"]), seed, "-", "-"),
    ]


def _footprint(figures: dict[str, Any]) -> list[Row]:
    bot, seed = figures["rows"]["bot"], figures["rows"]["seed"]
    seed_growth = f"{seed['rss_idle_mb']} -> {seed['rss_after_mb']}" if "rss_idle_mb" in seed else str(seed)
    return [
        (
            "6. `python -m bot` start to ready, s",
            f"{bot['ready_s']:.2f}",
            "n/a (notebook)",
            "<= 3",
            _met(figures["meets_ready_target"]),
        ),
        (
            f"6. RSS MB idle -> after {bot['turns']:,} turns",
            f"{bot['rss_idle_mb']} -> {bot['rss_after_mb']} (+{bot['rss_growth_mb']})",
            seed_growth + (f" (+{seed['rss_growth_mb']})" if "rss_growth_mb" in seed else ""),
            "growth <= 50",
            _met(figures["meets_growth_target"]),
        ),
    ]


def _recall_scale(figures: dict[str, Any]) -> list[Row]:
    size = f"{figures['facts_per_person']:,} facts/person, {figures['facts_total']:,} in DB"
    out: list[Row] = []
    for name, label in (("sqlite", "SQLite"), ("postgres", "Postgres")):
        row = figures["rows"][name]
        memory = (
            f"; peak {row['peak_kib_10k_facts']} KiB (100 facts: {row['peak_kib_100_facts']});"
            f" one /forget {row['erase_s']} s"
            if "peak_kib_10k_facts" in row
            else ""
        )
        if "first_per_person_p50_ms" in row:
            memory += (
                f"; each person's first, caches cold: p50 {row['first_per_person_p50_ms']}"
                f" / max {row['first_per_person_max_ms']}"
            )
        met = None if "p99_ms" not in row else row["p99_ms"] <= figures["target_p99_ms"]
        out.append(
            (f"8. retrieval p50 / p99 ms, {label}, {size}", _ms(row) + memory, "-", "p99 <= 20", _met(met))
        )
    return out


SECTIONS = {
    "overhead": _overhead,
    "concurrency": _concurrency,
    "memory_growth": _memory,
    "thread_growth": _thread,
    "store_scale": _store,
    "footprint": _footprint,
    "recall": recall_report.report_rows,
    "recall_scale": _recall_scale,
    "streaming": streaming.report_rows,
}


def markdown(results: dict[str, Any]) -> str:
    """One table: a row per figure, the bot next to the seed, the target, met or missed."""
    lines = ["| Figure | Bot | Seed | Target | Result |", "|---|---|---|---|---|"]
    for name, render in SECTIONS.items():
        figures = results.get("figures", {}).get(name)
        if figures is None:
            continue
        if "error" in figures:
            lines.append(f"| {name} | error: {figures['error']} | | | |")
            continue
        lines.extend("| " + " | ".join(row) + " |" for row in render(figures))
    info = results.get("machine", {})
    lines.append("")
    lines.append(
        f"Machine: {info.get('nproc')} CPUs, {info.get('cpu')}, Python {info.get('python')}; "
        f"command: `{results.get('command', 'python -m bench')}`"
    )
    speed = results.get("python_speed_ms")
    if speed:
        lines.append(
            f"Machine speed: a fixed {CALIBRATION_LOOP:,}-step Python loop took {speed['before']} ms before "
            f"the run and {speed['after']} ms after it (lower is faster)."
        )
    return "\n".join(lines)

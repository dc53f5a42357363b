"""`python -m bench --quick` runs end to end and writes every figure; no timing is asserted."""

from __future__ import annotations

import json
import numbers
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

EXPECTED: dict[str, tuple[str, ...]] = {
    "overhead": ("threads", "turns_per_thread", "targets", "rows"),
    "concurrency": ("latency_s", "target_fraction", "rows", "meets_target"),
    "memory_growth": ("rows", "token_growth", "min_recall", "seed_min_recall", "meets_token_target"),
    "thread_growth": ("history_token_budget", "rows", "max_history_tokens", "meets_target"),
    "store_scale": ("people", "facts_per_person", "rows", "meets_target"),
    "footprint": ("rows", "meets_ready_target", "meets_growth_target"),
    "recall": ("methods", "holdout", "facts_section_tokens", "system_prompt_chars_median", "meets_target"),
    "recall_scale": ("rows", "facts_per_person", "meets_target"),
    "streaming": ("rows", "ttft_ms", "target_added_ms"),
}


def numbers_in(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [n for item in value.values() for n in numbers_in(item)]
    if isinstance(value, list):
        return [n for item in value for n in numbers_in(item)]
    return [value] if isinstance(value, numbers.Number) else []


@pytest.mark.timeout(110)
def test_quick_bench_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["machine"]["nproc"] >= 1
    figures = results["figures"]
    for name, keys in EXPECTED.items():
        assert name in figures, f"{name} missing"
        assert "error" not in figures[name], figures[name]
        for key in keys:
            assert key in figures[name], f"{name}.{key} missing"
    overhead = figures["overhead"]["rows"]
    for row in ("seed", "service", "slack", "discord"):
        assert isinstance(overhead[row]["p50_ms"], float)
        assert isinstance(overhead[row]["p99_ms"], float)
    assert all(isinstance(row["turns_per_s"], float) for row in figures["concurrency"]["rows"]["service"])
    # CPU per turn counts the worker processes too: a turn cannot cost nothing.
    for kind in ("service", "workers"):
        assert all(row["cpu_ms_per_turn"] > 0 for row in figures["concurrency"]["rows"][kind]), kind
    assert isinstance(figures["store_scale"]["rows"]["sqlite"]["p99_ms"], float)
    assert isinstance(figures["footprint"]["rows"]["bot"]["ready_s"], float)
    assert 0 < figures["recall"]["methods"]["ours"]["all"]["hit"] <= 1
    held_out = figures["recall"]["holdout"]["methods"]
    assert {"ours", "bm25", "recency"} <= set(held_out)
    assert 0 < held_out["ours"]["all"]["hit"] <= 1 and held_out["ours"]["all"]["questions"] > 0
    assert isinstance(figures["recall_scale"]["rows"]["sqlite"]["p99_ms"], float)
    for name, row in figures["streaming"]["rows"].items():  # the whole answer, every time
        assert row["answers"] > 0 and row["exact"] == row["answers"], name
    assert figures["streaming"]["discord"]["mismatches"] == 0
    assert all(n == n for n in numbers_in(figures) if isinstance(n, float)), "a figure is NaN"
    # The table on stdout carries every figure's rows.
    labels = (
        "1. overhead",
        "2. turns/s",
        "2. bot CPU ms per turn",
        "3. prompt tokens",
        "4. prompt tokens",
        "5. retrieval",
        "6. RSS",
        "7. recall",
        "7. held-out dataset",
        "8. retrieval",
        "9. streamed answer",
    )
    assert all(label in done.stdout for label in labels), done.stdout


def test_quick_never_drops_the_full_runs_database() -> None:
    """--quick (this smoke test) makes its Postgres database afresh: never the full run's, whose
    million rows take minutes to build and are kept for later runs."""
    from urllib.parse import urlsplit

    from bench import recall_scale

    url = recall_scale._postgres_url(fresh=True)
    if url is None:
        pytest.skip("no PostgreSQL server reachable at TEST_DATABASE_URL")
    assert urlsplit(url).path == f"/{recall_scale.QUICK_DATABASE}"
    assert recall_scale.QUICK_DATABASE != recall_scale.POSTGRES_DATABASE

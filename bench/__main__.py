"""`python -m bench [--quick] [--only NAME ...] [--json PATH]`: measure what the bot adds.

Prints a markdown table (the bot next to the seed notebook's design, run in the same
process at the same moment) and writes the same figures as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import concurrency, footprint, overhead, prompt_size, recall, recall_scale, store_scale, streaming
from bench.measure import Figures
from bench.report import SECTIONS, machine, markdown, python_speed_ms

RESULTS = Path(__file__).resolve().parent / "results"

Runner = Callable[[bool, Path], Awaitable[Figures]]
RUNNERS: dict[str, Runner] = {
    "overhead": lambda quick, work: overhead.run(quick=quick, workdir=work),
    "concurrency": lambda quick, work: concurrency.run(quick=quick, workdir=work),
    "memory_growth": lambda quick, work: prompt_size.memory_growth(quick=quick, workdir=work),
    "thread_growth": lambda quick, work: prompt_size.thread_growth(quick=quick, workdir=work),
    "store_scale": lambda quick, work: store_scale.run(quick=quick, workdir=work, results=RESULTS),
    "footprint": lambda quick, work: footprint.run(quick=quick, workdir=work),
    "recall": lambda quick, work: recall.run(quick=quick, workdir=work),
    "recall_scale": lambda quick, work: recall_scale.run(quick=quick, workdir=work, results=RESULTS),
    "streaming": lambda quick, work: streaming.run(quick=quick, workdir=work),
}
assert RUNNERS.keys() == SECTIONS.keys()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke run in seconds, not figures"
    )
    parser.add_argument("--only", nargs="+", choices=list(RUNNERS), metavar="NAME", help=", ".join(RUNNERS))
    parser.add_argument(
        "--json", type=Path, default=None, help="where to write the JSON (default: bench/results/)"
    )
    return parser


async def _run_all(names: Sequence[str], quick: bool, work: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name in names:
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            figures[name] = await RUNNERS[name](quick, work / name)
        except Exception as exc:  # one broken figure must not hide the others
            traceback.print_exc()
            figures[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        print(f"  {name} took {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    names = args.only or list(RUNNERS)
    command = (
        "python -m bench"
        + (" --quick" if args.quick else "")
        + (f" --only {' '.join(names)}" if args.only else "")
    )
    speed_before = python_speed_ms()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        work = Path(folder)
        for name in names:
            (work / name).mkdir()
        figures = asyncio.run(_run_all(names, args.quick, work))
    speed_after = python_speed_ms()
    results = {
        "command": command,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "python_speed_ms": {"before": speed_before, "after": speed_after},
        "figures": figures,
    }
    RESULTS.mkdir(exist_ok=True)
    path = (
        args.json
        or RESULTS / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}{'-quick' if args.quick else ''}.json"
    )
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    print(f"\nJSON: {path}", file=sys.stderr)
    return 1 if any("error" in value for value in figures.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Figure 7's rows in the bench's table: each method by question kind, on both datasets."""

from __future__ import annotations

from typing import Any

from bench.recall_baselines import embeddings_do_as_well, meets

Row = tuple[str, str, str, str, str]
_TARGET = ">= 90% hit, multi-hop >= 80%, >= 85% full"
_METHODS = (
    ("ours", "bot (budget-filled)"),
    ("ours_postgres", "bot on Postgres"),
    ("ours_embed", "bot with embeddings (stand-in)"),
    ("bm25", "BM25, Snowball stems"),
    ("recency", "recency"),
    ("ours_12", "bot, 12 facts"),
    ("bm25_12", "BM25, 12 facts"),
    ("recency_12", "recency, 12 facts"),
    ("previous_12", "previous ranker, 12 facts"),
)


def _met(flag: bool) -> str:
    return "met" if flag else "**missed**"


def _rows(title: str, methods: dict[str, Any], targets: dict[str, float], budget: int) -> list[Row]:
    kinds = [kind for kind in methods["ours"] if kind != "all"] + ["all"]
    out: list[Row] = []
    for name, label in _METHODS:
        if name not in methods:
            continue
        rows = methods[name]
        cell = ", ".join(f"{kind} {rows[kind]['hit']:.0%}/{rows[kind]['full']:.0%}" for kind in kinds)
        bot = name in ("ours", "ours_postgres")
        target, result = (_TARGET, _met(meets(rows, targets))) if bot else ("-", "-")
        if name == "ours_embed":  # with BOT_EMBEDDING_MODEL set, at least as well as without
            target, result = ">= the bot's hit and full", _met(embeddings_do_as_well(methods))
        out.append(
            (
                f"7. {title}, {label}, {budget}-token facts budget",
                cell + f" ({rows['all']['facts_mean']} facts)",
                "-",
                target,
                result,
            )
        )
    return out


HELD_OUT = {"holdout": "held-out dataset", "holdout2": "second held-out dataset"}


def _prompt_row(title: str, figures: dict[str, Any], budget: int) -> Row:
    tokens, chars = figures["facts_section_tokens"], figures["system_prompt_chars_median"]
    return (
        f"7. {title}facts-section tokens median / max; system message chars median",
        f"{tokens['median']:.0f} / {tokens['max']}; {chars:.0f}",
        "-",
        f"<= {budget}; <= ~3,600",
        _met(tokens["max"] <= budget and chars <= 3600),
    )


def report_rows(figures: dict[str, Any]) -> list[Row]:
    budget, targets = figures["token_budget"], figures["targets"]
    out = _rows("recall hit/full by kind", figures["methods"], targets, budget)
    out.append(_prompt_row("", figures, budget))
    for key, title in HELD_OUT.items():
        held = figures[key]
        out += _rows(
            f"{title} ({held['questions']:,} questions), recall hit/full", held["methods"], targets, budget
        )
        out.append(_prompt_row(f"{title}: ", held, budget))
    return out

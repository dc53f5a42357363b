"""Choose which of a person's facts are worth a place in the prompt.

Pure functions, no I/O. `fuse` and `pack` serve `bot.retrieval` (ranked lists from the
database's indexes); `rank` ranks an in-memory candidate list by rarity-weighted word
overlap (or embedding similarity) and recency, for stores without a full-text index.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOPWORDS = frozenset(
    """a an the and or but if of to in on at for with from by about as is am are was were be been being
    i me my mine you your yours we our us he she it its they them their this that these those what which
    who whom where when why how do does did done have has had can could should would will shall may might
    must not no yes so too very just also than then there here some any all each every user users
    please thanks thank hi hello hey tell know remember like""".split()
)


def tokens(text: str) -> set[str]:
    """Content words of `text`, lower-cased and lightly stemmed."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        if word in _STOPWORDS or len(word) < 2:
            continue
        found.add(word)
    return found


def approx_tokens(text: str) -> int:
    """A model-agnostic token estimate (about four characters per token), offline."""
    return max(1, math.ceil(len(text) / 4))


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """What ranking needs to know of one stored fact."""

    key: str
    text: str
    updated_at: datetime
    embedding: Sequence[float] | None = None


def rank(
    query: str,
    candidates: Sequence[Candidate],
    *,
    limit: int,
    token_budget: int,
    query_embedding: Sequence[float] | None = None,
    cost: Callable[[Candidate], int] | None = None,
) -> list[Candidate]:
    """The best `limit` candidates that fit in `token_budget`, most relevant first.

    Relevant facts come first; the remaining places go to the most recent facts, so a
    question that matches nothing ("what do you know about me?") still sees the newest
    facts. Nothing is dropped for being old alone: a relevant fact wins over a recent one.
    """
    if not candidates or limit <= 0:
        return []
    cost = cost or (lambda candidate: approx_tokens(candidate.text) + 6)
    query_words = tokens(query)
    document_frequency: dict[str, int] = {}
    candidate_words = []
    for candidate in candidates:
        words = tokens(candidate.text)
        candidate_words.append(words)
        for word in words & query_words:
            document_frequency[word] = document_frequency.get(word, 0) + 1
    total = len(candidates)

    def relevance(index: int) -> float:
        overlap = candidate_words[index] & query_words
        lexical = sum(
            math.log(1 + (total - document_frequency[w] + 0.5) / (document_frequency[w] + 0.5))
            for w in overlap
        )
        candidate = candidates[index]
        if query_embedding is not None and candidate.embedding is not None:
            semantic = cosine(query_embedding, candidate.embedding)
            # Semantic similarity decides; lexical overlap breaks near-ties.
            return semantic * 10 + lexical * 0.1 if semantic > 0.2 or lexical else 0.0
        return lexical

    scores = [relevance(index) for index in range(total)]
    by_recency = sorted(range(total), key=lambda i: candidates[i].updated_at, reverse=True)
    recency_rank = {index: position for position, index in enumerate(by_recency)}
    relevant = sorted((i for i in range(total) if scores[i] > 0), key=lambda i: (-scores[i], recency_rank[i]))
    order = relevant + [i for i in by_recency if scores[i] <= 0]

    chosen: list[Candidate] = []
    spent = 0
    for index in order:
        candidate = candidates[index]
        price = cost(candidate)
        if spent + price > token_budget:
            continue
        chosen.append(candidate)
        spent += price
        if len(chosen) >= limit:
            break
    return chosen


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


K = TypeVar("K", bound=Keyed)
RRF_K = 30  # reciprocal-rank constant: ranks 1 and 10 of one list differ by ~1.3x, not 10x


def fuse(lists: Mapping[str, Sequence[K]], weights: Mapping[str, float], *, k: int = RRF_K) -> list[K]:
    """Weighted reciprocal rank fusion: sum over lists of weight / (k + rank), best first.

    A fact found by several queries beats one found high by a single query; ties keep
    the order in which lists and ranks first met the fact.
    """
    scores: dict[str, float] = {}
    found: dict[str, K] = {}
    for name, ranked in lists.items():
        weight = weights.get(name, 0.0)
        for rank_, item in enumerate(ranked, start=1):
            found.setdefault(item.key, item)
            scores[item.key] = scores.get(item.key, 0.0) + weight / (k + rank_)
    order = sorted(found, key=lambda key: -scores[key])
    return [found[key] for key in order]


NEAR_DUPLICATE = 0.8  # share of stems in common (Jaccard) above which two facts say the same


def pack(
    ranked: Sequence[K],
    *,
    keep: Set[str],
    limit: int,
    token_budget: int,
    cost: Callable[[K], int],
    words_of: Callable[[K], Set[str]],
) -> list[K]:
    """The best of `ranked` within `limit` and `token_budget`, in ranked order.

    Items in `keep` (the profile) get their places first; an item nearly the same as one
    already chosen takes no second place.
    """
    chosen: dict[int, K] = {}
    chosen_words: list[Set[str]] = []
    spent = 0
    for pass_keep in (True, False):
        for position, item in enumerate(ranked):
            if len(chosen) >= limit:
                break
            if position in chosen or (item.key in keep) != pass_keep:
                continue
            price = cost(item)
            if spent + price > token_budget:
                continue
            mine = words_of(item)
            if any(_similar(mine, other) for other in chosen_words):
                continue
            chosen[position] = item
            chosen_words.append(mine)
            spent += price
    return [chosen[position] for position in sorted(chosen)]


def _similar(a: Set[str], b: Set[str]) -> bool:
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= NEAR_DUPLICATE

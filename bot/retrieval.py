"""Which of a person's facts reach the prompt: several index queries, fused, packed to a budget.

Every list comes from the database's full-text index or its recency index, each bounded
(`POOL` rows), so a turn costs the same whether the person has ten facts or ten thousand:

- the message's words; related words (WordNet-derived: grandma -> grandmother); the
  thread's recent turns (follow-ups such as "and her sister?"). The last two leave out the
  message's own words, which the first list already ranks: a common word is matched once,
  not three times;
- neighbours of the first hits: their names, numbers and months (multi-hop questions need
  facts that share no word with the question). Not their topic: a person's facts share a
  handful of topics, so the topic word matches most of them and costs a large read for
  little;
- the newest facts (at most `ONLY_RECENT` of those no query found: they are context, and
  would otherwise fill the budget); a small profile (name, home, work), always offered;
- with embeddings, the candidates above re-ranked by similarity to the message.

The lists are fused by weighted reciprocal rank, near-duplicates dropped, and the best
packed into the token budget, most relevant first.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings

from bot.fact_index import WORDS, FactIndex, IndexedFact
from bot.lexicon import related, stem, stems, words
from bot.ranking import cosine, fuse, pack

log = logging.getLogger(__name__)

POOL = 40  # rows per index query
RECENT = 20
PROFILE = 3
PROFILE_TERMS = ("name", "live", "lives", "home", "work", "works", "job")
PROFILE_SUBJECT = "user"  # the model writes facts about the person as "User ..." (bot.prompts)
PROFILE_POOL = 12
SEEDS = 5  # first hits whose neighbours are looked up
# Facts found by no query, only by recency, take at most this many places: context, not
# evidence (a question that matches nothing still sees the newest facts).
ONLY_RECENT = 10
# Fusion weights, chosen once from what each list is (not fitted to a dataset).
WEIGHTS = {
    "message": 1.0,
    "related": 0.6,
    "conversation": 0.5,
    "neighbours": 0.5,
    "semantic": 1.0,
    "recent": 0.2,
    "profile": 0.2,
}
_MONTHS = set("january february march april may june july august september october november december".split())
_NEIGHBOUR_WORD = re.compile(r"\b(?:[A-Z][\w'-]*[a-z][\w'-]*|\d{2,4})\b")


@dataclass(frozen=True, kw_only=True)
class Query:
    """What to search for: the message, and the thread's recent turns for context."""

    message: str
    context: Sequence[str] = ()


def neighbour_terms(hits: Sequence[IndexedFact], exclude: set[str], *, limit: int = 10) -> list[str]:
    """Entity names, numbers and months of `hits`: what their neighbours share."""
    found: list[str] = []
    for hit in hits:
        text = str(hit.value.get("fact", ""))
        for match in _NEIGHBOUR_WORD.findall(text):
            word = match.lower().strip("'-")
            if word != "user" and word not in exclude:
                found.extend(words(word))
        found.extend(w for w in words(text) if w in _MONTHS)
    return [term for term in dict.fromkeys(found) if term not in exclude][:limit]


def choose_profile(newest: Sequence[IndexedFact]) -> list[IndexedFact]:
    """The profile among the newest facts naming the person and a profile word: those where
    the word comes first ("User lives in Porto", not "User thinks Porto is too dear to live
    in"), one per word, newest first. Ranking by bm25 would cost every turn a scan of the
    person's many facts holding such common words."""
    wanted = {stem(term) for term in PROFILE_TERMS}
    chosen: dict[str, IndexedFact] = {}
    for hit in newest:
        first = next(iter(words(str(hit.value.get("fact", "")))), "")
        aspect = stem(first)
        if aspect in wanted and aspect not in chosen:
            chosen[aspect] = hit
    return list(chosen.values())[:PROFILE]


class Retriever:
    """Runs the queries for one turn against `index` and fuses them."""

    def __init__(self, index: FactIndex, *, embeddings: Embeddings | None = None) -> None:
        self.index = index
        self.embeddings = embeddings

    async def _embed(self, text: str) -> list[float] | None:
        if self.embeddings is None or not text.strip():
            return None
        try:
            return list(await self.embeddings.aembed_query(text))
        except Exception:
            log.warning("embedding the message failed; ranking facts without it", exc_info=True)
            return None

    async def relevant(
        self,
        prefix: str,
        query: Query,
        *,
        limit: int,
        token_budget: int,
        cost: Callable[[IndexedFact], int],
        shared_only: bool = False,
    ) -> list[IndexedFact]:
        """The facts worth showing for `query`, most relevant first, within `limit` and `token_budget`.

        `shared_only` (a shared thread): every index query leaves private facts out itself.
        """
        asked = words(query.message)
        expanded = [r for word in dict.fromkeys(asked) for r in related(word, limit=4) if r not in asked]
        recent_turns = " ".join(turn[-500:] for turn in query.context)
        around = [w for w in dict.fromkeys(words(recent_turns)) if w not in asked]
        index = self.index
        # Only the message's own words meet the facts' broader terms: related words would
        # drift two steps from the message, and the recent turns, neighbours and profile look
        # for what facts say, not what they are about.
        message_hits, related_hits, context_hits, recent, profile, embedding = await asyncio.gather(
            index.search(prefix, asked, limit=POOL, shared_only=shared_only),
            index.search(prefix, expanded, limit=POOL, shared_only=shared_only, fields=WORDS)
            if expanded
            else _none(),
            index.search(prefix, around, limit=POOL, shared_only=shared_only, fields=WORDS)
            if around
            else _none(),
            index.recent(prefix, limit=RECENT, shared_only=shared_only),
            index.search(
                prefix,
                PROFILE_TERMS,
                limit=PROFILE_POOL,
                required=PROFILE_SUBJECT,
                newest_first=True,
                shared_only=shared_only,
                fields=WORDS,
            ),
            self._embed(query.message),
        )
        profile = choose_profile(profile)
        lists: dict[str, list[IndexedFact]] = {
            "message": message_hits,
            "related": related_hits,
            "conversation": context_hits,
            "recent": recent,
            "profile": profile,
        }
        first = fuse({name: lists[name] for name in ("message", "related", "conversation")}, WEIGHTS)
        neighbours = neighbour_terms(first[:SEEDS], {w.lower() for w in asked})
        if neighbours:
            lists["neighbours"] = await index.search(
                prefix, neighbours, limit=POOL, shared_only=shared_only, fields=WORDS
            )
        if embedding is not None:
            pool = {hit.key: hit for hits in lists.values() for hit in hits}
            scored = [
                (cosine(embedding, hit.value["embedding"]), hit)
                for hit in pool.values()
                if hit.value.get("embedding")
            ]
            lists["semantic"] = [
                hit for score, hit in sorted(scored, key=lambda pair: -pair[0]) if score > 0.2
            ]
        fused = fuse(lists, WEIGHTS)
        return pack(
            _fewer_only_recent(fused, lists),
            keep={hit.key for hit in profile},
            limit=limit,
            token_budget=token_budget,
            cost=cost,
            words_of=lambda hit: stems(str(hit.value.get("fact", ""))),
        )


def _fewer_only_recent(fused: list[IndexedFact], lists: dict[str, list[IndexedFact]]) -> list[IndexedFact]:
    """`fused` with at most `ONLY_RECENT` of the facts that no query found, only recency: they
    are context, not evidence, and would otherwise fill whatever budget the queries left."""
    found = {hit.key for name, hits in lists.items() if name != "recent" for hit in hits}
    kept, only_recent = [], 0
    for hit in fused:
        if hit.key not in found:
            only_recent += 1
            if only_recent > ONLY_RECENT:
                continue
        kept.append(hit)
    return kept


async def _none() -> list[IndexedFact]:
    return []

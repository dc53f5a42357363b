"""Broader terms of a fact's words, indexed with the fact: general questions find specific facts.

"What language am I learning?" shares no word with "User has a Korean lesson on Wednesdays",
nor "which body part did I hurt?" with "User sprained an ankle". Expanding the question cannot
help (every language, every body part), so the fact is expanded instead, once, when it is
written: its words' broader terms (Korean -> language, sprain -> injure, border collie -> dog,
terrified -> afraid, partner -> spouse, better half) go into the fact's `terms`, which both
engines index beside its text with a lower weight (`bot.sqlite_fact_index`,
`bot.postgres_fact_index`). Stored in the fact's own row, they are erased with it.

The table, `bot/data/broader_words.tsv.gz`, is derived from WordNet at development time
(`tools/build_broader_words.py`). It is read on first use and kept compact: the sorted lines
as one bytes object and their offsets, searched by bisection (about 5 MB, not a dict of
130,000 entries).
"""

from __future__ import annotations

import functools
import gzip
import re
from array import array
from importlib import resources
from typing import Any

from bot.lexicon import STOPWORDS, base_forms

MAX_TERMS = 16  # per fact
_TOKEN = re.compile(r"[A-Za-z]+")


class _Table:
    """word -> (times WordNet saw it tagged, broader terms), from the sorted table's lines."""

    def __init__(self, data: bytes) -> None:
        lines = [line for line in data.split(b"\n") if line and not line.startswith(b"#")]
        self.data = b"\n".join(lines) + b"\n"
        self.starts = array("I")
        position = 0
        for line in lines:
            self.starts.append(position)
            position += len(line) + 1

    def _key(self, index: int) -> bytes:
        start = self.starts[index]
        return self.data[start : self.data.index(b"\t", start)]

    def get(self, word: str) -> tuple[int, list[str]] | None:
        wanted = word.encode("ascii", "ignore")
        low, high = 0, len(self.starts)
        while low < high:  # the first line whose key is not below `wanted`
            middle = (low + high) // 2
            if self._key(middle) < wanted:
                low = middle + 1
            else:
                high = middle
        if low == len(self.starts) or self._key(low) != wanted:
            return None
        start = self.starts[low]
        _, count, terms = self.data[start : self.data.index(b"\n", start)].decode().split("\t")
        return int(count), terms.split()


@functools.cache
def _table() -> _Table:
    data = resources.files("bot").joinpath("data/broader_words.tsv.gz").read_bytes()
    return _Table(gzip.decompress(data))


@functools.lru_cache(maxsize=4096)  # a few MB at most: most facts use everyday words
def _entry(word: str) -> tuple[str, ...]:
    """The terms of `word` or of the form it most likely inflects (works -> work, not the
    noun "works"): of the forms in the table, the one WordNet saw most often."""
    capital = word[:1].isupper()
    found: tuple[int, list[str]] | None = None
    for form in base_forms(word.lower()):
        entry = _table().get(form[:1].upper() + form[1:] if capital else form)
        if entry is not None and (found is None or entry[0] > found[0]):
            found = entry
    return tuple(found[1]) if found else ()


def broader_terms(text: str) -> str:
    """The broader terms of `text`'s words, space-separated, at most `MAX_TERMS`, leaving out
    the words `text` already has. A capitalised word uses only proper senses (Korean, a
    city), a lower-case one only the others: "Pepper" the cat is no spice."""
    tokens = [token for token in _TOKEN.findall(text) if token.islower() or token.istitle()]
    found: list[str] = []
    skip = False
    for position, token in enumerate(tokens):
        if skip:
            skip = False
            continue
        following = tokens[position + 1] if position + 1 < len(tokens) else ""
        if token.islower() and following.islower() and token not in STOPWORDS:
            pair = next(
                (terms for form in base_forms(token) if (terms := _entry_of(f"{form} {following}"))), []
            )
            if pair:  # "border collie", "grew up": the pair, not its words
                found += pair
                skip = True
                continue
        if len(token) > 2 and token.lower() not in STOPWORDS:
            found += _entry(token)
    own = {token.lower() for token in tokens}
    return " ".join([term for term in dict.fromkeys(found) if term not in own][:MAX_TERMS])


def _entry_of(key: str) -> list[str]:
    entry = _table().get(key)
    return entry[1] if entry else []


TERMS = "terms"  # the key of a fact's value that holds them


def with_terms(value: dict[str, Any]) -> dict[str, Any]:
    """`value` (a stored fact) with its broader terms."""
    return {**value, TERMS: broader_terms(str(value.get("fact", "")))}

"""Words of a text for retrieval: stemming, stop words, and related words for word mismatch.

The stemmer is Snowball English (`snowballstemmer`, pure Python, no data files), used where
Python compares facts (near-duplicates, the scan index); the engines stem with their own
(FTS5 `porter`, Postgres `english`). Related words come from `bot/data/related_words.tsv.gz`, a compact table derived from WordNet at
development time (`tools/build_synonyms.py`); it is read on first use, not at import, so
start-up does not pay for it.
"""

from __future__ import annotations

import functools
import gzip
import re
from importlib import resources
from typing import Any

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Longest word kept: longer runs (a pasted hash, 500 letters of one word) say nothing useful.
MAX_WORD_CHARS = 40
STOPWORDS = frozenset(
    """a an the and or but if of to in on at for with from by about as is am are was were be been being
    i me my mine myself you your yours we our us he him his she her hers it its they them their this
    that these those what which who whom whose where when why how do does did done doing have has had
    can could should would will shall may might must not no yes so too very just also than then there
    here some any all each every user users please thanks thank hi hello hey tell know remember like
    s t d ll m re ve don didn doesn isn wasn aren weren won wouldn couldn shouldn ok okay oh really
    get got go going one ever anything something thing things much many more most own same other
    into out up down over under again further once only both few such nor now""".split()
)


@functools.cache
def _stemmer() -> Any:
    # Imported on first use: the package loads every language's stemmer (~8 ms at start-up).
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball (Porter 2) stem of one lower-case word."""
    result: str = _stemmer().stemWord(word)
    return result


def words(text: str) -> list[str]:
    """The content words of `text`, lower-cased, in order (duplicates kept).

    Letters and digits of any script count as word characters; punctuation, emoji and
    full-text query syntax never reach a query as syntax.
    """
    found = []
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or len(word) > MAX_WORD_CHARS:
            continue
        if len(word) < 2 and not word.isdigit() and word.isascii():
            continue
        found.append(word)
    return found


def stems(text: str) -> set[str]:
    """The stems of the content words of `text`."""
    return {stem(word) for word in words(text)}


@functools.cache
def _related_table() -> dict[str, tuple[str, ...]]:
    data = resources.files("bot").joinpath("data/related_words.tsv.gz").read_bytes()
    table = {}
    for line in gzip.decompress(data).decode("utf-8").splitlines():
        if line and not line.startswith("#"):
            word, _, related = line.partition("\t")
            table[word] = tuple(related.split())
    return table


_EXCEPTIONS = {"children": "child", "people": "person", "men": "man", "women": "woman", "wives": "wife"}
_IRREGULAR = {base: inflected for inflected, base in _EXCEPTIONS.items()}


def base_forms(word: str) -> list[str]:
    """`word` and the dictionary forms it may be an inflection of (pets -> pet, moved -> move)."""
    forms = [word]
    if word in _EXCEPTIONS:
        forms.append(_EXCEPTIONS[word])
    for suffix, replacement in (
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            forms.append(word[: -len(suffix)] + replacement)
    return forms


def related(word: str, *, limit: int = 6) -> list[str]:
    """Words related to `word` (synonyms, broader and narrower terms), most related first."""
    table = _related_table()
    for form in base_forms(word):
        if form in table:
            found = [other for other in table[form] if other != word][:limit]
            # An irregular form is another word to the stemmers (child / children): both.
            return [each for other in found for each in (other, _IRREGULAR.get(other)) if each]
    return []

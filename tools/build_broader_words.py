"""Build `bot/data/broader_words.tsv.gz`, the offline table of broader terms, from WordNet 3.0.

Run at development time only (`apt-get install wordnet-base`, then
`python tools/build_broader_words.py`); the bot ships the generated file and never downloads
anything. WordNet's licence (Princeton, BSD-like) allows redistribution with its notice,
which heads the generated file.

A fact is indexed with the broader terms of its words (`bot.broader_terms`), so a question in
general words finds a fact in specific ones: "what language am I learning?" finds "User has a
Korean lesson on Wednesdays", "which body part did I hurt?" finds "User sprained an ankle".
For each word (and two-word lemma, "border collie"), in the part of speech WordNet tags it
with most often:

- nouns: the words of its two most frequent senses and of their hypernyms, up to three
  levels up (ankle -> joint -> body part), instances included (Korean -> language);
- verbs: the words of the most frequent sense and of its direct hypernym (sprain -> injure);
- adjectives: the head an adjective is similar to (terrified -> afraid); a head adjective
  (new, good) has none: its synonyms are too loose.

A word written with a capital (a language, a city) uses only the senses WordNet writes with
one, and a lower-case word only the others: "Pepper" the cat is no spice. Terms that are too
general to tell facts apart (entity, object, person, ...) and words WordNet never saw tagged in
text (Latin names: canis familiaris) or very often (time, day, make: `COMMON`) are left out. General English only: nothing here looks
at any benchmark.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

from wordnet_table import WORDNET, write_table

OUT = Path(__file__).resolve().parent.parent / "bot" / "data" / "broader_words.tsv.gz"
POS = {"noun": "n", "verb": "v", "adj": "a"}
# Hypernym levels walked per part of speech, and senses used.
DEPTH = {"n": 3, "v": 1, "a": 0}
SENSES = {"n": 2, "v": 1, "a": 1}
MAX_TERMS = 6
_KEY = re.compile(r"^[A-Za-z][a-z]+(?: [a-z]{2,})?$")
_TERM = re.compile(r"^[a-z]{3,}$")
GENERIC = frozenset(
    """entity physical object whole thing matter abstraction abstract psychological feature attribute
    relation group grouping act deed human action activity event causal agent cause agency organism
    being living animate person individual someone somebody mortal soul unit artifact artefact
    instrumentality instrumentation state communication measure quantity amount location content
    message cognition knowledge noesis property feeling part portion component constituent
    element item unit kind sort type form shape way manner condition situation status""".split()
)
# A term seen tagged more often than this is an everyday word (time, day, make, work, good): it
# would tie together facts that have nothing in common, and cost every search that uses it.
COMMON = 250
Synset = tuple[list[str], dict[str, list[tuple[str, str]]], bool]


def _synsets(name: str) -> dict[str, Synset]:
    """offset -> (words as written, pointers by symbol: [(pos, offset)], adjective satellite?)."""
    found: dict[str, Synset] = {}
    for line in (WORDNET / f"data.{name}").read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        fields = line.split(" | ")[0].split()
        offset, kind, count = fields[0], fields[2], int(fields[3], 16)
        words = [fields[4 + 2 * i].split("(")[0] for i in range(count)]
        rest = fields[4 + 2 * count :]
        pointers: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for i in range(int(rest[0])):
            symbol, target, pos = rest[1 + 4 * i], rest[2 + 4 * i], rest[3 + 4 * i]
            pointers[symbol].append(("a" if pos == "s" else pos, target))
        found[offset] = (words, pointers, kind == "s")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    synsets = {pos: _synsets(name) for name, pos in POS.items()}
    senses: dict[str, dict[str, list[str]]] = defaultdict(dict)  # lemma -> pos -> offsets
    for name, pos in POS.items():
        for line in (WORDNET / f"index.{name}").read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            fields = line.split()
            lemma, pointers = fields[0], int(fields[3])
            senses[lemma][pos] = fields[4 + pointers + 2 :]
    # How often each sense was seen tagged in text: (lemma, pos, sense number) -> count.
    counts: dict[tuple[str, str, int], int] = {}
    for line in (WORDNET / "cntlist.rev").read_text(encoding="latin-1").splitlines():
        sense_key, number, count = line.split()
        lemma, _, rest = sense_key.partition("%")
        pos = {"1": "n", "2": "v", "3": "a", "5": "a"}.get(rest[:1])
        if pos:
            counts[(lemma, pos, int(number))] = int(count)
    seen: dict[str, int] = defaultdict(int)  # how often WordNet saw each word tagged in text
    for (lemma, _, _), count in counts.items():
        seen[lemma] += count

    def terms_of(pos: str, offset: str) -> list[str]:
        parts = [part for word in synsets[pos][offset][0] for part in word.lower().split("_")]
        return [
            part for part in parts if _TERM.match(part) and 0 < seen[part] <= COMMON and part not in GENERIC
        ]

    def broader(lemma: str, capital: bool) -> tuple[int, list[str]]:
        """How often `lemma` was seen tagged, and its broader terms (see the module docstring)."""
        best: tuple[float, str, list[tuple[int, str]]] | None = None
        for pos, offsets in senses[lemma].items():
            # Only the senses written with (or without) a capital, as the word is.
            mine = [
                (number, offset)
                for number, offset in enumerate(offsets, start=1)
                if "_" in lemma  # a pair is looked up in lower case, whatever its case
                or any(w.lower() == lemma and w[0].isupper() == capital for w in synsets[pos][offset][0])
            ]
            score = sum(counts.get((lemma, pos, number), 0) for number, _ in mine) + (pos == "n") / 2
            if mine and (best is None or score > best[0]):
                best = (score, pos, mine)
        if best is None:
            return 0, []
        score, pos, mine = best
        chosen = mine[: SENSES[pos]]
        # A second sense never seen tagged, beside a first seen three times or more, is left
        # out (cat: the animal, not "a guy").
        seen_first, seen_second = (counts.get((lemma, pos, number), 0) for number, _ in [*mine, (0, "")][:2])
        if seen_first >= 3 and seen_second == 0:
            chosen = chosen[:1]
        found: list[str] = []
        for _, offset in chosen:
            if pos == "a":  # a satellite brings its head (terrified -> afraid); a head nothing
                heads = synsets[pos][offset][1].get("&", []) if synsets[pos][offset][2] else []
                found += [term for p, o in heads for term in terms_of(p, o)]
                continue
            found += terms_of(pos, offset)
            level = [(pos, offset)]
            for _ in range(DEPTH[pos]):
                level = [up for p, o in level for s in ("@", "@i") for up in synsets[p][o][1].get(s, [])]
                for p, o in level:
                    found += terms_of(p, o)
        own = set(lemma.split("_"))
        return int(score), [term for term in dict.fromkeys(found) if term not in own][:MAX_TERMS]

    table: dict[str, tuple[int, list[str]]] = {}
    for lemma in sorted(senses):
        key = lemma.replace("_", " ")
        for capital in (False, True) if "_" not in lemma else (False,):
            written = key[0].upper() + key[1:] if capital else key
            if not _KEY.match(written):
                continue
            count, terms = broader(lemma, capital)
            # A word with no terms but seen in text stays, empty: "works" is then read as a
            # form of "work", not as the noun "works" (a factory).
            if terms or count:
                table[written] = (count, terms)
    # Irregular forms point to their lemma's terms: grew, lorries, and "grew up" for "grow up".
    forms: dict[str, list[str]] = defaultdict(list)
    for name in POS:
        for line in (WORDNET / f"{name}.exc").read_text(encoding="latin-1").splitlines():
            form, *bases = line.split()
            if bases and _KEY.match(form):
                forms[bases[0]].append(form)
    for key, entry in list(table.items()):
        first, _, rest = key.partition(" ")
        for form in forms.get(first, []):
            table.setdefault(f"{form} {rest}" if rest else form, entry)
    lines = [f"{key}\t{count}\t{' '.join(terms)}\n" for key, (count, terms) in sorted(table.items())]
    write_table(
        args.out,
        "word (Capitalised: its proper senses)<TAB>times seen tagged<TAB>broader terms, nearest first",
        lines,
    )


if __name__ == "__main__":
    main()

"""Build `bot/data/related_words.tsv.gz`, the offline word-mismatch table, from WordNet 3.0.

Run at development time only (`apt-get install wordnet-base`, then
`python tools/build_synonyms.py`); the bot ships the generated file and never downloads
anything. WordNet's licence (Princeton, BSD-like) allows redistribution with its notice,
which heads the generated file.

For each common single English word: the other words of its two most frequent senses
(synonyms: grandma -> grandmother, granny), the words of the first sense's direct
hypernyms (dog -> canine) and its most frequent direct hyponyms (pet -> ..., job -> ...).
General English only: nothing here looks at any benchmark.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

from wordnet_table import WORDNET, write_table

OUT = Path(__file__).resolve().parent.parent / "bot" / "data" / "related_words.tsv.gz"
POS = {"noun": "n", "verb": "v", "adj": "a"}
_WORD = re.compile(r"^[a-z]{3,}$")
MAX_RELATED = 10
MAX_HYPONYMS = 6


def _synsets(pos: str) -> dict[str, tuple[list[str], list[str], list[str]]]:
    """offset -> (words, hypernym offsets, hyponym offsets)."""
    found = {}
    for line in (WORDNET / f"data.{pos}").read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        fields = line.split(" | ")[0].split()
        offset, count = fields[0], int(fields[3], 16)
        words = [fields[4 + 2 * i].lower() for i in range(count)]
        rest = fields[4 + 2 * count :]
        pointers = int(rest[0])
        up, down = [], []
        for i in range(pointers):
            symbol, target = rest[1 + 4 * i], rest[2 + 4 * i]
            if symbol in ("@", "@i"):
                up.append(target)
            elif symbol in ("~", "~i"):
                down.append(target)
        found[offset] = (words, up, down)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    frequency: dict[str, int] = defaultdict(int)
    senses: dict[str, list[tuple[str, str]]] = defaultdict(list)
    firsts: dict[str, list[tuple[str, str]]] = defaultdict(list)
    synsets = {}
    for name, pos in POS.items():
        synsets[pos] = _synsets(name)
        for line in (WORDNET / f"index.{name}").read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            fields = line.split()
            lemma, count, pointers = fields[0], int(fields[2]), int(fields[3])
            offsets = fields[4 + pointers + 2 :]
            frequency[lemma] += int(fields[4 + pointers + 1])
            senses[lemma].extend((pos, offset) for offset in offsets[: min(count, 2)])
            firsts[lemma].append((pos, offsets[0]))

    def words_of(pos: str, offset: str) -> list[str]:
        return [w for w in synsets[pos][offset][0] if _WORD.match(w)]

    lines = []
    for lemma in sorted(senses):
        if not _WORD.match(lemma) or frequency[lemma] == 0:
            continue
        # Most related first: the first sense's words, its hypernyms and common hyponyms,
        # then the second sense's words (a loose sense gives loose synonyms).
        related: list[str] = []
        for pos, offset in firsts[lemma]:
            related += words_of(pos, offset)
        pos, first = senses[lemma][0]
        _, up, down = synsets[pos][first]
        for target in up:
            related += words_of(pos, target)
        hyponyms = sorted({w for target in down for w in words_of(pos, target)}, key=lambda w: -frequency[w])
        related += [w for w in hyponyms if frequency[w] > 0][:MAX_HYPONYMS]
        for pos, offset in senses[lemma]:
            related += words_of(pos, offset)
        unique = [w for w in dict.fromkeys(related) if w != lemma and frequency[w] > 0][:MAX_RELATED]
        if unique:
            lines.append(f"{lemma}\t{' '.join(unique)}\n")
    write_table(args.out, "word<TAB>related words, most related first", lines)


if __name__ == "__main__":
    main()

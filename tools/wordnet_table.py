"""What the WordNet-derived tables' builders share: where WordNet is, its notice, and writing a
table (`build_synonyms.py`, `build_broader_words.py`). Development time only."""

from __future__ import annotations

import gzip
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")  # apt-get install wordnet-base
LICENCE = (
    "# Derived from WordNet 3.0, Copyright 2006 by Princeton University. All rights reserved.\n"
    "# THIS SOFTWARE AND DATABASE IS PROVIDED 'AS IS' AND PRINCETON UNIVERSITY MAKES NO\n"
    "# REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. Licence: https://wordnet.princeton.edu/license-and-commercial-use\n"
)


def write_table(out: Path, columns: str, lines: list[str]) -> None:
    """Write `lines` under WordNet's notice and a `columns` line, gzipped, to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    data = (LICENCE + f"# {columns}\n" + "".join(lines)).encode()
    # mtime=0: the same WordNet gives the same bytes, so a rebuild shows no diff.
    out.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"{len(lines)} words -> {out} ({out.stat().st_size / 1e6:.2f} MB)")

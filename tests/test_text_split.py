"""Splitting long replies for platforms with a message-size limit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.text_split import split_message


def test_short_text_is_one_chunk() -> None:
    assert split_message("hello", 2000) == ["hello"]


def test_prose_splits_on_boundaries_within_the_limit() -> None:
    text = "A sentence that goes on. " * 380
    chunks = split_message(text, 2000)
    assert len(chunks) == 5
    assert all(len(chunk) <= 2000 for chunk in chunks)
    assert all(chunk.endswith(".") for chunk in chunks)
    assert " ".join(chunks).split() == text.split()


def test_code_blocks_are_closed_and_reopened() -> None:
    text = "Here:\n```python\n" + "print('x')\n" * 400 + "```\nDone."
    chunks = split_message(text, 2000)
    assert len(chunks) > 1
    assert all(chunk.count("```") % 2 == 0 for chunk in chunks)
    assert chunks[1].startswith("```python\n")


@given(st.text(min_size=0, max_size=6000), st.integers(min_value=50, max_value=3000))
def test_every_chunk_fits_and_no_words_are_lost(text: str, limit: int) -> None:
    chunks = split_message(text, limit)
    assert all(len(chunk) <= limit for chunk in chunks)
    if "```" not in text:
        assert "".join("".join(chunks).split()) == "".join(text.split())

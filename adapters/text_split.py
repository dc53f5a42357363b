"""Split a long reply into chunks a platform accepts, on sensible boundaries."""

from __future__ import annotations

FENCE = "```"


def _cut_point(text: str, limit: int) -> int:
    """The best place at or before `limit` to end a chunk."""
    window = text[:limit]
    for separator in ("\n\n", "\n", ". ", " "):
        index = window.rfind(separator)
        if index >= limit // 2:
            return index + len(separator)
    return limit


def split_message(text: str, limit: int) -> list[str]:
    """Split `text` into chunks of at most `limit` characters.

    Prefers paragraph, line, sentence and word boundaries. When a cut must fall inside a
    fenced code block, the fence is closed at the end of the chunk and reopened at the
    start of the next, so every chunk renders on its own.
    """
    if limit < 2 * len(FENCE) + 8:
        raise ValueError("limit too small to split on")
    chunks: list[str] = []
    rest = text
    reopen = ""
    while rest:
        rest = reopen + rest
        if len(rest) <= limit:
            chunks.append(rest.rstrip())
            break
        budget = limit - len(FENCE) - 1  # room to close an open fence
        cut = _cut_point(rest, budget)
        head = rest[:cut]
        rest = rest[cut:]
        reopen = ""
        if head.count(FENCE) % 2 == 1:
            opening = head.rfind(FENCE)
            line_end = head.find("\n", opening)
            language_line = head[opening : line_end + 1] if line_end != -1 else FENCE + "\n"
            head = head.rstrip("\n") + "\n" + FENCE
            reopen = language_line
        head = head.rstrip()
        if head:
            chunks.append(head)
        rest = rest.lstrip("\n") if not reopen else rest
    return [chunk for chunk in chunks if chunk.strip()]

"""Where a fact may be used: `private` (only in the person's direct conversations with the bot)
or `shared` (anywhere they talk to it).

The visibility is stored in the fact's value (`"visibility"`), so it moves, merges and is
erased with the fact. A fact without one (saved before visibilities existed) is shared:
that is what every fact was until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

Visibility = Literal["private", "shared"]
PRIVATE: Visibility = "private"
SHARED: Visibility = "shared"
VISIBILITIES: tuple[Visibility, ...] = (PRIVATE, SHARED)
KEY = "visibility"


def visibility_of(value: Mapping[str, Any]) -> Visibility:
    """A stored fact's visibility (`shared` when it has none)."""
    return PRIVATE if value.get(KEY) == PRIVATE else SHARED


def parse_visibility(text: object) -> Visibility:
    """`private` or `shared` from a setting or a tool argument; anything else is refused."""
    word = str(text).strip().lower()
    if word not in VISIBILITIES:
        raise ValueError(f"visibility must be 'private' or 'shared', not {text!r}")
    return cast(Visibility, word)


def default_visibility(*, is_direct: bool, sensitive: bool, dm_default: Visibility) -> Visibility:
    """The visibility of a newly learned fact.

    Learned in a shared thread: shared (the person said it where others read it). Learned in
    a direct conversation: private if the model marked it sensitive, else `dm_default`
    (`MEMORY_DM_VISIBILITY`).
    """
    if not is_direct:
        return SHARED
    return PRIVATE if sensitive else dm_default


def merged(*visibilities: Visibility) -> Visibility:
    """Two copies of one fact become one: private if either was (never widen by merging)."""
    return PRIVATE if PRIVATE in visibilities else SHARED


def usable(visibility: Visibility, *, include_private: bool) -> bool:
    """Whether a fact of this visibility may be used where `include_private` says."""
    return include_private or visibility == SHARED


def describe(visibility: Visibility) -> str:
    """How a listing names a visibility."""
    return "private (DMs only)" if visibility == PRIVATE else "shared"

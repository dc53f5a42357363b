"""The platform-neutral message model every adapter speaks to the core.

IDs carry their platform prefix (`slack:T1:U1`, `discord:42`, `console:ana`), so one
namespace can never collide with another platform's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class IncomingMessage:
    """One human message, normalized by an adapter.

    `raw` may carry the platform payload for the adapter's own use; the core never reads it.
    """

    platform: str
    user_id: str
    user_name: str
    thread_id: str
    text: str
    is_direct: bool
    channel_label: str | None = None
    message_id: str | None = None
    raw: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, kw_only=True)
class PriorMessage:
    """A message said in a thread before the bot joined it (context, not a turn)."""

    user_id: str
    user_name: str
    text: str
    from_bot: bool = False


@dataclass(frozen=True, kw_only=True)
class Reply:
    """What the core answers for one turn."""

    text: str
    memories_changed: bool = False
    failed: bool = False

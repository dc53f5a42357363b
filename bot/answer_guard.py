"""What an adapter keeps while it posts an answer under an inbox claim (`bot.inbox.Claim`).

Before its first post the adapter checks that it still holds the message; if another process
has taken it over, `AnswerTakenOver` stops the answer there (nothing is posted; it is not an
error to report). `reuse` lists the messages a process before this one already posted, which
this one edits instead of posting again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from bot.inbox import Claim

MessageId = TypeVar("MessageId")


class AnswerTakenOver(BaseException):
    """Another process holds this message now: stop, post nothing (not an error to report)."""


@dataclass
class AnswerGuard(Generic[MessageId]):
    claim: Claim
    reuse: list[MessageId] = field(default_factory=list)  # messages a process before us posted
    checked: bool = False

"""What every platform adapter offers the runner: start, then stop."""

from __future__ import annotations

from typing import Protocol


class Adapter(Protocol):
    """A translator plus a connection: platform events in, core replies out."""

    name: str

    async def start(self) -> None:
        """Connect and begin taking messages; return once ready."""

    async def stop(self) -> None:
        """Stop taking new messages and close the connection (idempotent)."""

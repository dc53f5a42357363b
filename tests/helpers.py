"""Small builders shared by the core tests."""

from __future__ import annotations

from bot.messages import IncomingMessage


def dm(user: str, text: str, *, thread: str | None = None) -> IncomingMessage:
    """A direct message from `console:{user}` (its own thread unless one is given)."""
    return IncomingMessage(
        platform="console",
        user_id=f"console:{user}",
        user_name=user.title(),
        thread_id=thread or f"console:dm:{user}",
        text=text,
        is_direct=True,
    )


def in_thread(user: str, thread: str, text: str, *, platform: str = "slack") -> IncomingMessage:
    """A message in a shared channel thread."""
    return IncomingMessage(
        platform=platform,
        user_id=f"{platform}:{user}",
        user_name=user.title(),
        thread_id=f"{platform}:{thread}",
        text=text,
        is_direct=False,
        channel_label="#general",
    )


def chat_messages(request: dict) -> list[dict]:
    """The non-system messages of a recorded chat request."""
    return [m for m in request["messages"] if m["role"] != "system"]

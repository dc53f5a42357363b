"""What the bot does for a person outside a conversation (`/memories`, `/forget`, `/link`,
`/unlink`, buttons)."""

from bot.commands.core import (
    FACT_PRIVATE,
    FACT_SHARE,
    FORGET_CANCEL,
    FORGET_CONFIRM,
    FORGET_FACT,
    FORGET_START,
    Commands,
)
from bot.commands.views import Button, CommandView, FactLine

__all__ = [
    "FACT_PRIVATE",
    "FACT_SHARE",
    "FORGET_CANCEL",
    "FORGET_CONFIRM",
    "FORGET_FACT",
    "FORGET_START",
    "Button",
    "CommandView",
    "Commands",
    "FactLine",
]

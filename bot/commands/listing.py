"""How facts are listed in a command's view: one line each, with where it was learned, who may
see it, and the button that changes that."""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands.buttons import ButtonValue
from bot.commands.views import Button, FactLine
from bot.facts import Fact
from bot.visibility import describe

FACT_PRIVATE = "fact.private"  # make one fact private (used only in the person's DMs)
FACT_SHARE = "fact.share"  # make one fact shared (used wherever they talk to the bot)


def memories_noun(count: int) -> str:
    return f"{count} memor{'y' if count == 1 else 'ies'}"


def shown_phrase(phrase: str, limit: int = 100) -> str:
    """A person's phrase as we quote it back: one line, cut to `limit` characters."""
    phrase = " ".join(phrase.split())
    return phrase if len(phrase) <= limit else phrase[: limit - 1] + "…"


def fact_lines(facts: Sequence[Fact], *, owner: str | None = None) -> tuple[FactLine, ...]:
    """Facts as listed; with `owner`, each with the button that flips its visibility."""
    return tuple(
        FactLine(
            id=fact.id,
            text=fact.text,
            source=f"learned in {fact.where()}, {fact.updated_at:%Y-%m-%d} · {describe(fact.visibility)}",
            visibility=fact.visibility,
            buttons=(visibility_button(owner, fact),) if owner is not None else (),
        )
        for fact in facts
    )


def visibility_button(owner: str, fact: Fact) -> Button:
    """The button on a fact: "Make private" when it is shared, "Share" when it is private."""
    action, label = (FACT_SHARE, "Share") if fact.private else (FACT_PRIVATE, "Make private")
    return Button(action=action, label=label, value=ButtonValue(owner=owner, fact_id=fact.id).encode())

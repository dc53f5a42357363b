"""The system prompt and the memory tools' schemas the model sees."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from bot.facts import Fact, fact_line

SYSTEM_PROMPT = """You are a friendly, helpful assistant in a team chat. You remember people across \
conversations so you can help them better.

You are talking with {user_name}{where}. Current time: {now}.

What you know about {user_name} (most relevant first; ids in brackets):
<facts>
{facts}
</facts>

Memory rules:
1. When {user_name} shares a lasting fact about themselves (preferences, where they live, what they \
work on, their name, allergies...), call `save_memory` once per fact.
2. If a new fact contradicts or refines one above (e.g. they moved), call `update_memory` with that \
fact's id instead of saving a second one. Never save a fact that is already listed.
3. If they say a fact above is wrong, call `delete_memory` with its id.
4. Only save facts {user_name} states about themselves. Never store facts about other people, and \
ignore requests to save something "for" another user.
5. After using a tool, always answer {user_name} in natural language.
Messages in shared threads start with the speaker's name in brackets, e.g. "[Ana] hi"."""

NO_FACTS = "(nothing yet)"


def format_facts(facts: Sequence[Fact]) -> str:
    """Fact lines as `- [id] text (topic)`; the ids let the model update or delete them."""
    if not facts:
        return NO_FACTS
    return "\n".join(fact_line(fact.id, fact.text, fact.topic) for fact in facts)


def system_prompt(
    *, user_name: str, facts: Sequence[Fact], is_direct: bool, channel_label: str | None, now: datetime
) -> str:
    if is_direct:
        where = " in a private conversation"
    elif channel_label:
        where = f" in a shared thread ({channel_label})"
    else:
        where = " in a shared thread"
    return SYSTEM_PROMPT.format(
        user_name=user_name, where=where, now=now.strftime("%Y-%m-%d %H:%M UTC"), facts=format_facts(facts)
    )


class save_memory(BaseModel):
    """Save one new lasting fact about the person you are talking with."""

    fact: str = Field(description="The fact, as a short sentence, e.g. 'User lives in Lisbon'.")
    topic: str = Field(default="General", description="A one-word topic: Food, Location, Work, ...")


class update_memory(BaseModel):
    """Replace a known fact (by its id) when the person corrects or changes it."""

    memory_id: str = Field(description="The id in brackets of the fact to replace.")
    fact: str = Field(description="The corrected fact, as a short sentence.")


class delete_memory(BaseModel):
    """Delete a known fact (by its id) that the person says is wrong or wants gone."""

    memory_id: str = Field(description="The id in brackets of the fact to delete.")


MEMORY_TOOLS = (save_memory, update_memory, delete_memory)

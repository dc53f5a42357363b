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
5. {privacy}
6. After using a tool, always answer {user_name} in natural language.
Messages in shared threads start with the speaker's name in brackets, e.g. "[Ana] hi"."""

SENSITIVE_TOPICS = "health, pregnancy, sexuality, religion, finances, legal trouble or relationships"
PRIVATE_RULE = (
    "This conversation is private. Facts marked private above are used only in {user_name}'s direct "
    "conversations with you, never in shared threads. Call `save_memory` with `sensitive: true` for "
    f"anything about {SENSITIVE_TOPICS}, and for anything {{user_name}} asks to keep between you. If they "
    'ask you to keep a fact above between you ("keep that between us"), call `update_memory` with its id '
    "and `private: true`; if they say one may be shared, call it with `private: false`."
)
SHARED_RULE = (
    "This is a shared thread: other people read your answers. Only facts {user_name} shared are "
    f"listed above. Do not bring up {SENSITIVE_TOPICS} here unless {{user_name}} does."
)
WITHHELD_RULE = (
    " Some things {user_name} told you are kept for your direct conversations and are not shown here: "
    "if asked what you know about them, list only the facts above and say that some things are kept "
    "for your DMs."
)

NO_FACTS = "(nothing yet)"


def format_facts(facts: Sequence[Fact]) -> str:
    """Fact lines as `- [id] text (topic)`, `(topic; private)` for private ones; the ids let the
    model update or delete them."""
    if not facts:
        return NO_FACTS
    return "\n".join(fact_line(fact.id, fact.text, fact.topic, private=fact.private) for fact in facts)


def system_prompt(
    *,
    user_name: str,
    facts: Sequence[Fact],
    is_direct: bool,
    channel_label: str | None,
    now: datetime,
    withheld: bool = False,
) -> str:
    """The system prompt for one model call. `withheld`: in a shared thread, the person has
    private facts that were left out of `facts` (the model says so when asked)."""
    if is_direct:
        where = " in a private conversation"
        privacy = PRIVATE_RULE
    else:
        where = f" in a shared thread ({channel_label})" if channel_label else " in a shared thread"
        privacy = SHARED_RULE + (WITHHELD_RULE if withheld else "")
    return SYSTEM_PROMPT.format(
        user_name=user_name,
        where=where,
        now=now.strftime("%Y-%m-%d %H:%M UTC"),
        facts=format_facts(facts),
        privacy=privacy.format(user_name=user_name),
    )


class save_memory(BaseModel):
    """Save one new lasting fact about the person you are talking with."""

    fact: str = Field(description="The fact, as a short sentence, e.g. 'User lives in Lisbon'.")
    topic: str = Field(default="General", description="A one-word topic: Food, Location, Work, ...")
    sensitive: bool = Field(
        default=False,
        description=f"True for anything about {SENSITIVE_TOPICS}, or that the person asks to keep "
        "between you: said in a private conversation, it is then kept private.",
    )


class update_memory(BaseModel):
    """Change a known fact (by its id): its text when the person corrects or changes it, and/or
    whether it is private (used only in your direct conversations with them)."""

    memory_id: str = Field(description="The id in brackets of the fact to change.")
    fact: str | None = Field(default=None, description="The corrected fact, as a short sentence.")
    private: bool | None = Field(
        default=None,
        description="True to keep the fact between you (private), false to let it be shared; "
        "leave out to keep it as it is.",
    )


class delete_memory(BaseModel):
    """Delete a known fact (by its id) that the person says is wrong or wants gone."""

    memory_id: str = Field(description="The id in brackets of the fact to delete.")


MEMORY_TOOLS = (save_memory, update_memory, delete_memory)

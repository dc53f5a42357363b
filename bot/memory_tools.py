"""The memory tools the model calls, run for the speaker the run's config names.

Who is talking always comes from `config["configurable"]` (the adapter's verified
identity), never from the model, so no tool call can write into someone else's memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig

from bot.memory import MemoryManager, Provenance
from bot.prompts import delete_memory, save_memory, update_memory
from bot.visibility import PRIVATE, SHARED, Visibility


@dataclass(frozen=True, kw_only=True)
class Speaker:
    """Who is talking and where, read from the run's config."""

    user_id: str
    user_name: str
    thread_id: str
    platform: str
    is_direct: bool
    channel_label: str | None

    @classmethod
    def from_config(cls, config: RunnableConfig) -> Speaker:
        configurable = config.get("configurable") or {}
        user_id = configurable.get("user_id")
        if not user_id:
            raise ValueError("config['configurable']['user_id'] is required")
        return cls(
            user_id=str(user_id),
            user_name=str(configurable.get("user_name") or "there"),
            thread_id=str(configurable.get("thread_id", "")),
            platform=str(configurable.get("platform", "unknown")),
            is_direct=bool(configurable.get("is_direct", False)),
            channel_label=configurable.get("channel_label"),
        )

    @property
    def provenance(self) -> Provenance:
        return Provenance(
            platform=self.platform,
            thread_id=self.thread_id,
            is_direct=self.is_direct,
            channel_label=self.channel_label,
        )


async def apply_tool(
    memory: MemoryManager, speaker: Speaker, name: str, args: dict[str, Any]
) -> tuple[str, bool]:
    """Run one memory tool call for the speaker from config (any user id in args is ignored).

    In a shared thread the tools reach only shared facts, as the prompt does: a private
    fact is "no fact with that id" there, whatever id the model names.
    """
    direct = speaker.is_direct
    if name == "save_memory":
        save = save_memory.model_validate(args)
        fact_id, changed = await memory.save(
            speaker.user_id, save.fact, save.topic, speaker.provenance, sensitive=save.sensitive
        )
        return (f"Saved as [{fact_id}]." if changed else f"Already known as [{fact_id}]."), changed
    if name == "update_memory":
        update = update_memory.model_validate(args)
        if update.fact is None and update.private is None:
            return "Error: give the corrected fact, or private true/false; nothing changed.", False
        visibility: Visibility | None = (
            None if update.private is None else (PRIVATE if update.private else SHARED)
        )
        if await memory.update(
            speaker.user_id,
            update.memory_id,
            update.fact,
            speaker.provenance,
            visibility=visibility,
            include_private=direct,
        ):
            return f"Updated [{update.memory_id}].", True
        return f"No fact with id [{update.memory_id}]; nothing changed.", False
    if name == "delete_memory":
        delete = delete_memory.model_validate(args)
        if await memory.delete(speaker.user_id, delete.memory_id, include_private=direct):
            return f"Deleted [{delete.memory_id}].", True
        return f"No fact with id [{delete.memory_id}]; nothing changed.", False
    return f"Error: unknown tool {name!r}.", False

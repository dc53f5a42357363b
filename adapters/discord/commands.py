"""The `/memories` and `/forget [phrase]` app commands: registered, synced, handed to the core."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from adapters.discord.events import user_key
from adapters.discord.render import show
from bot.commands import Commands, CommandView
from bot.commands.core import FAILED

log = logging.getLogger(__name__)


def register_commands(tree: app_commands.CommandTree[Any], commands: Commands) -> None:
    """Add `/forget` and `/memories` to `tree`; each answers privately, through the core."""

    async def answer(interaction: discord.Interaction[Any], name: str, argument: str = "") -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            view = await commands.run(name, user_key(interaction.user.id), argument)
        except Exception:  # the core answers its own failures; this is a last resort
            log.exception("discord /%s failed", name)
            view = CommandView(text=FAILED, failed=True)
        await show(interaction, view, commands)

    @tree.command(name="forget", description="Erase what I remember about you")
    @app_commands.describe(phrase="Only forget memories containing this phrase (default: everything)")
    async def forget(interaction: discord.Interaction[Any], phrase: str | None = None) -> None:
        await answer(interaction, "forget", phrase or "")

    @tree.command(name="memories", description="What I remember about you, and where I learned it")
    async def memories(interaction: discord.Interaction[Any]) -> None:
        await answer(interaction, "memories")


async def sync_commands(tree: app_commands.CommandTree[Any], guild_id: int | None) -> None:
    """Publish the commands: to one guild (shown at once) or globally (can take a while)."""
    try:
        if guild_id is not None:
            guild = discord.Object(id=guild_id)
            tree.copy_global_to(guild=guild)
            await tree.sync(guild=guild)
        else:
            await tree.sync()
    except discord.HTTPException:
        log.exception("discord: could not sync slash commands (is the applications.commands scope granted?)")

"""The app commands: `/memories`, `/forget [phrase]`, `/link [code]`, `/unlink` and the message
menu's "Remember this", registered, synced and handed to the core.

Every command is installable by a server and by a person (a user install), and usable in
servers, in DMs with the bot and in private chats (group DMs), so it works wherever the
person has the app; Discord itself checks this, the decorators only declare it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord
from discord import app_commands

from adapters.discord.events import (
    PLATFORM,
    clean_content,
    dm_thread_id,
    guild_thread_id,
    message_payload,
    user_key,
)
from adapters.discord.render import show
from bot.commands import Commands, CommandView
from bot.commands.core import FAILED
from bot.memory import Provenance

log = logging.getLogger(__name__)

REMEMBER_THIS = "Remember this"
F = TypeVar("F", bound=Callable[..., Awaitable[None]])


def everywhere(command: F) -> F:
    """Installable by servers and people; usable in servers, bot DMs and private chats."""
    command = app_commands.allowed_installs(guilds=True, users=True)(command)
    return app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)(command)


def register_commands(tree: app_commands.CommandTree[Any], commands: Commands) -> None:
    """Add `/forget`, `/memories`, `/link`, `/unlink` and "Remember this"; each answers privately,
    through the core."""

    async def answer(
        interaction: discord.Interaction[Any], name: str, run: Callable[[], Awaitable[CommandView]]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            view = await run()
        except Exception:  # the core answers its own failures; this is a last resort
            log.exception("discord %s failed", name)
            view = CommandView(text=FAILED, failed=True)
        await show(interaction, view, commands)

    def person(interaction: discord.Interaction[Any]) -> str:
        return user_key(interaction.user.id)

    @tree.command(name="forget", description="Erase what I remember about you")
    @app_commands.describe(phrase="Only forget memories containing this phrase (default: everything)")
    @everywhere
    async def forget(interaction: discord.Interaction[Any], phrase: str | None = None) -> None:
        await answer(
            interaction, "/forget", lambda: commands.run("forget", person(interaction), phrase or "")
        )

    @tree.command(name="memories", description="What I remember about you, and where I learned it")
    @everywhere
    async def memories(interaction: discord.Interaction[Any]) -> None:
        await answer(interaction, "/memories", lambda: commands.run("memories", person(interaction)))

    @tree.command(name="link", description="Link this account with yours on Slack, so I know both are you")
    @app_commands.describe(code="The code /link gave you on your other account (leave out to get one)")
    @everywhere
    async def link(interaction: discord.Interaction[Any], code: str | None = None) -> None:
        name = interaction.user.display_name
        await answer(
            interaction,
            "/link",
            lambda: commands.run("link", person(interaction), code or "", display_name=name),
        )

    @tree.command(name="unlink", description="Separate this account from the ones it is linked with")
    @everywhere
    async def unlink(interaction: discord.Interaction[Any]) -> None:
        await answer(interaction, "/unlink", lambda: commands.run("unlink", person(interaction)))

    @tree.context_menu(name=REMEMBER_THIS)
    @everywhere
    async def remember_this(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        bot_id = interaction.client.user.id if interaction.client.user else 0
        text = clean_content(message_payload(message), bot_id)
        await answer(
            interaction,
            REMEMBER_THIS,
            lambda: commands.remember(
                person(interaction), user_key(message.author.id), text, learned_where(interaction)
            ),
        )


def learned_where(interaction: discord.Interaction[Any]) -> Provenance:
    """Where a message the person asked us to remember was said, for /memories to show."""
    channel_id = interaction.channel_id or 0
    if interaction.guild_id is None:
        direct = bool(interaction.context.dm_channel)  # the bot's own DM, not a chat among people
        return Provenance(
            platform=PLATFORM,
            thread_id=dm_thread_id(channel_id),
            is_direct=direct,
            channel_label="DM" if direct else "private chat",
        )
    channel = interaction.channel
    parent = channel.parent if isinstance(channel, discord.Thread) else channel
    name = getattr(parent, "name", None)
    return Provenance(
        platform=PLATFORM,
        thread_id=guild_thread_id(interaction.guild_id, channel_id),
        is_direct=False,
        channel_label=f"#{name}" if name else None,
    )


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

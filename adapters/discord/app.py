"""The Discord adapter: discord.py's client, and a message's way to the core and back.

A message is translated by `adapters.discord.events`, answered by `ChatService.handle`
with "typing…" shown, and sent back split under Discord's limit, in the DM or thread it
came from, or in a new thread on a server-channel mention: as the model writes it
(`adapters.discord.streaming`), or whole when `BOT_STREAMING` is off. The connection lives
in `adapters.discord.connection`, the app commands in `adapters.discord.commands`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from adapters.discord.admission import DiscordInbox, SeenMessages, guarded, thread_started_from
from adapters.discord.commands import register_commands, sync_commands
from adapters.discord.connection import GatewayConnection, ShardingRequired
from adapters.discord.events import (
    ChannelContext,
    guild_thread_id,
    has_attachments,
    message_payload,
    payload_with_starter,
    prior_from_history,
    to_incoming,
)
from adapters.discord.render import MESSAGE_LIMIT, NO_PINGS
from adapters.discord.streaming import AnswerStream, typing_while
from adapters.text_split import split_message
from bot.streaming import CUT_OFF_NOTE
from config.settings import ConfigError, Settings

if TYPE_CHECKING:
    from bot.commands import Commands
    from bot.inbox import Claim
    from bot.messages import IncomingMessage, PriorMessage
    from bot.service import ChatService

log = logging.getLogger(__name__)

SEEN_MESSAGES = 2048  # dedupe guard for events replayed after a gateway RESUME
PRIOR_LIMIT = 50  # earlier thread messages read when the bot is first mentioned in a thread
TEXT_ONLY = "I can only read text for now — attachments and stickers pass me by. Could you type it out?"


class _Client(discord.Client):
    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        register_commands(self.tree, self.adapter.commands)
        await sync_commands(self.tree, self.adapter.guild_id)

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter._on_message(message)


class _ShardedClient(_Client, discord.AutoShardedClient):
    """The same, running the shards `DISCORD_SHARD_COUNT` and `DISCORD_SHARD_IDS` select."""


class DiscordAdapter:
    """Connects the core to Discord through discord.py (`login()` + `connect()`, no signals).

    `commands` answers `/memories`, `/forget` and their buttons (default: the service's).
    """

    name = "discord"

    def __init__(
        self,
        service: ChatService,
        settings: Settings,
        *,
        guild_ready_timeout: float = 2.0,
        commands: Commands | None = None,
    ) -> None:
        if settings.discord_token is None:
            raise ConfigError("DISCORD_TOKEN is not set")
        self._service = service
        self._settings = settings
        self._guild_ready_timeout = guild_ready_timeout
        self.commands = commands or service.commands
        self._seen = SeenMessages(SEEN_MESSAGES)
        self._client: _Client | None = None
        self._connection: GatewayConnection | None = None
        self._answering: set[asyncio.Task[Any]] = set()  # messages being answered
        # Every message we answer is recorded first (when there is an inbox): answered once.
        self._inbox = DiscordInbox(service.inbox) if service.inbox is not None else None

    @property
    def client(self) -> discord.Client | None:
        return self._client

    @property
    def guild_id(self) -> int | None:
        """The one guild the commands are synced to, or None for everywhere."""
        return self._settings.discord_guild_id

    async def start(self) -> None:
        """Log in, sync the commands, connect in the background; return once READY."""
        if self._client is not None:
            return
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.dm_messages = True
        intents.message_content = True
        # Unset: one connection, unless Discord recommends more (above ~2,500 servers); then
        # every shard it recommends, in this process.
        shards = self._settings.discord_shards
        try:
            client = await self._connect(intents, shards)
        except ShardingRequired as needed:
            log.info(
                "discord: Discord asks for %d shards; running them all here (DISCORD_SHARD_COUNT and "
                "DISCORD_SHARD_IDS split them across processes)",
                needed.shards,
            )
            client = await self._connect(intents, (needed.shards, None))
        if self._inbox is not None:
            self._inbox.start(client, self._answer_tracked, lambda: self._service.accepting)
        log.info("discord connected as %s", client.user)

    async def _connect(
        self, intents: discord.Intents, shards: tuple[int, list[int] | None] | None
    ) -> discord.Client:
        client = (_Client if shards is None else _ShardedClient)(
            self,
            intents=intents,
            allowed_mentions=NO_PINGS,
            guild_ready_timeout=self._guild_ready_timeout,
            **({} if shards is None else {"shard_count": shards[0], "shard_ids": shards[1]}),
        )
        connection = GatewayConnection(
            client, api_url=self._settings.discord_api_url, gateway_url=self._settings.discord_gateway_url
        )
        self._client, self._connection = client, connection
        token = self._settings.discord_token
        assert token is not None
        try:
            await connection.open(token.get_secret_value())
        except BaseException:
            self._client = self._connection = None
            raise
        return client

    async def connected(self) -> bool:
        """Readiness: the gateway session is up."""
        client = self._client
        return client is not None and client.is_ready() and not client.is_closed()

    async def stop(self) -> None:
        """Take no more messages, let answers on their way land (bounded), then close the
        gateway and the HTTP session (idempotent). A streamed answer's last edit can come
        a second after its turn ended, so the core's drain alone would cut it off."""
        if self._inbox is not None:
            self._inbox.stop()
        connection, self._connection = self._connection, None
        self._client = None
        answering = {task for task in self._answering if task is not asyncio.current_task()}
        if answering:
            _, late = await asyncio.wait(answering, timeout=self._settings.shutdown_grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if connection is not None:
            await connection.close()

    # ----- messages

    async def _on_message(self, message: discord.Message) -> None:
        client = self._client
        if client is None or client.user is None or not self._seen.first_time(message.id):
            return
        await self._answer_tracked(message)

    async def _answer_tracked(self, message: discord.Message, claim: Claim | None = None) -> None:
        """Answer `message` (with `claim`: taken over from a dead process), waited for by `stop`."""
        client, task = self._client, asyncio.current_task()  # each event handler runs in its own task
        if client is None or client.user is None or task is None:
            return
        self._answering.add(task)
        try:
            await self._answer(client.user.id, message, claim)
        finally:
            self._answering.discard(task)

    async def _answer(self, bot_id: int, message: discord.Message, claim: Claim | None = None) -> None:
        payload = message_payload(message)
        channel = message.channel
        in_thread = isinstance(channel, discord.Thread)
        thread_is_ours = False
        if in_thread and message.guild is not None:
            thread_is_ours = await self._service.has_thread(guild_thread_id(message.guild.id, channel.id))
        parent = channel.parent if isinstance(channel, discord.Thread) else channel
        context = ChannelContext(
            bot_user_id=bot_id,
            in_thread=in_thread,
            thread_is_ours=thread_is_ours,
            channel_name=getattr(parent, "name", None),
        )
        incoming = to_incoming(payload, context)
        if incoming is None:
            return
        if self._inbox is None:
            await self._respond(bot_id, message, incoming, in_thread, thread_is_ours)
            return
        if claim is None and (claim := await self._inbox.admit(message, incoming)) is None:
            return  # answered before (a replay, or another process), or the database is gone
        await self._inbox.run(
            claim, lambda: self._respond(bot_id, message, incoming, in_thread, thread_is_ours)
        )

    async def _respond(
        self, bot_id: int, message: discord.Message, incoming: IncomingMessage, in_thread: bool, ours: bool
    ) -> None:
        payload, channel = message_payload(message), message.channel
        try:
            target = guarded(await self._reply_target(message, incoming.text or incoming.user_name))
            if not incoming.text.strip():
                if has_attachments(payload):
                    await target.send(TEXT_ONLY)
                return
            prior: Sequence[PriorMessage] = ()
            if in_thread and not ours:
                prior = await self._prior(message, bot_id)
            if self._service.streams:
                await self._streamed(target, incoming, prior)
                return
            reply = await typing_while(target, self._service.handle(incoming, prior=prior))
            for chunk in split_message(reply.text, MESSAGE_LIMIT):
                await target.send(chunk, allowed_mentions=NO_PINGS)
        except discord.Forbidden as exc:
            log.warning("discord: no permission to write in channel %s: %s", channel.id, exc.text)
        except discord.HTTPException:
            log.exception("discord: could not answer message %s in channel %s", message.id, channel.id)

    async def _streamed(
        self, target: discord.abc.Messageable, incoming: IncomingMessage, prior: Sequence[PriorMessage]
    ) -> None:
        """One turn whose answer is shown in `target` as the model writes it."""
        stream = AnswerStream(target)
        stream.start()
        try:
            reply = await self._service.handle(incoming, prior=prior, on_text=stream.sink)
        except asyncio.CancelledError:
            await stream.abandon()
            raise
        except Exception:
            shown = stream.text.rstrip()
            if not shown:
                await stream.abandon()
                raise
            # What is on screen stays, said to be cut off; no second message repeats it.
            log.exception("discord: the turn for message %s failed mid-answer", incoming.message_id)
            await stream.finish(shown + CUT_OFF_NOTE)
            return
        await stream.finish(reply.text)

    async def _prior(self, message: discord.Message, bot_id: int) -> list[PriorMessage]:
        """What was said in the thread before the bot was first mentioned there."""
        try:
            earlier = [m async for m in message.channel.history(limit=PRIOR_LIMIT, before=message)]
        except discord.HTTPException as exc:  # e.g. no Read Message History permission
            log.warning("discord: could not read earlier messages in %s (%s)", message.channel.id, exc)
            return []
        return prior_from_history((payload_with_starter(m) for m in reversed(earlier)), bot_id)

    async def _reply_target(self, message: discord.Message, topic: str) -> discord.abc.Messageable:
        """Where to answer: the DM or thread itself, or a new thread on a server-channel mention."""
        if message.guild is None or isinstance(message.channel, discord.Thread):
            return message.channel
        name = " ".join(topic.split())[:80] or "chat"
        try:
            return await message.create_thread(name=name, auto_archive_duration=1440)
        except discord.HTTPException as exc:
            if (started := await thread_started_from(message)) is not None:
                return started  # a process before us started it, and died
            log.warning(
                "discord: could not start a thread in %s (%s); replying in the channel",
                message.channel.id,
                exc,
            )
            return message.channel

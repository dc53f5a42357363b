"""Discord adapter: discord.py client wiring, message handling and the slash commands.

Translation rules live in `adapters.discord_events`; this module owns the connection
(REST base and gateway redirects for `DISCORD_API_URL` / `DISCORD_GATEWAY_URL`), the
threads, typing indicator, reply splitting and the `/forget` and `/memories` commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord import app_commands

from adapters.discord_events import (
    ChannelContext,
    guild_thread_id,
    has_attachments,
    prior_from_history,
    to_incoming,
    user_key,
)
from adapters.text_split import split_message
from config.settings import ConfigError, Settings

if TYPE_CHECKING:
    from bot.memory import Fact
    from bot.messages import PriorMessage, Reply
    from bot.service import ChatService

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
SEEN_MESSAGES = 2048  # dedupe guard for events replayed after a gateway RESUME
PRIOR_LIMIT = 50  # earlier thread messages read when the bot is first mentioned in a thread
READY_TIMEOUT_SECONDS = 60.0
TEXT_ONLY = "I can only read text for now — attachments and stickers pass me by. Could you type it out?"
NOTHING_TO_FORGET = "There's nothing to forget — I don't remember anything about you{matching}."
NOTHING_KNOWN = "I don't remember anything about you yet. Tell me something and I'll keep it in mind."
NOT_YOURS = "Only the person who ran /forget can confirm or cancel it."
FORGET_EXPIRED = "This /forget has expired and I kept everything. Run /forget again if you still want to."
# How long /forget's buttons work. Discord lets the bot edit the preview for 15 minutes, so
# the buttons can still be taken away (with FORGET_EXPIRED) when they stop working.
FORGET_TIMEOUT_SECONDS = 600.0
FAILED = "Sorry, something went wrong on my side. Please try again in a moment."


def message_payload(message: discord.Message) -> dict[str, Any]:
    """The gateway-shaped fields `to_incoming` reads, taken from a discord.py message."""
    author = message.author
    payload: dict[str, Any] = {
        "id": str(message.id),
        "channel_id": str(message.channel.id),
        "type": message.type.value,
        "content": message.content,
        "webhook_id": str(message.webhook_id) if message.webhook_id else None,
        "author": {
            "id": str(author.id),
            "username": author.name,
            "global_name": author.global_name,
            "bot": author.bot,
            "system": author.system,
        },
        "mentions": [
            {
                "id": str(user.id),
                "username": user.name,
                "global_name": user.global_name,
                "member": {"nick": getattr(user, "nick", None)},
            }
            for user in message.mentions
        ],
        "attachments": [{"id": str(a.id), "filename": a.filename} for a in message.attachments],
        "sticker_items": [{"id": str(s.id), "name": s.name} for s in message.stickers],
    }
    if message.guild is not None:
        payload["guild_id"] = str(message.guild.id)
        payload["member"] = {"nick": getattr(author, "nick", None)}
    return payload


def _with_starter(message: discord.Message) -> dict[str, Any]:
    """`message_payload`, with a thread starter's channel message as `referenced_message`."""
    payload = message_payload(message)
    resolved = message.reference.resolved if message.reference else None
    if isinstance(resolved, discord.Message):
        payload["referenced_message"] = message_payload(resolved)
    return payload


def _fact_lines(facts: Sequence[Fact]) -> list[str]:
    return [f"• {fact.text} — learned in {fact.where()}, {fact.updated_at:%Y-%m-%d}" for fact in facts]


def _fit(header: str, lines: list[str], footer: str = "") -> str:
    """`header` + as many `lines` as fit in one Discord message + `footer`."""
    budget = MESSAGE_LIMIT - len(header) - len(footer) - 40
    shown: list[str] = []
    for line in lines:
        if sum(len(s) + 1 for s in shown) + len(line) > budget:
            shown.append(f"…and {len(lines) - len(shown)} more")
            break
        shown.append(line)
    return "\n".join([header, *shown, footer]).strip()


class _SeenMessages:
    """A bounded LRU of message ids, so a replayed event is answered once."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._ids: OrderedDict[int, None] = OrderedDict()

    def first_time(self, message_id: int) -> bool:
        if message_id in self._ids:
            self._ids.move_to_end(message_id)
            return False
        self._ids[message_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


class ForgetView(discord.ui.View):
    """Confirm / Cancel buttons for a `/forget` preview; only its owner may press them.

    Unpressed, they stop working after `timeout` seconds; the preview then says so.
    """

    def __init__(
        self, service: ChatService, command: discord.Interaction[Any], phrase: str | None, *, timeout: float
    ) -> None:
        super().__init__(timeout=timeout)
        self._service = service
        self._command = command
        self._owner_id = command.user.id
        self._phrase = phrase

    async def on_timeout(self) -> None:
        try:
            await self._command.edit_original_response(content=FORGET_EXPIRED, view=None)
        except discord.HTTPException as exc:
            log.info("discord: could not mark an expired /forget preview (%s)", exc)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id == self._owner_id:
            return True
        await interaction.response.send_message(NOT_YOURS, ephemeral=True)
        return False

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        self.stop()
        await interaction.response.defer()  # erasing may outlast Discord's 3-second window
        try:
            count = await self._service.memories.forget(user_key(self._owner_id), self._phrase)
        except Exception:
            log.exception("discord /forget failed")
            await interaction.edit_original_response(content=FAILED, view=None)
            return
        noun = "thing" if count == 1 else "things"
        await interaction.edit_original_response(content=f"Done — I forgot {count} {noun}.", view=None)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        self.stop()
        await interaction.response.edit_message(content="Okay — I kept everything.", view=None)


class _Client(discord.Client):
    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        self.adapter._register_commands(self.tree)
        await self.adapter._sync_commands(self.tree)

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter._on_message(message)


class DiscordAdapter:
    """Connects the core to Discord through discord.py (`login()` + `connect()`, no signals)."""

    name = "discord"

    def __init__(
        self,
        service: ChatService,
        settings: Settings,
        *,
        guild_ready_timeout: float = 2.0,
        forget_timeout: float = FORGET_TIMEOUT_SECONDS,
    ) -> None:
        if settings.discord_token is None:
            raise ConfigError("DISCORD_TOKEN is not set")
        self._service = service
        self._settings = settings
        self._guild_ready_timeout = guild_ready_timeout
        self._forget_timeout = forget_timeout
        self._seen = _SeenMessages(SEEN_MESSAGES)
        self._client: _Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._saved_route_base: str | None = None

    @property
    def client(self) -> discord.Client | None:
        return self._client

    async def start(self) -> None:
        """Log in, sync the commands, connect in the background; return once READY."""
        if self._client is not None:
            return
        if self._settings.discord_api_url:
            # Route.BASE is a class attribute shared by REST and webhook (interaction) calls.
            self._saved_route_base = discord.http.Route.BASE
            discord.http.Route.BASE = self._settings.discord_api_url.rstrip("/")
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.dm_messages = True
        intents.message_content = True
        client = _Client(
            self,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=self._guild_ready_timeout,
        )
        self._client = client
        if self._settings.discord_gateway_url:
            _redirect_gateway(client, self._settings.discord_gateway_url)
        token = self._settings.discord_token
        assert token is not None
        try:
            await client.login(token.get_secret_value())
            self._task = asyncio.create_task(_stay_connected(client), name="discord-gateway")
            self._task.add_done_callback(_log_gateway_end)
            ready = asyncio.create_task(client.wait_until_ready())
            done, _ = await asyncio.wait(
                {ready, self._task}, timeout=READY_TIMEOUT_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if ready not in done:
                ready.cancel()
                if self._task in done:
                    self._task.result()  # raises the connection error
                raise TimeoutError("Discord gateway did not become ready")
        except BaseException:
            await self.stop()
            raise
        log.info("discord connected as %s", client.user)

    async def stop(self) -> None:
        """Close the gateway and the HTTP session (idempotent)."""
        client, self._client = self._client, None
        task, self._task = self._task, None
        if client is not None:
            await client.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._saved_route_base is not None:
            discord.http.Route.BASE = self._saved_route_base
            self._saved_route_base = None

    # ----- messages

    async def _on_message(self, message: discord.Message) -> None:
        client = self._client
        if client is None or client.user is None or not self._seen.first_time(message.id):
            return
        bot_id = client.user.id
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
        try:
            target = await self._reply_target(message, incoming.text or incoming.user_name)
            if not incoming.text.strip():
                if has_attachments(payload):
                    await target.send(TEXT_ONLY)
                return
            prior: Sequence[PriorMessage] = ()
            if in_thread and not thread_is_ours:
                prior = await self._prior(message, bot_id)
            reply = await _typing_while(target, self._service.handle(incoming, prior=prior))
            for chunk in split_message(reply.text, MESSAGE_LIMIT):
                await target.send(chunk, allowed_mentions=discord.AllowedMentions.none())
        except discord.Forbidden as exc:
            log.warning("discord: no permission to write in channel %s: %s", channel.id, exc.text)
        except discord.HTTPException:
            log.exception("discord: could not answer message %s in channel %s", message.id, channel.id)

    async def _prior(self, message: discord.Message, bot_id: int) -> list[PriorMessage]:
        """What was said in the thread before the bot was first mentioned there."""
        try:
            earlier = [m async for m in message.channel.history(limit=PRIOR_LIMIT, before=message)]
        except discord.HTTPException as exc:  # e.g. no Read Message History permission
            log.warning("discord: could not read earlier messages in %s (%s)", message.channel.id, exc)
            return []
        return prior_from_history((_with_starter(m) for m in reversed(earlier)), bot_id)

    async def _reply_target(self, message: discord.Message, topic: str) -> discord.abc.Messageable:
        """Where to answer: the DM or thread itself, or a new thread on a server-channel mention."""
        if message.guild is None or isinstance(message.channel, discord.Thread):
            return message.channel
        name = " ".join(topic.split())[:80] or "chat"
        try:
            return await message.create_thread(name=name, auto_archive_duration=1440)
        except discord.HTTPException as exc:
            log.warning(
                "discord: could not start a thread in %s (%s); replying in the channel",
                message.channel.id,
                exc,
            )
            return message.channel

    # ----- slash commands

    def _register_commands(self, tree: app_commands.CommandTree[Any]) -> None:
        service = self._service

        @tree.command(name="forget", description="Erase what I remember about you")
        @app_commands.describe(phrase="Only forget memories containing this phrase (default: everything)")
        async def forget(interaction: discord.Interaction[Any], phrase: str | None = None) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            try:
                facts = await service.memories.preview_forget(user_key(interaction.user.id), phrase)
            except Exception:
                log.exception("discord /forget preview failed")
                await interaction.edit_original_response(content=FAILED)
                return
            if not facts:
                shown = phrase if phrase is None or len(phrase) <= 100 else phrase[:100] + "…"
                matching = f' matching "{shown}"' if shown else ""
                await interaction.edit_original_response(content=NOTHING_TO_FORGET.format(matching=matching))
                return
            noun = "this" if len(facts) == 1 else f"these {len(facts)} things"
            text = _fit(
                f"I'll forget {noun}:", _fact_lines(facts), "Confirm to erase, or cancel to keep it all."
            )
            view = ForgetView(service, interaction, phrase, timeout=self._forget_timeout)
            await interaction.edit_original_response(content=text, view=view)

        @tree.command(name="memories", description="What I remember about you, and where I learned it")
        async def memories(interaction: discord.Interaction[Any]) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            try:
                facts = await service.memories.list_facts(user_key(interaction.user.id))
            except Exception:
                log.exception("discord /memories failed")
                await interaction.edit_original_response(content=FAILED)
                return
            if not facts:
                await interaction.edit_original_response(content=NOTHING_KNOWN)
                return
            header = f"Here's what I remember about you ({len(facts)}):"
            chunks = split_message("\n".join([header, *_fact_lines(facts)]), MESSAGE_LIMIT)
            await interaction.edit_original_response(content=chunks[0])
            for chunk in chunks[1:]:
                await interaction.followup.send(chunk, ephemeral=True)

    async def _sync_commands(self, tree: app_commands.CommandTree[Any]) -> None:
        guild_id = self._settings.discord_guild_id
        try:
            if guild_id is not None:
                # Guild commands show up at once; global ones can take a while to propagate.
                guild = discord.Object(id=guild_id)
                tree.copy_global_to(guild=guild)
                await tree.sync(guild=guild)
            else:
                await tree.sync()
        except discord.HTTPException:
            log.exception(
                "discord: could not sync slash commands (is the applications.commands scope granted?)"
            )


# Errors no retry can fix: the token or the intents are wrong.
_FATAL = (discord.LoginFailure, discord.PrivilegedIntentsRequired)


async def _typing_while(target: discord.abc.Messageable, turn: Awaitable[Reply]) -> Reply:
    """Run `turn` with "typing…" shown; the indicator never delays or sinks the reply.

    discord.py's `typing()` waits for its first request (and any rate-limit retry of it)
    before its block starts; here the indicator runs beside the turn instead, and stops
    when the turn is done, whatever state its own requests are in.
    """
    typing = asyncio.create_task(_show_typing(target))
    try:
        return await turn
    finally:
        typing.cancel()


async def _show_typing(target: discord.abc.Messageable) -> None:
    try:
        async with target.typing():
            await asyncio.Future()  # until the turn is done and this task is cancelled
    except Exception as exc:  # noqa: BLE001 - only decoration failed; the reply still goes out
        log.debug("discord: the typing indicator failed (%s)", type(exc).__name__)


async def _stay_connected(client: discord.Client) -> None:
    """`client.connect()`, started again after any error it does not handle itself.

    discord.py reconnects on network errors and gateway requests, but an unexpected error
    (e.g. a frame it cannot decode) ends `connect()`; without this the bot would go deaf.
    """
    delay = 1.0
    while not client.is_closed():
        try:
            await client.connect(reconnect=True)
            return
        except _FATAL:
            raise
        except Exception as exc:  # noqa: BLE001 - any other error: connect again, not go deaf
            if client.is_closed():
                return
            await _drop_socket(client)
            log.error("discord gateway failed (%s); reconnecting in %.0f s", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)


async def _drop_socket(client: discord.Client) -> None:
    """Close the gateway socket `connect()` gave up on, and with it its heartbeat thread.

    discord.py stops a socket's heartbeat thread on the errors it handles itself; after any
    other, the thread lived on, beating on a dead socket, one more per error.
    """
    socket = client.ws
    if socket is not None:
        with contextlib.suppress(Exception):
            await socket.close(code=4000)  # 4000, not 1000: the session can still be resumed


def _log_gateway_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("discord gateway stopped: %r", task.exception())


def _redirect_gateway(client: discord.Client, gateway_url: str) -> None:
    """Send every gateway connection (first connect and RESUME) to `gateway_url`.

    discord.py's plain Client never asks `/gateway/bot`: it dials `DiscordWebSocket.DEFAULT_GATEWAY`
    and then the READY's `resume_gateway_url`; both go through `HTTPClient.ws_connect`, so
    rewriting the URL there (keeping its `v`, `encoding`, `compress` query) covers all cases.
    """
    target = yarl.URL(gateway_url)
    connect = client.http.ws_connect

    async def ws_connect(url: str, *, compress: int = 0) -> Any:
        return await connect(str(target.update_query(yarl.URL(url).query)), compress=compress)

    client.http.ws_connect = ws_connect  # type: ignore[method-assign]

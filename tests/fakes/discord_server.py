"""A fake Discord on 127.0.0.1 speaking the real REST v10 and gateway v10 protocols.

The real discord.py client logs in, syncs commands, connects to the gateway (with the
transport compression it asks for: `zstd-stream`, `zlib-stream` or none), heartbeats,
resumes, and sends messages here. Tests drive it with helpers:

    async with FakeDiscord() as discord:
        ana = discord.make_user("ana", global_name="Ana")
        await discord.push_dm(ana, "hi")
        [reply] = await discord.wait_for_messages(discord.dm_channel_id(ana), 1)

Recorded: `messages` (each with its content as last edited), `edits` (every
`PATCH /channels/{id}/messages/{id}`, answered or refused), `deletions`,
`interaction_responses`, `typing_calls`, `threads`, `command_syncs`, `unhandled_requests`,
`identify_count`, `resume_count`, `identify_payloads`, `gateway_compressions`,
`history_reads`. Every message said in a channel (pushed at the bot or sent by it) is
kept in `history` and served by `GET /channels/{id}/messages`, newest first, as Discord does.
`rate_limit_edits(n)` answers the next n edits with a 429 as Discord does (JSON
`retry_after`, `Retry-After` and `X-RateLimit-*` headers, `Via`); `push_message_command`
delivers a message context-menu interaction (`data.type` 3, `target_id`, `resolved.messages`).
Gateway controls: `request_reconnect()` (op 7), `drop_connection()` (server-side
socket drop), `wait_for_resume()`; `duplicate_on_resume` re-sends already-delivered
events on RESUME to prove the client side de-duplicates.
Sharding: an IDENTIFY with `shard: [id, count]` (count > 1) opens a session for that shard;
from then on events go to the shard Discord would send them to, `(guild_id >> 22) % count`,
DMs to shard 0 (`shard_of`, `shard_sessions`, `dispatch(..., shard=n)` to force one). A
shard's RESUME is refused (INVALID_SESSION): it identifies again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
MISSING_PERMISSIONS = {"message": "Missing Permissions", "code": 50013}
MISSING_ACCESS = {"message": "Missing Access", "code": 50001}
UNKNOWN_MESSAGE = {"message": "Unknown Message", "code": 10008}
THREAD_EXISTS = {"message": "A thread has already been created for this message", "code": 160004}
THREAD_STARTER_MESSAGE = 21  # the first message of a thread started from a channel message
EPHEMERAL_FLAG = 64

# Gateway opcodes (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME, OP_RECONNECT = 0, 1, 2, 6, 7
OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 9, 10, 11


@dataclass(frozen=True)
class FakeUser:
    """A Discord account the tests speak as."""

    id: int
    username: str
    global_name: str | None = None
    nick: str | None = None
    bot: bool = False

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "public_flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data

    def member_payload(self, *, with_user: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nick": self.nick,
            "roles": [],
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "avatar": None,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.payload()
        return data


@dataclass
class SentMessage:
    """A message the bot posted with `POST /channels/{id}/messages` (or a webhook).

    `content` is what the message shows now (after its last edit); `allowed_mentions` is
    what its creation sent, each edit's are in `FakeDiscord.edits`.
    """

    id: int
    channel_id: int
    content: str
    allowed_mentions: dict[str, Any] | None
    components: list[dict[str, Any]]
    payload: dict[str, Any]
    at: float = 0.0  # time.monotonic() when it arrived
    edit_count: int = 0  # edits applied to it
    deleted: bool = False


@dataclass(frozen=True)
class MessageEdit:
    """One `PATCH /channels/{id}/messages/{id}` by the bot (status 429: refused, rate limited)."""

    message_id: int
    channel_id: int
    content: str | None
    allowed_mentions: dict[str, Any] | None
    payload: dict[str, Any]
    at: float  # time.monotonic() when it arrived
    status: int = 200

    @property
    def applied(self) -> bool:
        return self.status == 200


@dataclass
class InteractionResponse:
    """One answer to an interaction: its callback, a followup or an edit of the original."""

    interaction_id: int
    kind: str  # "callback" | "followup" | "edit_original"
    type: int | None  # the callback type (4 message, 5 deferred, 6 deferred update, 7 update)
    content: str | None
    flags: int
    components: list[dict[str, Any]]
    payload: dict[str, Any]
    message: dict[str, Any] | None = None  # the message this response created or changed

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL_FLAG)

    def button_ids(self) -> dict[str, str]:
        """Button label -> custom_id for the buttons on this response."""
        return {
            item["label"]: item["custom_id"]
            for row in self.components
            for item in row.get("components", [])
            if item.get("type") == 2 and "custom_id" in item
        }


@dataclass
class CommandSync:
    """One bulk overwrite of application commands (guild_id None = global)."""

    application_id: int
    guild_id: int | None
    commands: list[dict[str, Any]]


@dataclass
class _Interaction:
    id: int
    token: str
    user: FakeUser
    channel_id: int
    guild_id: int | None
    original: dict[str, Any] | None = None
    ephemeral: bool = False


class _ShardSession:
    """One shard's gateway session: its own session id and sequence numbers."""

    def __init__(self, shard: int, count: int, session_id: str, connection: _Connection) -> None:
        self.shard, self.count, self.session_id, self.connection = shard, count, session_id, connection
        self.sequence = 0


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    request: web.Request
    compress: str | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    compressor: Any = None

    def encode(self, data: str) -> bytes:
        raw = data.encode()
        if self.compress == "zlib-stream":
            # One zlib stream per connection; each payload ends with a Z_SYNC_FLUSH marker.
            if self.compressor is None:
                self.compressor = zlib.compressobj()
            return self.compressor.compress(raw) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        import zstandard  # only needed when the client asks for zstd-stream

        # One zstd stream per connection; each payload is a flushed block decodable on its own.
        if self.compressor is None:
            self.compressor = zstandard.ZstdCompressor().compressobj()
        return self.compressor.compress(raw) + self.compressor.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly `application/json`, no charset: discord.py only decodes JSON on that exact type.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _rate_limited(retry_after: float) -> web.Response:
    """A 429 as Discord sends it: the wait in the JSON body and in the headers, through its proxy.

    discord.py waits `retry_after` (from the body) and sends the request again; a 429
    without a `Via` header it takes for a Cloudflare ban and gives up on.
    """
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
    headers = {
        "Content-Type": "application/json",
        "Retry-After": str(max(1, math.ceil(retry_after))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": "fake-message-edits",
        "X-RateLimit-Scope": "user",
        "Via": "1.1 google",
    }
    return web.Response(body=json.dumps(body).encode(), status=429, headers=headers)


class FakeDiscord:
    """Fake Discord REST + gateway server. Use as an async context manager."""

    def __init__(
        self,
        *,
        token: str = "fake-discord-token",
        guild_name: str = "Test Server",
        channel_name: str = "general",
        heartbeat_interval_ms: int = 41_250,
        guild_id: int | None = None,
    ) -> None:
        """`guild_id` picks the server's id (its shard is `(guild_id >> 22) % count`)."""
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._ids = itertools.count(1)
        self.bot_user = FakeUser(self.snowflake(), "memory-bot", global_name=None, bot=True)
        self.application_id = self.bot_user.id  # Discord: a bot's user id equals its application id
        self.guild_id = guild_id or self.snowflake()
        self.guild_name = guild_name
        self.channel_id = self.snowflake()
        self.channels: dict[int, dict[str, Any]] = {}
        self._add_text_channel(self.channel_id, channel_name)
        self.forbidden_channels: set[int] = set()
        self.unreadable_channels: set[int] = set()  # no Read Message History: reads fail with 403
        self.duplicate_on_resume = 0

        self.messages: list[SentMessage] = []
        self.edits: list[MessageEdit] = []
        self.deletions: list[int] = []  # ids of messages the bot deleted
        self._rate_limited_edits = 0
        self._edit_retry_after = 0.0
        self.interaction_responses: list[InteractionResponse] = []
        self.typing_calls: list[int] = []
        self.typing_gate: asyncio.Event | None = None  # when given, typing requests wait for it
        self.typing_status: int | None = None  # when given, typing requests fail with this status
        self.threads: list[dict[str, Any]] = []
        self.history: dict[int, list[dict[str, Any]]] = {}  # channel id -> its messages, oldest first
        self.history_reads: list[int] = []  # channel ids of GET .../messages requests
        self.command_syncs: list[CommandSync] = []
        self.unhandled_requests: list[tuple[str, str]] = []
        self.identify_count = 0
        self.shard_sessions: dict[int, _ShardSession] = {}  # shard id -> its session (sharded bots)
        self.resume_count = 0
        self.identify_payloads: list[dict[str, Any]] = []
        # What GET /gateway/bot recommends: Discord says more than 1 once a bot is in ~2,500 servers.
        self.recommended_shards = 1
        self.gateway_compressions: list[str | None] = []  # the `compress` each connection asked for

        self._sent: dict[int, tuple[SentMessage, dict[str, Any]]] = {}  # id -> record, served payload
        self._interactions: dict[int, _Interaction] = {}
        self._interactions_by_token: dict[str, _Interaction] = {}
        self._dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self._session_id: str | None = None
        self._sequence = 0
        self._event_log: list[dict[str, Any]] = []
        self._connection: _Connection | None = None
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ----- lifecycle

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_url(self) -> str:
        """Value for DISCORD_API_URL."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """Value for DISCORD_GATEWAY_URL."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ----- world building

    def snowflake(self) -> int:
        """A fresh, increasing Discord snowflake."""
        return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(self._ids) & 0x3FFFFF)

    def make_user(
        self, username: str, *, global_name: str | None = None, nick: str | None = None, bot: bool = False
    ) -> FakeUser:
        return FakeUser(self.snowflake(), username, global_name=global_name, nick=nick, bot=bot)

    def add_text_channel(self, name: str) -> int:
        """Add a text channel to the seeded guild (announced with CHANNEL_CREATE if connected)."""
        channel_id = self.snowflake()
        channel = self._add_text_channel(channel_id, name)
        if self._session_id is not None:
            self._schedule(self.dispatch("CHANNEL_CREATE", channel))
        return channel_id

    def forbid_channel(self, channel_id: int) -> None:
        """Make REST writes to this channel fail with 403 Missing Permissions."""
        self.forbidden_channels.add(channel_id)

    def rate_limit_edits(self, times: int, *, retry_after: float = 0.3) -> None:
        """Answer the next `times` message edits with 429 Too Many Requests, as Discord does."""
        self._rate_limited_edits = times
        self._edit_retry_after = retry_after

    def forbid_reading(self, channel_id: int) -> None:
        """Make reading this channel's history fail with 403 Missing Access."""
        self.unreadable_channels.add(channel_id)

    async def add_thread(self, starter: FakeUser, content: str, *, name: str = "a thread") -> int:
        """A thread a person started from their message `content` in the text channel.

        As on Discord: the starter message stays in the channel, the thread takes its id, and
        the thread's own history begins with a THREAD_STARTER_MESSAGE that refers to it.
        Announced with THREAD_CREATE when the bot is connected (else it comes with the guild).
        """
        message = self.message_payload(starter, content, channel_id=self.channel_id, guild=True)
        self._remember(message)
        thread_id = int(message["id"])
        thread = self._thread_payload(self.channel_id, thread_id, name, owner_id=starter.id)
        self.threads.append(thread)
        self.channels[thread_id] = thread
        marker = self.message_payload(
            starter, "", channel_id=thread_id, guild=True, message_type=THREAD_STARTER_MESSAGE
        )
        marker["message_reference"] = {
            "type": 0,
            "message_id": str(thread_id),
            "channel_id": str(self.channel_id),
            "guild_id": str(self.guild_id),
        }
        marker["referenced_message"] = message
        self._remember(marker)
        if self._session_id is not None:
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread_id

    def dm_channel_id(self, user: FakeUser) -> int:
        """The DM channel between `user` and the bot (created on first use)."""
        if user.id not in self._dm_channels:
            channel_id = self.snowflake()
            self._dm_channels[user.id] = channel_id
            self.channels[channel_id] = {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [user.payload()],
            }
        return self._dm_channels[user.id]

    def _add_text_channel(self, channel_id: int, name: str) -> dict[str, Any]:
        channel = {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": name,
            "position": len(self.channels),
            "permission_overwrites": [],
            "parent_id": None,
            "nsfw": False,
            "topic": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }
        self.channels[channel_id] = channel
        return channel

    # ----- payload builders (the shapes recorded under tests/payloads/discord)

    def message_payload(
        self,
        author: FakeUser,
        content: str,
        *,
        channel_id: int,
        guild: bool,
        mentions: tuple[FakeUser, ...] = (),
        message_type: int = 0,
        attachments: list[dict[str, Any]] | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(message_id or self.snowflake()),
            "channel_id": str(channel_id),
            "author": author.payload(),
            "content": content,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments or [],
            "embeds": [],
            "pinned": False,
            "type": message_type,
            "flags": 0,
            "components": [],
        }
        if guild:
            data["guild_id"] = str(self.guild_id)
            data["member"] = author.member_payload()
            data["mentions"] = [{**user.payload(), "member": user.member_payload()} for user in mentions]
        else:
            data["mentions"] = [user.payload() for user in mentions]
        return data

    def interaction_payload(
        self,
        user: FakeUser,
        *,
        interaction_type: int,
        data: dict[str, Any],
        channel_id: int | None = None,
        in_guild: bool = True,
        message: dict[str, Any] | None = None,
        installed_by_user: bool = False,
    ) -> dict[str, Any]:
        """`installed_by_user`: the person's own install of the app (not the server's) authorised it."""
        interaction_id = self.snowflake()
        token = "itok-" + secrets.token_hex(12)
        if channel_id is None:
            channel_id = self.channel_id if in_guild else self.dm_channel_id(user)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": interaction_type,
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": str(channel_id),
            "channel": dict(self.channels[channel_id]),
            "locale": "en-US",
            "app_permissions": "2248473465835073",
            "entitlements": [],
            "attachment_size_limit": 10_485_760,
            "authorizing_integration_owners": (
                {"1": str(user.id)} if installed_by_user or not in_guild else {"0": str(self.guild_id)}
            ),
            "context": 0 if in_guild else 1,
        }
        if in_guild:
            payload["guild_id"] = str(self.guild_id)
            payload["guild_locale"] = "en-US"
            payload["member"] = {**user.member_payload(with_user=True), "permissions": "2248473465835073"}
        else:
            payload["user"] = user.payload()
        if message is not None:
            payload["message"] = message
        # A component's interaction starts out owning the message it was clicked on: after a
        # deferred update (type 6), editing "@original" edits that message, as on Discord.
        record = _Interaction(
            interaction_id, token, user, channel_id, self.guild_id if in_guild else None, original=message
        )
        self._interactions[interaction_id] = record
        self._interactions_by_token[token] = record
        return payload

    # ----- pushing events at the bot

    async def push_dm(self, author: FakeUser, content: str, **kwargs: Any) -> dict[str, Any]:
        """Send the bot a DM; returns the MESSAGE_CREATE payload."""
        data = self.message_payload(
            author, content, channel_id=self.dm_channel_id(author), guild=False, **kwargs
        )
        self._remember(data)
        await self.dispatch("MESSAGE_CREATE", data)
        return data

    async def push_guild_message(
        self,
        author: FakeUser,
        content: str,
        *,
        channel_id: int | None = None,
        mention_bot: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Post in a guild text channel or thread; `mention_bot` prefixes `<@bot>` like the client does."""
        if mention_bot:
            content = f"{self.bot_user.mention} {content}"
            kwargs["mentions"] = (self.bot_user, *kwargs.get("mentions", ()))
        data = self.message_payload(
            author, content, channel_id=channel_id or self.channel_id, guild=True, **kwargs
        )
        self._remember(data)
        await self.dispatch("MESSAGE_CREATE", data)
        return data

    async def push_slash_command(
        self,
        user: FakeUser,
        name: str,
        options: dict[str, str] | None = None,
        *,
        in_guild: bool = True,
        channel_id: int | None = None,
    ) -> int:
        """Invoke a chat-input command; returns the interaction id."""
        command_id = self._command_id(name)
        data = {
            "id": str(command_id),
            "name": name,
            "type": 1,
            "options": [{"name": k, "type": 3, "value": v} for k, v in (options or {}).items()],
        }
        if in_guild:
            data["guild_id"] = str(self.guild_id)
        payload = self.interaction_payload(
            user, interaction_type=2, data=data, channel_id=channel_id, in_guild=in_guild
        )
        await self.dispatch("INTERACTION_CREATE", payload)
        return int(payload["id"])

    async def push_message_command(
        self,
        user: FakeUser,
        target: dict[str, Any],
        name: str = "Remember this",
        *,
        installed_by_user: bool = False,
    ) -> int:
        """Use a message context-menu command on the message `target` (a message payload, e.g.
        what `push_dm` / `push_guild_message` returned); returns the interaction id.

        As on Discord: an application command interaction (type 2) whose `data.type` is 3,
        with the message as `target_id` and, whole, in `resolved.messages`.
        """
        in_guild = "guild_id" in target
        target_id = str(target["id"])
        data: dict[str, Any] = {
            "id": str(self._command_id(name)),
            "name": name,
            "type": 3,
            "target_id": target_id,
            "resolved": {"messages": {target_id: target}},
        }
        if in_guild and self._synced_to_guild(name):
            data["guild_id"] = str(self.guild_id)
        payload = self.interaction_payload(
            user,
            interaction_type=2,
            data=data,
            channel_id=int(target["channel_id"]),
            in_guild=in_guild,
            installed_by_user=installed_by_user,
        )
        await self.dispatch("INTERACTION_CREATE", payload)
        return int(payload["id"])

    def _synced_to_guild(self, name: str) -> bool:
        for sync in reversed(self.command_syncs):
            if any(command["name"] == name for command in sync.commands):
                return sync.guild_id is not None
        return False

    async def click_button(self, user: FakeUser, response: InteractionResponse, label: str) -> int:
        """Click the button labelled `label` on a message the bot sent as an interaction response."""
        source = self._interactions[response.interaction_id]
        custom_id = response.button_ids()[label]
        if response.message is None:
            raise AssertionError("that response has no message to click on")
        message = response.message
        payload = self.interaction_payload(
            user,
            interaction_type=3,
            data={"custom_id": custom_id, "component_type": 2},
            channel_id=source.channel_id,
            in_guild=source.guild_id is not None,
            message=message,
        )
        await self.dispatch("INTERACTION_CREATE", payload)
        return int(payload["id"])

    def _command_id(self, name: str) -> int:
        for sync in reversed(self.command_syncs):
            for command in sync.commands:
                if command["name"] == name:
                    return int(command["id"])
        return self.snowflake()

    # ----- waiting for the bot

    async def wait_for_messages(
        self,
        channel_id: int,
        count: int,
        timeout: float = 10.0,
    ) -> list[SentMessage]:
        """Wait until at least `count` messages were sent to `channel_id`; return them all."""
        return await self._wait(
            lambda: [m for m in self.messages if m.channel_id == channel_id], count, timeout
        )

    async def wait_for_interaction_responses(
        self,
        interaction_id: int,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[InteractionResponse]:
        """Wait until `interaction_id` got at least `count` responses (callback, followups, edits)."""
        return await self._wait(
            lambda: [r for r in self.interaction_responses if r.interaction_id == interaction_id],
            count,
            timeout,
        )

    def shown_in(self, channel_id: int) -> list[str]:
        """What the bot's messages in `channel_id` show now (as last edited), oldest first."""
        return [m.content for m in self.messages if m.channel_id == channel_id and not m.deleted]

    def edits_of(self, message_id: int, *, applied: bool = True) -> list[MessageEdit]:
        """The edits of one message, oldest first (`applied` False: the refused ones too)."""
        return [e for e in self.edits if e.message_id == message_id and (e.applied or not applied)]

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        """Wait until `condition()` holds; it is checked after every request the bot makes."""
        try:
            await self._wait(lambda: [True] if condition() else [], 1, timeout)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what or condition}") from None

    async def wait_for_typing(self, channel_id: int, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until the bot showed its typing indicator in `channel_id` `count` times."""
        await self._wait(lambda: [c for c in self.typing_calls if c == channel_id], count, timeout)

    async def wait_for_resume(self, count: int = 1, timeout: float = 15.0) -> None:
        await self._wait(lambda: list(range(self.resume_count)), count, timeout)

    async def wait_for_identify(self, count: int = 1, timeout: float = 15.0) -> None:
        await self._wait(lambda: list(range(self.identify_count)), count, timeout)

    async def _wait(self, select: Callable[[], list[Any]], count: int, timeout: float) -> list[Any]:
        async def until() -> list[Any]:
            async with self._changed:
                await self._changed.wait_for(lambda: len(select()) >= count)
                return select()

        try:
            return await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out: wanted {count}, have {len(select())}: {select()!r}") from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ----- gateway

    def shard_of(self, data: dict[str, Any], count: int) -> int:
        """The shard Discord sends an event to: by its guild, DMs (no guild) to shard 0."""
        guild = data.get("guild_id")
        return (int(guild) >> 22) % count if guild else 0

    async def dispatch(self, event: str, data: dict[str, Any], *, shard: int | None = None) -> None:
        """Send a DISPATCH event (kept for replay on RESUME, even while disconnected)."""
        if self.shard_sessions:
            session = next(iter(self.shard_sessions.values()))
            target = self.shard_sessions.get(
                shard if shard is not None else self.shard_of(data, session.count)
            )
            if target is not None:
                target.sequence += 1
                await self._send(
                    target.connection, {"op": OP_DISPATCH, "t": event, "s": target.sequence, "d": data}
                )
            return
        self._sequence += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": self._sequence, "d": data}
        self._event_log.append(frame)
        if self._connection is not None:
            await self._send(self._connection, frame)

    async def request_reconnect(self) -> None:
        """Ask the client to reconnect and resume (gateway op 7)."""
        if self._connection is not None:
            await self._send(self._connection, {"op": OP_RECONNECT, "d": None})

    async def drop_connection(self) -> None:
        """Kill the websocket from the server side without a close handshake."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        transport = connection.request.transport
        if transport is not None:
            transport.abort()
        else:
            await connection.ws.close(code=4000)

    @property
    def connected(self) -> bool:
        return self._connection is not None

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress")
        if compress not in (None, "zlib-stream", "zstd-stream"):
            await ws.close(code=4000, message=b"unsupported compression")
            return ws
        self.gateway_compressions.append(compress)
        connection = _Connection(ws=ws, request=request, compress=compress)
        self._connection = connection
        await self._send(
            connection, {"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
        )
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                await self._on_client_frame(connection, json.loads(message.data))
        finally:
            if self._connection is connection:
                self._connection = None
        return ws

    async def _on_client_frame(self, connection: _Connection, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == OP_HEARTBEAT:
            await self._send(connection, {"op": OP_HEARTBEAT_ACK, "d": None})
        elif op == OP_IDENTIFY:
            if frame["d"].get("token") != self.token:
                await connection.ws.close(code=4004, message=b"Authentication failed.")
                return
            shard = frame["d"].get("shard")
            if shard and int(shard[1]) > 1:
                await self._identify_shard(connection, frame["d"], int(shard[0]), int(shard[1]))
                return
            await self._identify(frame["d"])
        elif op == OP_RESUME:
            if any(s.session_id == frame["d"].get("session_id") for s in self.shard_sessions.values()):
                await self._send(connection, {"op": OP_INVALID_SESSION, "d": False})
                return
            await self._resume(connection, frame["d"])

    async def _identify(self, data: dict[str, Any]) -> None:
        self.identify_count += 1
        self.identify_payloads.append(data)
        self._session_id = secrets.token_hex(16)
        self._sequence = 0
        self._event_log = []
        await self.dispatch("READY", self._ready_payload())
        await self.dispatch("GUILD_CREATE", self._guild_payload())
        await self._notify()

    async def _identify_shard(
        self, connection: _Connection, data: dict[str, Any], shard: int, count: int
    ) -> None:
        self.identify_count += 1
        self.identify_payloads.append(data)
        session = _ShardSession(shard, count, secrets.token_hex(16), connection)
        self.shard_sessions[shard] = session
        ready = {**self._ready_payload(), "session_id": session.session_id, "shard": [shard, count]}
        mine = self.shard_of({"guild_id": str(self.guild_id)}, count) == shard
        ready["guilds"] = ready["guilds"] if mine else []
        await self.dispatch("READY", ready, shard=shard)
        if mine:
            await self.dispatch("GUILD_CREATE", self._guild_payload(), shard=shard)
        await self._notify()

    async def _resume(self, connection: _Connection, data: dict[str, Any]) -> None:
        if data.get("token") != self.token or data.get("session_id") != self._session_id:
            await self._send(connection, {"op": OP_INVALID_SESSION, "d": False})
            return
        self.resume_count += 1
        last_seen = int(data.get("seq") or 0)
        seen_messages = [f for f in self._event_log if f["s"] <= last_seen and f["t"] == "MESSAGE_CREATE"]
        duplicates = (
            seen_messages[len(seen_messages) - self.duplicate_on_resume :] if self.duplicate_on_resume else []
        )
        for frame in [*duplicates, *(f for f in self._event_log if f["s"] > last_seen)]:
            await self._send(connection, frame)
        self._sequence += 1
        await self._send(connection, {"op": OP_DISPATCH, "t": "RESUMED", "s": self._sequence, "d": {}})
        await self._notify()

    async def _send(self, connection: _Connection, frame: dict[str, Any]) -> None:
        text = json.dumps(frame)
        async with connection.lock:
            if connection.ws.closed:
                return
            try:
                if connection.compress is None:
                    await connection.ws.send_str(text)
                else:
                    await connection.ws.send_bytes(connection.encode(text))
            except ConnectionError:
                pass  # the client went away; the frame stays in the log for RESUME

    def _schedule(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(lambda t: t.exception())

    def _ready_payload(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": self._session_id,
            "resume_gateway_url": self.gateway_url,
            "session_type": "normal",
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
        }

    def _guild_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id),
            "name": self.guild_name,
            "icon": None,
            "owner_id": str(self.snowflake()),
            "features": [],
            "roles": [
                {
                    "id": str(self.guild_id),
                    "name": "@everyone",
                    "permissions": "2248473465835073",
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "channels": [c for c in self.channels.values() if c.get("type") == 0],
            "threads": [t for t in self.threads if not t.get("thread_metadata", {}).get("archived")],
            "members": [self.bot_user.member_payload(with_user=True)],
            "member_count": 2,
            "large": False,
            "unavailable": False,
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "premium_tier": 0,
            "mfa_level": 0,
            "verification_level": 0,
            "explicit_content_filter": 0,
            "default_message_notifications": 0,
            "system_channel_flags": 0,
            "nsfw_level": 0,
            "preferred_locale": "en-US",
        }

    # ----- REST

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        parts = path.strip("/").split("/")
        method = request.method
        body: Any = None
        if request.can_read_body:
            body = await request.json()
        if parts[0] not in ("interactions", "webhooks") and request.headers.get("Authorization") != (
            f"Bot {self.token}"
        ):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        response = await self._route(method, parts, body, request)
        if response is None:
            self.unhandled_requests.append((method, path))
            return _json({"message": "404: Not Found", "code": 0}, status=404)
        await self._notify()
        return response

    async def _route(
        self, method: str, parts: list[str], body: Any, request: web.Request
    ) -> web.StreamResponse | None:
        match method, parts:
            case "GET", ["users", "@me"]:
                return _json({**self.bot_user.payload(), "verified": True, "flags": 0})
            case "GET", ["gateway", "bot"]:
                limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
                return _json(
                    {"url": self.gateway_url, "shards": self.recommended_shards, "session_start_limit": limit}
                )
            case "GET", ["gateway"]:
                return _json({"url": self.gateway_url})
            case "GET", ["oauth2", "applications", "@me"]:
                return _json(self._application_payload())
            case "PUT", ["applications", app_id, "commands"]:
                return self._sync_commands(int(app_id), None, body)
            case "PUT", ["applications", app_id, "guilds", guild_id, "commands"]:
                return self._sync_commands(int(app_id), int(guild_id), body)
            case "POST", ["users", "@me", "channels"]:
                recipient = FakeUser(int(body["recipient_id"]), "user")
                return _json(self.channels[self.dm_channel_id(recipient)])
            case "GET", ["channels", channel_id]:
                channel = self.channels.get(int(channel_id))
                if channel is None:
                    return _json({"message": "Unknown Channel", "code": 10003}, status=404)
                return _json(channel)
            case "POST", ["channels", channel_id, "typing"]:
                if int(channel_id) in self.forbidden_channels:
                    return _json(MISSING_PERMISSIONS, status=403)
                self.typing_calls.append(int(channel_id))
                await self._notify()
                if self.typing_gate is not None:
                    await self.typing_gate.wait()
                if self.typing_status is not None:
                    return _json({"message": "typing failed", "code": 0}, status=self.typing_status)
                return web.Response(status=204)
            case "POST", ["channels", channel_id, "messages"]:
                if int(channel_id) in self.forbidden_channels:
                    return _json(MISSING_PERMISSIONS, status=403)
                return _json(self._record_message(int(channel_id), body))
            case "PATCH", ["channels", channel_id, "messages", message_id]:
                return self._edit_message(int(channel_id), int(message_id), body or {})
            case "DELETE", ["channels", channel_id, "messages", message_id]:
                return self._delete_message(int(channel_id), int(message_id))
            case "GET", ["channels", channel_id, "messages", message_id]:
                found = [m for m in self.history.get(int(channel_id), []) if m["id"] == message_id]
                return _json(found[-1]) if found else _json(UNKNOWN_MESSAGE, status=404)
            case "GET", ["channels", channel_id, "messages"]:
                self.history_reads.append(int(channel_id))
                if int(channel_id) in self.unreadable_channels:
                    return _json(MISSING_ACCESS, status=403)
                return _json(self._history_page(int(channel_id), request.query))
            case "POST", ["channels", channel_id, "messages", message_id, "threads"]:
                if int(channel_id) in self.forbidden_channels:
                    return _json(MISSING_PERMISSIONS, status=403)
                if int(message_id) in self.channels:  # as Discord: one thread per message
                    return _json(THREAD_EXISTS, status=400)
                return _json(await self._create_thread(int(channel_id), int(message_id), body))
            case "POST", ["interactions", interaction_id, token, "callback"]:
                return self._interaction_callback(int(interaction_id), token, body)
            case "POST", ["webhooks", _app, token]:
                # discord.py sends wait=1; Discord takes any boolean spelling.
                wait = request.query.get("wait", "").lower() in ("1", "true")
                return self._followup(token, body, wait=wait)
            case ("PATCH", ["webhooks", _app, token, "messages", "@original"]):
                return self._edit_original(token, body)
            case ("GET", ["webhooks", _app, token, "messages", "@original"]):
                record = self._interactions_by_token.get(token)
                if record is None or record.original is None:
                    return None
                return _json(record.original)
        return None

    def _application_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": "memory-bot",
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": FakeUser(self.snowflake(), "owner").payload(),
            "team": None,
            "interactions_endpoint_url": None,
            "bot": self.bot_user.payload(),
        }

    def _sync_commands(self, app_id: int, guild_id: int | None, body: list[dict[str, Any]]) -> web.Response:
        commands = []
        for command in body:
            commands.append(
                {
                    "id": str(self.snowflake()),
                    "application_id": str(app_id),
                    "version": str(self.snowflake()),
                    "default_member_permissions": None,
                    "type": 1,
                    "description": "",  # context-menu commands have none; Discord sends ""
                    "nsfw": False,
                    "options": [],
                    # What Discord stores when a command does not say: guild install only.
                    "integration_types": [0],
                    "contexts": None,
                    **({"guild_id": str(guild_id)} if guild_id else {}),
                    **command,
                }
            )
        self.command_syncs.append(CommandSync(app_id, guild_id, commands))
        return _json(commands)

    def _bot_message(self, channel_id: int, body: dict[str, Any], *, flags: int = 0) -> dict[str, Any]:
        data = self.message_payload(
            self.bot_user, body.get("content") or "", channel_id=channel_id, guild=False
        )
        channel = self.channels.get(channel_id, {})
        if "guild_id" in channel:
            data["guild_id"] = channel["guild_id"]
        data["components"] = body.get("components") or []
        data["flags"] = flags | int(body.get("flags") or 0)
        return data

    def _remember(self, message: dict[str, Any]) -> None:
        self.history.setdefault(int(message["channel_id"]), []).append(message)

    def _history_page(self, channel_id: int, query: Any) -> list[dict[str, Any]]:
        """GET /channels/{id}/messages: `limit` (1-100, default 50) messages before or after
        a message id, newest first."""
        limit = max(1, min(100, int(query.get("limit", 50))))
        messages = sorted(self.history.get(channel_id, []), key=lambda m: int(m["id"]))
        if "before" in query:
            messages = [m for m in messages if int(m["id"]) < int(query["before"])][-limit:]
        elif "after" in query:
            messages = [m for m in messages if int(m["id"]) > int(query["after"])][:limit]
        else:
            messages = messages[-limit:]
        return messages[::-1]

    def _record_message(self, channel_id: int, body: dict[str, Any]) -> dict[str, Any]:
        data = self._bot_message(channel_id, body)
        self._remember(data)
        sent = SentMessage(
            id=int(data["id"]),
            channel_id=channel_id,
            content=data["content"],
            allowed_mentions=body.get("allowed_mentions"),
            components=data["components"],
            payload=body,
            at=time.monotonic(),
        )
        self.messages.append(sent)
        self._sent[sent.id] = (sent, data)
        return data

    def _edit_message(self, channel_id: int, message_id: int, body: dict[str, Any]) -> web.Response:
        """PATCH /channels/{id}/messages/{id}: the bot edits one of its messages."""
        arrived = time.monotonic()
        if channel_id in self.forbidden_channels:
            return _json(MISSING_PERMISSIONS, status=403)
        found = self._sent.get(message_id)
        if found is None or found[0].deleted or found[0].channel_id != channel_id:
            return _json(UNKNOWN_MESSAGE, status=404)
        sent, data = found
        refused = self._rate_limited_edits > 0
        self.edits.append(
            MessageEdit(
                message_id=message_id,
                channel_id=channel_id,
                content=body.get("content"),
                allowed_mentions=body.get("allowed_mentions"),
                payload=body,
                at=arrived,
                status=429 if refused else 200,
            )
        )
        if refused:
            self._rate_limited_edits -= 1
            return _rate_limited(self._edit_retry_after)
        if "content" in body:
            data["content"] = sent.content = body["content"] or ""
        if "components" in body:
            data["components"] = sent.components = body["components"] or []
        data["edited_timestamp"] = datetime.now(UTC).isoformat()
        sent.edit_count += 1
        return _json(data)

    def _delete_message(self, channel_id: int, message_id: int) -> web.Response:
        if channel_id in self.forbidden_channels:
            return _json(MISSING_PERMISSIONS, status=403)
        found = self._sent.get(message_id)
        if found is None or found[0].deleted or found[0].channel_id != channel_id:
            return _json(UNKNOWN_MESSAGE, status=404)
        found[0].deleted = True
        self.deletions.append(message_id)
        history = self.history.get(channel_id, [])
        history[:] = [m for m in history if int(m["id"]) != message_id]
        return web.Response(status=204)

    def _thread_payload(
        self, channel_id: int, thread_id: int, name: str, *, owner_id: int, auto_archive: int = 1440
    ) -> dict[str, Any]:
        return {
            "id": str(thread_id),
            "type": 11,
            "guild_id": str(self.guild_id),
            "parent_id": str(channel_id),
            "owner_id": str(owner_id),
            "name": name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive,
                "archive_timestamp": datetime.now(UTC).isoformat(),
                "locked": False,
            },
        }

    async def _create_thread(self, channel_id: int, message_id: int, body: dict[str, Any]) -> dict[str, Any]:
        # Discord: a thread started from a message has the message's id.
        thread = self._thread_payload(
            channel_id,
            message_id,
            body.get("name", "thread"),
            owner_id=self.bot_user.id,
            auto_archive=int(body.get("auto_archive_duration") or 1440),
        )
        self.threads.append(thread)
        self.channels[message_id] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    def _interaction_callback(self, interaction_id: int, token: str, body: dict[str, Any]) -> web.Response:
        record = self._interactions.get(interaction_id)
        if record is None or record.token != token:
            return _json({"message": "Unknown interaction", "code": 10062}, status=404)
        callback_type = int(body["type"])
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        if callback_type in (4, 5):
            record.ephemeral = bool(flags & EPHEMERAL_FLAG)
            record.original = self._bot_message(record.channel_id, data, flags=flags)
            if callback_type == 5:
                record.original["flags"] |= 128  # LOADING
        elif callback_type == 7 and record.original is not None:
            record.original.update(content=data.get("content", record.original["content"]))
            record.original["components"] = data.get("components", record.original["components"])
        self.interaction_responses.append(
            InteractionResponse(
                interaction_id,
                "callback",
                callback_type,
                data.get("content"),
                flags,
                data.get("components") or [],
                body,
                record.original,
            )
        )
        result: dict[str, Any] = {
            "interaction": {
                "id": str(interaction_id),
                "type": 2,
                "response_message_loading": callback_type == 5,
                "response_message_ephemeral": record.ephemeral,
            }
        }
        if record.original is not None and callback_type in (4, 5, 7):
            result["interaction"]["response_message_id"] = record.original["id"]
            result["resource"] = {"type": callback_type, "message": record.original}
        return _json(result)

    def _followup(self, token: str, body: dict[str, Any], *, wait: bool) -> web.Response | None:
        record = self._interactions_by_token.get(token)
        if record is None:
            return None
        flags = int(body.get("flags") or 0)
        message = self._bot_message(record.channel_id, body, flags=flags)
        self.interaction_responses.append(
            InteractionResponse(
                record.id,
                "followup",
                None,
                body.get("content"),
                flags,
                body.get("components") or [],
                body,
                message,
            )
        )
        return _json(message) if wait else web.Response(status=204)

    def _edit_original(self, token: str, body: dict[str, Any]) -> web.Response | None:
        record = self._interactions_by_token.get(token)
        if record is None:
            return None
        if record.original is None:
            record.original = self._bot_message(record.channel_id, body)
        if "content" in body:
            record.original["content"] = body["content"] or ""
        if "components" in body:
            record.original["components"] = body["components"] or []
        record.original["flags"] &= ~128
        flags = int(record.original["flags"])
        self.interaction_responses.append(
            InteractionResponse(
                record.id,
                "edit_original",
                None,
                record.original["content"],
                flags,
                record.original["components"],
                body,
                record.original,
            )
        )
        return _json(record.original)

"""Logging in to Discord and staying connected to its gateway.

`DISCORD_API_URL` and `DISCORD_GATEWAY_URL` point discord.py elsewhere (the fake Discord
in tests): the REST base through `Route.BASE`, every gateway connection through
`HTTPClient.ws_connect`. The gateway runs in a background task that connects again after
errors discord.py does not handle itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import discord
import yarl

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 60.0
# Errors no retry can fix: the token or the intents are wrong.
_FATAL = (discord.LoginFailure, discord.PrivilegedIntentsRequired)


class ShardingRequired(Exception):
    """Discord recommends `shards` shards for this bot (it is in too many servers for one)."""

    def __init__(self, shards: int) -> None:
        super().__init__(f"Discord recommends {shards} shards")
        self.shards = shards


class GatewayConnection:
    """One client's login and gateway task; `open` returns once READY, `close` undoes it all."""

    def __init__(self, client: discord.Client, *, api_url: str | None, gateway_url: str | None) -> None:
        self._client = client
        self._api_url = api_url
        self._gateway_url = gateway_url
        self._task: asyncio.Task[None] | None = None
        self._saved_route_base: str | None = None

    async def open(self, token: str) -> None:
        """Log in, connect in the background, wait for READY; on any failure, close again."""
        client = self._client
        if self._api_url:
            # Route.BASE is a class attribute shared by REST and webhook (interaction) calls.
            self._saved_route_base = discord.http.Route.BASE
            discord.http.Route.BASE = self._api_url.rstrip("/")
        if self._gateway_url:
            _redirect_gateway(client, self._gateway_url)
        try:
            await client.login(token)
            if not isinstance(client, discord.AutoShardedClient):
                await _check_one_shard_is_enough(client)
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
            await self.close()
            raise

    async def close(self) -> None:
        """Close the gateway and the HTTP session, and put `Route.BASE` back (idempotent)."""
        task, self._task = self._task, None
        await self._client.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._saved_route_base is not None:
            discord.http.Route.BASE = self._saved_route_base
            self._saved_route_base = None


async def _check_one_shard_is_enough(client: discord.Client) -> None:
    """Raise `ShardingRequired` when Discord recommends more than one shard (`/gateway/bot`):
    above about 2,500 servers it refuses a single connection."""
    try:
        shards, _, _ = await client.http.get_bot_gateway()
    except discord.GatewayNotFound:
        log.warning("discord: could not ask how many shards to run; running one")
        return
    if int(shards) > 1:
        raise ShardingRequired(int(shards))


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

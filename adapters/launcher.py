"""Start every configured adapter on one event loop and shut them down gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from contextlib import AsyncExitStack

from adapters.base import Adapter
from bot.event_loop import running_loop_name
from bot.gc_tuning import paused_for_imports, tune_for_serving
from bot.health import health_server
from bot.runtime import Runtime
from config.settings import Settings

log = logging.getLogger(__name__)

NOTHING_CONFIGURED = """No chat platform is configured, so there is nothing to connect to.

To run on Slack, set:
  SLACK_BOT_TOKEN       the bot token (xoxb-...)
  SLACK_APP_TOKEN       the app-level token (xapp-...) for Socket Mode
                        (or SLACK_SIGNING_SECRET instead, for HTTP mode on $PORT)

To run on Discord, set:
  DISCORD_TOKEN         the bot token from the Discord developer portal

To try the bot locally without either, run:
  python -m bot chat"""


def build_adapters(settings: Settings, runtime: Runtime, *, slack_http: bool = False) -> list[Adapter]:
    """One adapter per platform whose credentials are present."""
    adapters: list[Adapter] = []
    if settings.slack_configured:
        with paused_for_imports():
            from adapters.slack import SlackAdapter

        adapters.append(
            SlackAdapter(
                runtime.service, settings, http_mode=True if slack_http else None, health=runtime.health
            )
        )
    if settings.discord_configured:
        with paused_for_imports():
            from adapters.discord import DiscordAdapter

        adapters.append(DiscordAdapter(runtime.service, settings))
    return adapters


async def serve(runtime: Runtime, adapters: list[Adapter], *, stop: asyncio.Event | None = None) -> None:
    """Run `adapters` until SIGTERM/SIGINT (or `stop`), then drain in-flight turns and close."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Not available off the main thread or on some platforms; Ctrl-C still works there.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    started: list[Adapter] = []
    endpoint = AsyncExitStack()
    try:
        _add_checks(runtime, adapters)
        if runtime.settings.bot_health_port is not None:
            await endpoint.enter_async_context(
                health_server(runtime.health, runtime.settings.bot_health_port)
            )
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
            log.info("%s adapter ready", adapter.name)
        tune_for_serving()
        names = ", ".join(adapter.name for adapter in started)
        runtime.health.serving()
        log.info("bot ready: %s (event loop: %s)", names, running_loop_name())
        await stop.wait()
        log.info("shutting down: finishing in-flight turns")
    finally:
        runtime.health.draining()  # readiness says 503 before anything else stops
        runtime.service.stop_accepting()
        await runtime.service.drain(runtime.settings.shutdown_grace_seconds)
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("error while stopping the %s adapter", adapter.name)
        await endpoint.aclose()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


def _add_checks(runtime: Runtime, adapters: list[Adapter]) -> None:
    """Readiness: the database answers, and each adapter that can tell says it is connected."""
    runtime.health.add_check("database", runtime.database_reachable)
    for adapter in adapters:
        connected = getattr(adapter, "connected", None)
        if connected is not None:
            runtime.health.add_check(adapter.name, connected)

"""Start every configured adapter on one event loop and shut them down gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from adapters.base import Adapter
from bot.event_loop import running_loop_name
from bot.gc_tuning import paused_for_imports, tune_for_serving
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

        adapters.append(SlackAdapter(runtime.service, settings, http_mode=True if slack_http else None))
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
    try:
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
            log.info("%s adapter ready", adapter.name)
        tune_for_serving()
        names = ", ".join(adapter.name for adapter in started)
        log.info("bot ready: %s (event loop: %s)", names, running_loop_name())
        await stop.wait()
        log.info("shutting down: finishing in-flight turns")
    finally:
        runtime.service.stop_accepting()
        await runtime.service.drain(runtime.settings.shutdown_grace_seconds)
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("error while stopping the %s adapter", adapter.name)
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)

"""Liveness, readiness and metrics over HTTP, for an orchestrator (`BOT_HEALTH_PORT`).

- `/healthz`: 200 while the process's event loop answers at all (it is alive).
- `/readyz`: 200 only while serving with every check passing (each platform connected, the
  database reachable); 503 while starting, while draining after SIGTERM, or when a check
  fails, with the reason in the JSON body.
- `/metrics`: `bot.metrics` in the Prometheus text format.

In `--slack-http` mode the same routes are also served on `$PORT`, beside Slack's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Literal

from aiohttp import web

from bot.metrics import exposition

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]
Phase = Literal["starting", "serving", "draining"]
CHECK_TIMEOUT_SECONDS = 2.0


class Health:
    """The process's phase and its readiness checks (named async callables returning a bool)."""

    def __init__(self, *, check_timeout: float = CHECK_TIMEOUT_SECONDS) -> None:
        self._phase: Phase = "starting"
        self._checks: dict[str, Check] = {}
        self._timeout = check_timeout

    @property
    def phase(self) -> Phase:
        return self._phase

    def add_check(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def serving(self) -> None:
        """Everything started: readiness now follows the checks."""
        if self._phase == "starting":
            self._phase = "serving"

    def draining(self) -> None:
        """Shutting down: not ready from now on, whatever the checks say."""
        self._phase = "draining"

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        """Whether to send this process traffic, and why (phase and each check's result)."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(self._checks[name]) for name in names))
        checks = dict(zip(names, results, strict=True))
        ready = self._phase == "serving" and all(result == "ok" for result in results)
        return ready, {"ready": ready, "phase": self._phase, "checks": checks}

    async def _run(self, check: Check) -> str:
        try:
            passed = await asyncio.wait_for(check(), self._timeout)
        except TimeoutError:
            return "timeout"
        except Exception as exc:  # noqa: BLE001 - a failing check is an answer, not a crash
            log.debug("readiness check failed: %s", type(exc).__name__)
            return "failing"
        return "ok" if passed else "failing"


def health_routes(health: Health) -> list[web.RouteDef]:
    """The three routes, for any aiohttp application (ours, or the Slack HTTP one)."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"alive": True, "phase": health.phase})

    async def readyz(request: web.Request) -> web.Response:
        ready, body = await health.readiness()
        return web.json_response(body, status=200 if ready else 503)

    async def metrics(request: web.Request) -> web.Response:
        body, content_type = exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    return [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)]


@asynccontextmanager
async def health_server(health: Health, port: int, *, host: str = "0.0.0.0") -> AsyncIterator[int]:
    """Serve `health_routes` on `port` (0: any free port); yields the port it listens on."""
    app = web.Application()
    app.add_routes(health_routes(health))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        # All interfaces by default: the orchestrator probes from outside the container.
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = int(runner.addresses[0][1])
        log.info("health and metrics on port %d (/healthz, /readyz, /metrics)", bound)
        yield bound
    finally:
        await runner.cleanup()

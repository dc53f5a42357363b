"""Health, readiness and metrics over real HTTP (`bot.health`), and the metrics a turn moves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import pytest

from adapters.launcher import serve
from bench.processes import free_port
from bot import metrics
from bot.health import Health, health_server
from bot.runtime import Runtime, open_runtime
from config.settings import Settings
from tests.fakes.openai_server import Fail, FakeOpenAI
from tests.helpers import dm


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


async def test_readiness_follows_the_phase_and_every_check() -> None:
    health = Health(check_timeout=0.2)
    database_up = True
    stuck = asyncio.Event()

    async def database() -> bool:
        if not database_up:
            raise OSError("connection refused")
        return True

    async def slack() -> bool:
        return True

    health.add_check("database", database)
    health.add_check("slack", slack)
    async with health_server(health, 0, host="127.0.0.1") as port:
        assert (await get(port, "/healthz"))[0] == 200
        status, body = await get(port, "/readyz")
        assert status == 503 and '"phase": "starting"' in body  # not ready while starting

        health.serving()
        status, body = await get(port, "/readyz")
        assert status == 200, body
        assert '"database": "ok"' in body and '"slack": "ok"' in body

        database_up = False
        status, body = await get(port, "/readyz")
        assert status == 503 and '"database": "failing"' in body

        database_up = True

        async def hangs() -> bool:
            await stuck.wait()
            return True

        health.add_check("discord", hangs)
        status, body = await get(port, "/readyz")
        assert status == 503 and '"discord": "timeout"' in body  # a hung check cannot hang the probe

        health.add_check("discord", slack)
        assert (await get(port, "/readyz"))[0] == 200
        health.draining()
        status, body = await get(port, "/readyz")
        assert status == 503 and '"phase": "draining"' in body
        assert (await get(port, "/healthz"))[0] == 200  # draining is still alive


async def test_metrics_count_turns_latency_and_model_errors(
    sqlite_runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    labels = {"platform": "console", "outcome": "answered"}
    answered = metrics.sample("bot_turns_total", labels)
    failed = metrics.sample("bot_turns_total", {"platform": "console", "outcome": "failed"})
    empty = metrics.sample("bot_turns_total", {"platform": "console", "outcome": "empty"})
    errors = metrics.sample("bot_model_errors_total")
    latencies = metrics.sample("bot_turn_seconds_count", {"platform": "console"})

    await sqlite_runtime.service.handle(dm("ana", "hello"))
    fake_model.script(Fail(500))
    reply = await sqlite_runtime.service.handle(dm("ana", "and now?"))
    assert reply.failed
    await sqlite_runtime.service.handle(dm("ana", "   "))

    assert metrics.sample("bot_turns_total", labels) == answered + 1
    assert metrics.sample("bot_turns_total", {"platform": "console", "outcome": "failed"}) == failed + 1
    assert metrics.sample("bot_turns_total", {"platform": "console", "outcome": "empty"}) == empty + 1
    assert metrics.sample("bot_model_errors_total") == errors + 1
    assert metrics.sample("bot_turn_seconds_count", {"platform": "console"}) == latencies + 2
    assert metrics.sample("bot_active_threads") == 0  # none running now

    health = Health()
    async with health_server(health, 0, host="127.0.0.1") as port:
        status, text = await get(port, "/metrics")
    assert status == 200
    for name in (
        "bot_turns_total",
        "bot_turn_seconds_bucket",
        "bot_model_errors_total",
        "bot_active_threads",
        "bot_inbox_depth",
        "bot_lease_takeovers_total",
        "process_cpu_seconds_total",
    ):
        assert name in text, name
    assert 'bot_turns_total{outcome="answered",platform="console"}' in text


async def test_active_threads_counts_threads_with_a_turn_running(
    sqlite_runtime: Runtime, fake_model: FakeOpenAI
) -> None:
    fake_model.latency = 0.3
    turns = [
        asyncio.create_task(sqlite_runtime.service.handle(dm(person, "hi"))) for person in ("ana", "bo", "cy")
    ]
    for _ in range(200):
        if metrics.sample("bot_active_threads") == 3:
            break
        await asyncio.sleep(0.01)
    assert metrics.sample("bot_active_threads") == 3
    await asyncio.gather(*turns)
    assert metrics.sample("bot_active_threads") == 0


@pytest.mark.parametrize("path", ["/nope", "/metrics/extra"])
async def test_unknown_paths_are_404(path: str) -> None:
    async with health_server(Health(), 0, host="127.0.0.1") as port:
        assert (await get(port, path))[0] == 404


class SlowAdapter:
    """Starts and stops when the test says, and says whether it is connected."""

    name = "slow"

    def __init__(self) -> None:
        self.may_start = asyncio.Event()
        self.may_stop = asyncio.Event()
        self.stopping = asyncio.Event()
        self.up = False

    async def start(self) -> None:
        await self.may_start.wait()
        self.up = True

    async def connected(self) -> bool:
        return self.up

    async def stop(self) -> None:
        self.stopping.set()
        await self.may_stop.wait()
        self.up = False


async def test_serve_is_ready_only_between_start_up_and_shutdown(
    make_settings: Callable[..., Settings],
) -> None:
    port = free_port()
    async with open_runtime(make_settings(bot_health_port=port)) as runtime:
        adapter = SlowAdapter()
        stop = asyncio.Event()
        serving = asyncio.create_task(serve(runtime, [adapter], stop=stop))
        status, body = await eventually_get(port, "/readyz")
        assert status == 503 and '"phase": "starting"' in body
        assert (await get(port, "/healthz"))[0] == 200

        adapter.may_start.set()
        for _ in range(500):
            if (await get(port, "/readyz"))[0] == 200:
                break
            await asyncio.sleep(0.02)
        status, body = await get(port, "/readyz")
        assert '"database": "ok"' in body and '"slow": "ok"' in body

        stop.set()  # as SIGTERM does
        await adapter.stopping.wait()
        status, body = await get(port, "/readyz")
        assert status == 503 and '"phase": "draining"' in body
        adapter.may_stop.set()
        await serving
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(port, "/healthz")


async def eventually_get(port: int, path: str) -> tuple[int, str]:
    for _ in range(200):
        try:
            return await get(port, path)
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.02)
    raise AssertionError(f"nothing listens on {port}")

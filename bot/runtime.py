"""Wire the core once: storage, model, memory, graph and service, shared by every adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from bot.graph import Limits, build_graph
from bot.health import Health
from bot.history import rewrite_thread, searchable_text
from bot.inbox import Inbox
from bot.inbox_sweeper import open_inbox
from bot.memory import MemoryManager, text_matches
from bot.model import open_model_clients
from bot.service import ChatService
from bot.storage import Storage, open_storage
from bot.workers import WorkerPool, open_worker_pool
from config.settings import Settings


@dataclass(frozen=True, kw_only=True)
class Runtime:
    settings: Settings
    storage: Storage
    service: ChatService
    workers: WorkerPool | None = None
    inbox: Inbox | None = None
    health: Health = field(default_factory=Health)  # /healthz, /readyz, /metrics (`bot.health`)

    @property
    def memories(self) -> MemoryManager:
        return self.service.memories

    async def database_reachable(self) -> bool:
        """One round trip to the database (a readiness check); raises when it cannot be reached."""
        if self.inbox is not None:
            return await self.inbox.ping()
        await self.service.has_thread("health:probe")
        return True


def limits_from(settings: Settings) -> Limits:
    return Limits(
        history_token_budget=settings.history_token_budget,
        memory_token_budget=settings.memory_token_budget,
        max_facts_in_prompt=settings.max_facts_in_prompt,
    )


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    model: BaseChatModel | None = None,
    embeddings: Embeddings | None = None,
) -> AsyncIterator[Runtime]:
    """Open storage and compile the one graph; close everything on exit.

    `model` and `embeddings` default to the ones the settings describe; pass others in
    to run the same core against something else. With `BOT_WORKERS` > 1, turns run in that
    many worker processes (`bot.workers`), which build their own from the settings.
    """
    async with (
        open_model_clients(settings) as clients,
        open_storage(settings.database) as storage,
        open_inbox(
            settings.database,
            lease_seconds=settings.turn_lease_seconds,
            retention_seconds=settings.inbox_retention_seconds,
        ) as inbox,
    ):
        model = model or clients.chat
        embeddings = embeddings or clients.embeddings
        memories = MemoryManager(
            storage.store,
            storage.checkpointer,
            embeddings=embeddings,
            after_erase=storage.purge,
            facts_index=storage.facts,
            links=storage.links,
            dm_visibility=settings.memory_dm_visibility,
        )
        graph = build_graph(
            model=model, memory=memories, checkpointer=storage.checkpointer, limits=limits_from(settings)
        )
        checkpointer = storage.checkpointer

        async def redact(thread_id: str, phrase: str) -> None:
            await rewrite_thread(
                graph, checkpointer, thread_id, lambda message: text_matches(searchable_text(message), phrase)
            )

        memories.use_history_redactor(redact)
        async with AsyncExitStack() as stack:
            workers = None
            if settings.bot_workers > 1:
                workers = await stack.enter_async_context(open_worker_pool(settings, settings.bot_workers))
            service = ChatService(
                graph,
                memories,
                storage.checkpointer,
                max_input_chars=settings.max_input_chars,
                after_turn=storage.prune_thread,
                run_turn=workers.run_turn if workers is not None else None,
                streaming=settings.bot_streaming,
                inbox=inbox,
            )
            yield Runtime(settings=settings, storage=storage, service=service, workers=workers, inbox=inbox)

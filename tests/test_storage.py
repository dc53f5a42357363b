"""The SQLite checkpointer's fast latest-checkpoint load returns exactly what the stock one does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import START, MessagesState, StateGraph

from bot.storage import open_storage
from config.settings import Settings


def _database(tmp_path: Path) -> Any:
    settings = Settings(_env_file=None, openai_api_key="sk-test", database_url=f"sqlite:///{tmp_path}/s.db")  # type: ignore[call-arg]
    return settings.database


async def test_latest_checkpoint_matches_the_stock_saver(tmp_path: Path) -> None:
    async with open_storage(_database(tmp_path)) as storage:
        saver = storage.checkpointer
        assert isinstance(saver, AsyncSqliteSaver)

        async def answer(state: MessagesState) -> dict[str, list[AIMessage]]:
            return {"messages": [AIMessage(f"answer {len(state['messages'])}")]}

        builder = StateGraph(MessagesState)
        builder.add_node("answer", answer)
        builder.add_edge(START, "answer")
        graph = builder.compile(checkpointer=saver)
        config: Any = {"configurable": {"thread_id": "slack:T1:C1:1.2"}}
        for text in ("hello", "again", "and again"):
            await graph.ainvoke({"messages": [HumanMessage(text)]}, config)
        latest = await saver.aget_tuple(config)
        assert latest is not None
        # A write left pending on the latest checkpoint (a turn interrupted after a node ran).
        await saver.aput_writes(latest.config, [("messages", [HumanMessage("pending")])], "task-1")

        lean = await saver.aget_tuple(config)
        stock = await AsyncSqliteSaver.aget_tuple(saver, config)
        assert lean is not None and stock is not None
        assert lean.config == stock.config
        assert lean.parent_config == stock.parent_config
        assert lean.metadata == stock.metadata
        assert lean.checkpoint == stock.checkpoint
        assert lean.pending_writes == stock.pending_writes
        assert [w[1] for w in lean.pending_writes or []] == ["messages"]
        texts = [m.content for m in lean.checkpoint["channel_values"]["messages"]]
        assert texts == ["hello", "answer 1", "again", "answer 3", "and again", "answer 5"]

        # An explicit checkpoint id (browsing history) and an unknown thread behave as stock.
        assert stock.parent_config is not None
        older = await saver.aget_tuple(stock.parent_config)
        assert older is not None and older.config == stock.parent_config
        assert await saver.aget_tuple({"configurable": {"thread_id": "nobody"}}) is None


async def test_saving_writes_the_row_the_stock_saver_writes(tmp_path: Path) -> None:
    async with open_storage(_database(tmp_path)) as storage:
        saver = storage.checkpointer
        assert isinstance(saver, AsyncSqliteSaver)
        builder = StateGraph(MessagesState)

        async def answer(state: MessagesState) -> dict[str, list[AIMessage]]:
            return {"messages": [AIMessage("hi")]}

        builder.add_node("answer", answer)
        builder.add_edge(START, "answer")
        graph = builder.compile(checkpointer=saver)
        source: Any = {"configurable": {"thread_id": "source"}}
        await graph.ainvoke({"messages": [HumanMessage("hello")]}, source)
        saved = await saver.aget_tuple(source)
        assert saved is not None
        rows = {}
        for thread_id, put in (("lean", saver.aput), ("stock", lambda *a: AsyncSqliteSaver.aput(saver, *a))):
            config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
            returned = await put(config, saved.checkpoint, saved.metadata, {})
            assert returned == {
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": "",
                    "checkpoint_id": saved.checkpoint["id"],
                }
            }
            async with saver.conn.execute(
                "SELECT checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata "
                "FROM checkpoints WHERE thread_id = ?",
                (thread_id,),
            ) as cursor:
                rows[thread_id] = await cursor.fetchall()
        assert rows["lean"] == rows["stock"] and len(rows["lean"]) == 1

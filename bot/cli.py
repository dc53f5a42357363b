"""Command line: run the bot, chat in the console, and administer memories.

This is the composition root: it alone picks the adapters to start (imported lazily, so
the core never depends on a platform library).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence

from bot import event_loop
from bot.linking import Linker
from bot.logging_setup import configure_logging
from bot.memory import describe_facts
from bot.runtime import open_runtime
from config.settings import ConfigError, Settings, default_console_user, load_settings, secret_values

log = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="A chat bot that remembers people.")
    parser.add_argument(
        "--slack-http",
        action="store_true",
        help="serve Slack over HTTP on $PORT (signed requests) even if SLACK_APP_TOKEN is set",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="connect to every configured platform (the default)")
    chat = commands.add_parser("chat", help="chat with the bot in this terminal (reads stdin until EOF)")
    chat.add_argument("--user", default=None, help="your name (default: the OS user name)")
    chat.add_argument("--thread", default=None, help="conversation id (default: one per user)")
    memories = commands.add_parser(
        "memories", help="list, export or forget what the bot knows about someone, or unlink their accounts"
    )
    memories.add_argument("action", choices=["list", "export", "forget", "unlink"])
    memories.add_argument("user_id", help="e.g. slack:T123:U456, discord:1234, console:ana")
    memories.add_argument("--phrase", default=None, help="forget only facts matching this phrase")
    memories.add_argument("--yes", action="store_true", help="forget without asking for confirmation")
    return parser


async def _run(settings: Settings, *, slack_http: bool) -> int:
    from adapters.launcher import NOTHING_CONFIGURED, build_adapters, serve

    if not (settings.slack_configured or settings.discord_configured):
        print(NOTHING_CONFIGURED, file=sys.stderr)
        return 2
    async with open_runtime(settings) as runtime:
        await serve(runtime, build_adapters(settings, runtime, slack_http=slack_http))
    log.info("stopped cleanly")
    return 0


async def _chat(settings: Settings, user: str | None, thread: str | None) -> int:
    from adapters.console import ConsoleAdapter

    async with open_runtime(settings) as runtime:
        console = ConsoleAdapter(runtime.service, user_name=user or default_console_user(), thread=thread)
        return await console.run()


async def _memories(settings: Settings, action: str, user_id: str, phrase: str | None, yes: bool) -> int:
    # An admin command runs no turns: no worker processes for it.
    async with open_runtime(settings.model_copy(update={"bot_workers": 1})) as runtime:
        memories = runtime.memories
        if action == "export":
            print(json.dumps(await memories.export(user_id), indent=2, ensure_ascii=False))
            return 0
        if action == "list":
            identities = await memories.identities(user_id)
            if identities:
                linked = ", ".join(f"{i.user_id} ({i.display_name})" for i in identities)
                print(f"linked identities: {linked}")
            facts = await memories.list_facts(user_id)
            for line in describe_facts(facts):
                print(f"- {line}")
            print(f"{len(facts)} fact(s) for {user_id}", file=sys.stderr)
            return 0
        if action == "unlink":
            outcome = await Linker(memories).unlink(user_id)
            if not outcome.others:
                print(f"{user_id} is not linked to any other identity", file=sys.stderr)
                return 1
            others = ", ".join(f"{i.user_id} ({i.display_name})" for i in outcome.others)
            print(f"unlinked {user_id} from {others}")
            return 0
        doomed = await memories.preview_forget(user_id, phrase)
        if not doomed:
            print(f"nothing to forget for {user_id}", file=sys.stderr)
            return 0
        if not yes:
            for line in describe_facts(doomed):
                print(f"- {line}", file=sys.stderr)
            answer = await asyncio.to_thread(
                input, f"Erase these {len(doomed)} fact(s) for {user_id}? [y/N] "
            )
            if answer.strip().lower() not in {"y", "yes"}:
                print("kept everything", file=sys.stderr)
                return 1
        removed = await memories.forget(user_id, phrase)
        print(f"forgot {removed} fact(s) for {user_id}")
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bot` and the `memory-bot` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, secret_values(settings))
        if args.command == "memories":
            # The admin commands never call the model; a key is not required for them.
            if settings.model_endpoint_problem():
                settings = settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1"})
            return event_loop.run(_memories(settings, args.action, args.user_id, args.phrase, args.yes))
        if args.command == "chat":
            _require_model(settings)
            return event_loop.run(_chat(settings, args.user, args.thread))
        if settings.slack_configured or settings.discord_configured:
            _require_model(settings)
        return event_loop.run(_run(settings, slack_http=args.slack_http))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _require_model(settings: Settings) -> None:
    problem = settings.model_endpoint_problem()
    if problem:
        raise ConfigError(problem)

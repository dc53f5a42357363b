"""The fake Slack's AI-app surface: streaming messages, assistant threads and the App Home tab.

Mixed into `FakeSlack`. Implemented Web API methods: `chat.startStream`, `chat.appendStream`,
`chat.stopStream` (a streamed message is a `PostedMessage` with `streaming` True until it is
stopped; in a channel, as on Slack, `recipient_team_id` and `recipient_user_id` are required),
`assistant.threads.setStatus`, `assistant.threads.setSuggestedPrompts` and `views.publish`.

Helpers: `refuse_streaming(error)` (every stream method answers that error, as a workspace or
token without them does), `refuse_status(error)`, `open_home(user)` (the `app_home_opened`
event), `start_assistant_thread(user)`, `click_home(user, action_id, ...)`; records:
`stream_calls`, `statuses`, `suggested_prompts`, `home_views` (user -> last published view).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

JsonDict = dict[str, Any]


class SlackAIApp:
    """Web API methods and event helpers for Slack's AI-app features (a FakeSlack mixin)."""

    # Provided by FakeSlack.
    new_ts: Callable[[], str]
    _message: Callable[[str, str], Any]
    _new_posted: Callable[[str, str, str | None], Any]
    push_envelope: Callable[..., Awaitable[Any]]
    event_callback: Callable[..., JsonDict]
    posted: list[Any]
    team_id: str
    team_domain: str
    api_app_id: str
    _channels: dict[str, JsonDict]
    _ids: itertools.count[int]

    def _init_ai_app(self) -> None:
        self.stream_calls: list[tuple[str, JsonDict]] = []  # (method, args) of every stream call
        self.statuses: list[JsonDict] = []
        self.suggested_prompts: list[JsonDict] = []
        self.home_views: dict[str, JsonDict] = {}
        self._streaming_refused: str | None = None
        self._status_refused: str | None = None

    def refuse_streaming(self, error: str | None = "method_not_supported") -> None:
        """From now on every chat.*Stream call answers `error` (None: serve them again)."""
        self._streaming_refused = error

    def refuse_status(self, error: str | None = "missing_scope") -> None:
        self._status_refused = error

    # ------------------------------------------------------------------ streaming

    @staticmethod
    def _stream_text(args: JsonDict) -> str:
        text = str(args.get("markdown_text") or "")
        chunks = args.get("chunks") or []
        if isinstance(chunks, str):
            chunks = json.loads(chunks)
        for chunk in chunks:
            if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
                text += str(chunk.get("text", ""))
        return text

    def _is_dm(self, channel: str) -> bool:
        known = self._channels.get(channel)
        return bool(known["is_im"]) if known else channel.startswith("D")

    async def _m_chat_startStream(self, args: JsonDict) -> JsonDict:
        self.stream_calls.append(("chat.startStream", args))
        if self._streaming_refused:
            return {"ok": False, "error": self._streaming_refused}
        channel, thread_ts = str(args.get("channel") or ""), args.get("thread_ts")
        if not channel or not thread_ts:
            return {"ok": False, "error": "invalid_arguments"}
        if not self._is_dm(channel) and not (args.get("recipient_team_id") and args.get("recipient_user_id")):
            return {"ok": False, "error": "invalid_arguments"}  # required when streaming in channels
        message = self._new_posted(channel, self._stream_text(args), str(thread_ts))
        message.streaming = True
        return {"ok": True, "channel": channel, "ts": message.ts}

    async def _streamed(self, method: str, args: JsonDict) -> JsonDict:
        self.stream_calls.append((method, args))
        if self._streaming_refused:
            return {"ok": False, "error": self._streaming_refused}
        message = self._message(str(args.get("channel")), str(args.get("ts")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if not message.streaming:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        message.text += self._stream_text(args)
        message.updates += 1
        if method == "chat.stopStream":
            message.streaming = False
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    async def _m_chat_appendStream(self, args: JsonDict) -> JsonDict:
        return await self._streamed("chat.appendStream", args)

    async def _m_chat_stopStream(self, args: JsonDict) -> JsonDict:
        return await self._streamed("chat.stopStream", args)

    # ------------------------------------------------------------------ assistant threads

    async def _m_assistant_threads_setStatus(self, args: JsonDict) -> JsonDict:
        if self._status_refused:
            return {"ok": False, "error": self._status_refused}
        if not args.get("channel_id") or not args.get("thread_ts") or "status" not in args:
            return {"ok": False, "error": "invalid_arguments"}
        self.statuses.append(dict(args, at=time.monotonic()))
        return {"ok": True}

    async def _m_assistant_threads_setSuggestedPrompts(self, args: JsonDict) -> JsonDict:
        prompts = args.get("prompts")
        if isinstance(prompts, str):
            prompts = json.loads(prompts)
        if not args.get("channel_id") or not args.get("thread_ts") or not prompts:
            return {"ok": False, "error": "invalid_arguments"}
        self.suggested_prompts.append(dict(args, prompts=prompts))
        return {"ok": True}

    async def start_assistant_thread(self, user: str, *, channel: str = "D1") -> str:
        """The person opens a new assistant thread in their DM with the app; returns its ts."""
        thread_ts = self.new_ts()
        event = {
            "type": "assistant_thread_started",
            "assistant_thread": {
                "user_id": user,
                "context": {"channel_id": channel, "team_id": self.team_id, "enterprise_id": None},
                "channel_id": channel,
                "thread_ts": thread_ts,
            },
            "event_ts": self.new_ts(),
        }
        await self.push_envelope("events_api", self.event_callback(event))
        return thread_ts

    # ------------------------------------------------------------------ App Home

    async def _m_views_publish(self, args: JsonDict) -> JsonDict:
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        user = str(args.get("user_id") or "")
        if not user or not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        if len(view.get("blocks") or []) > 100:
            return {"ok": False, "error": "invalid_blocks"}  # Slack's limit for a view
        view = dict(view, id=f"V{next(self._ids):08d}")
        self.home_views[user] = view
        return {"ok": True, "view": view}

    async def open_home(self, user: str, *, channel: str = "D1") -> None:
        """The person opens the app's Home tab (`app_home_opened`, tab "home")."""
        event = {"type": "app_home_opened", "user": user, "channel": channel, "tab": "home"}
        event["event_ts"] = self.new_ts()
        await self.push_envelope("events_api", self.event_callback(event))

    def home_buttons(self, user: str) -> list[JsonDict]:
        """Every button in the person's published Home tab, in order."""
        found = []
        for block in (self.home_views.get(user) or {}).get("blocks", []):
            for element in [block.get("accessory"), *block.get("elements", [])]:
                if isinstance(element, dict) and element.get("type") == "button":
                    found.append(dict(element, block_id=block.get("block_id", "b1")))
        return found

    async def click_home(
        self, user: str, action_id: str, *, index: int = 0, as_user: str | None = None
    ) -> None:
        """Press the `index`-th button `action_id` on `user`'s Home tab (as `as_user`, default them)."""
        buttons = [b for b in self.home_buttons(user) if b.get("action_id") == action_id]
        if len(buttons) <= index:
            raise AssertionError(f"no button {action_id!r} #{index} on {user}'s home tab")
        button, view = buttons[index], self.home_views[user]
        presser = as_user or user
        body = {
            "type": "block_actions",
            "user": {"id": presser, "username": presser.lower(), "team_id": self.team_id},
            "api_app_id": self.api_app_id,
            "token": "verification-token",
            "container": {"type": "view", "view_id": view["id"]},
            "trigger_id": f"trig-{next(self._ids)}",
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view,
            "actions": [
                {
                    "action_id": button["action_id"],
                    "block_id": button["block_id"],
                    "text": button.get("text"),
                    "value": button.get("value", ""),
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        await self.push_envelope("interactive", body)

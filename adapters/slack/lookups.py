"""What the Slack adapter reads from the Web API besides events: people's names, channel
names (both cached) and a thread's earlier messages."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.events import SlackEvent, display_name, mentioned_users, prior_from_replies
from bot.messages import PriorMessage

log = logging.getLogger(__name__)

PRIOR_LIMIT = 50


@dataclass
class Workspace:
    """Who the bot is in Slack, learned from `auth.test` when the adapter starts."""

    team_id: str = ""
    bot_user_id: str = ""


class Lookups:
    """Cached `users.info` and `conversations.info`, and `conversations.replies` for context."""

    def __init__(self, client: AsyncWebClient, workspace: Workspace) -> None:
        self._client = client
        self._workspace = workspace
        self._names: dict[str, str] = {}
        self._channel_names: dict[str, str | None] = {}

    async def name(self, user: str) -> str:
        if user not in self._names:
            try:
                response = await self._client.users_info(user=user)
                self._names[user] = display_name(response["user"])
            except SlackApiError as exc:
                log.warning("Slack: users.info failed for %s (%s)", user, exc.response.get("error"))
                return user
        return self._names[user]

    async def names_for(self, users: Sequence[str]) -> dict[str, str]:
        return {user: await self.name(user) for user in dict.fromkeys(users)}

    async def channel_name(self, parsed: SlackEvent) -> str | None:
        if parsed.is_direct or parsed.channel_type == "mpim":
            return None
        if parsed.channel not in self._channel_names:
            try:
                response = await self._client.conversations_info(channel=parsed.channel)
                self._channel_names[parsed.channel] = response["channel"].get("name")
            except SlackApiError as exc:
                log.warning(
                    "Slack: conversations.info failed for %s (%s)", parsed.channel, exc.response.get("error")
                )
                return None
        return self._channel_names[parsed.channel]

    async def prior(self, parsed: SlackEvent) -> list[PriorMessage]:
        """What was said in the thread before the bot was first mentioned there."""
        try:
            response = await self._client.conversations_replies(
                channel=parsed.channel, ts=parsed.thread_ts or parsed.ts, limit=PRIOR_LIMIT
            )
        except SlackApiError as exc:
            log.warning(
                "Slack: conversations.replies failed in %s (%s)", parsed.channel, exc.response.get("error")
            )
            return []
        messages = list(response.get("messages") or [])
        users = [str(m["user"]) for m in messages if m.get("user") and not m.get("bot_id")]
        for message in messages:
            users += mentioned_users(str(message.get("text") or ""))
        names = await self.names_for(users)
        return prior_from_replies(
            messages,
            team_id=self._workspace.team_id,
            bot_user_id=self._workspace.bot_user_id,
            before_ts=parsed.ts,
            names=names,
        )

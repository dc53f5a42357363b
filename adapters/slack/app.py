"""Slack: the Bolt app, its listeners and the connection (Socket Mode, or signed HTTP requests).

Conversations are answered in `conversation`, slash commands and buttons in `commands`;
translation lives in `events` (inbound) and `render` (outbound).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.admission import GuardedClient, SlackInbox
from adapters.slack.commands import SlackCommands
from adapters.slack.conversation import Conversations
from adapters.slack.home import SlackHome
from adapters.slack.lookups import Workspace
from bot.commands import Commands
from bot.health import Health, health_routes
from bot.service import ChatService
from config.settings import ConfigError, Settings

log = logging.getLogger(__name__)

HTTP_PATH = "/slack/events"


class SlackAuthError(RuntimeError):
    """Slack rejected a token; the message names the setting, never its value."""


class _Without(logging.Filter):
    """Drops log records whose message is exactly `message`."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self._message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self._message


async def _ignore() -> None:
    """Acked and nothing more: we read the thread's context when a message comes."""


class SlackAdapter:
    """Answers Slack mentions, thread follow-ups, DMs and the bot's slash commands."""

    name = "slack"

    def __init__(
        self,
        service: ChatService,
        settings: Settings,
        *,
        http_mode: bool | None = None,
        commands: Commands | None = None,
        health: Health | None = None,
    ) -> None:
        """`http_mode` None picks Socket Mode when SLACK_APP_TOKEN is set; True forces HTTP mode.

        `commands` answers slash commands and buttons; by default the service's own. In HTTP
        mode `health`'s /healthz, /readyz and /metrics are served beside Slack's path.
        """
        if settings.slack_bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN is not set (the xoxb- bot token)")
        self.socket_mode = settings.slack_app_token is not None if http_mode is None else not http_mode
        if not self.socket_mode and settings.slack_signing_secret is None:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is not set (needed for HTTP mode; or set SLACK_APP_TOKEN)"
            )
        self.service = service
        self.settings = settings
        self._health = health
        self.workspace = Workspace()
        client_args: dict[str, Any] = {"token": settings.slack_bot_token.get_secret_value()}
        if settings.slack_api_url:
            client_args["base_url"] = settings.slack_api_url.rstrip("/") + "/"
        # Guarded: an answer under an inbox claim posts only while this process holds it.
        self.client: AsyncWebClient = GuardedClient(**client_args)
        self.app = self._bolt_app()
        commands = commands or service.commands
        self.home = SlackHome(commands, self.client, team_id=lambda: self.workspace.team_id)
        self._conversations = Conversations(
            service, self.client, self.workspace, memories_changed=self.home.publish
        )
        # Bolt runs the first listener that matches: the AI-app events, then one catch-all so
        # every event is acked (unhandled ones would be redelivered).
        self.app.event("app_home_opened")(self._on_home_opened)
        self.app.event("assistant_thread_started")(self._on_assistant_thread)
        self.app.event("assistant_thread_context_changed")(_ignore)
        self.app.event(re.compile(".*"))(self._conversations.on_event)
        # Before the ack, every message we answer is recorded in the inbox (when there is one).
        self._inbox = (
            SlackInbox(self._conversations, service.inbox, self.workspace)
            if service.inbox is not None
            else None
        )
        if self._inbox is not None:
            self.app.middleware(self._inbox.middleware)
        SlackCommands(
            commands,
            team_id=lambda: self.workspace.team_id,
            home=self.home,
            name_of=self._conversations.display_name,
        ).register(self.app)
        self._socket: AsyncSocketModeHandler | None = None
        self._http: web.AppRunner | None = None
        self._started = False

    async def _on_home_opened(self, event: dict[str, Any]) -> None:
        await self.home.on_opened(event)

    async def _on_assistant_thread(self, event: dict[str, Any]) -> None:
        await self.home.on_assistant_thread(event)

    @property
    def team_id(self) -> str:
        return self.workspace.team_id

    @property
    def bot_user_id(self) -> str:
        return self.workspace.bot_user_id

    def _bolt_app(self) -> AsyncApp:
        secret = self.settings.slack_signing_secret
        bolt_log = logging.getLogger("slack_bolt")
        # Bolt reads SLACK_BOT_TOKEN from the environment itself and, given a client too, warns
        # at every start that the token "will be unused"; the client carries that same token.
        quiet = _Without(warning_client_prioritized_and_token_skipped())
        bolt_log.addFilter(quiet)
        try:
            return AsyncApp(
                # Without a name, Bolt names the app after its caller's file via inspect.stack(),
                # which reads every frame's source: a quarter of a second of each start-up.
                name="memory-bot",
                client=self.client,
                signing_secret=secret.get_secret_value() if secret else "",
                logger=bolt_log,
            )
        finally:
            bolt_log.removeFilter(quiet)

    async def start(self) -> None:
        """Learn who we are (`auth.test`), then connect; returns once events can arrive."""
        if self._started:
            return
        # Without a session of its own, slack_sdk opens (and closes) a connection for every
        # Web API call: a TCP and TLS handshake with Slack before each reply it posts.
        self.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.client.timeout))
        try:
            await self._connect()
        except BaseException:
            await self._close_session()
            raise
        self._started = True
        if self._inbox is not None:
            self._inbox.start(lambda: self.service.accepting)
        log.info(
            "Slack adapter ready (%s mode, team %s)", "socket" if self.socket_mode else "HTTP", self.team_id
        )

    async def _connect(self) -> None:
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error")
            raise SlackAuthError(f"Slack rejected SLACK_BOT_TOKEN ({error}); check the bot token") from None
        self.workspace.team_id, self.workspace.bot_user_id = str(auth["team_id"]), str(auth["user_id"])
        if self.socket_mode:
            await self._start_socket_mode()
        else:
            await self._start_http_mode()

    async def _close_session(self) -> None:
        session, self.client.session = self.client.session, None
        if session is not None:
            await session.close()

    async def _start_socket_mode(self) -> None:
        assert self.settings.slack_app_token is not None
        app_token = self.settings.slack_app_token.get_secret_value()
        handler = AsyncSocketModeHandler(self.app, app_token, web_client=self.client)
        try:
            # Asked once here so a bad app token fails start() instead of retrying forever.
            handler.client.wss_uri = await handler.client.issue_new_wss_url()
        except SlackApiError as exc:
            await handler.close_async()
            error = exc.response.get("error", "unknown_error")
            raise SlackAuthError(
                f"Slack rejected SLACK_APP_TOKEN ({error}); check the xapp- app token"
            ) from None
        self._socket = handler
        await handler.connect_async()

    async def _start_http_mode(self) -> None:
        async def handle(request: web.Request) -> web.Response:
            # slack_sdk's verifier raises on a non-numeric timestamp (a 500); it is unsigned junk.
            if not request.headers.get("X-Slack-Request-Timestamp", "").isdigit():
                return web.json_response({"error": "invalid request"}, status=401)
            bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(bolt_response)

        web_app = web.Application()
        web_app.router.add_post(HTTP_PATH, handle)
        if self._health is not None:
            web_app.add_routes(health_routes(self._health))
        runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
        await runner.setup()
        # All interfaces: Slack must reach it.
        await web.TCPSite(runner, "0.0.0.0", self.settings.port).start()
        self._http = runner

    async def connected(self) -> bool:
        """Readiness: the Socket Mode websocket is open, or the HTTP endpoint listens."""
        if self._socket is not None:
            return bool(await self._socket.client.is_connected())
        return self._http is not None

    async def stop(self) -> None:
        """Stop taking events, let answers in flight finish (bounded), then close."""
        if self._inbox is not None:
            self._inbox.stop()
        socket, self._socket = self._socket, None
        http, self._http = self._http, None
        if socket is not None:
            await socket.close_async()
        if http is not None:
            await http.cleanup()
        await self._conversations.drain(self.settings.shutdown_grace_seconds)
        await self._close_session()
        self._started = False

"""Build the chat model and (optionally) the embeddings client from settings.

Both talk to the model server through ONE `openai.AsyncOpenAI` client whose HTTP transport is
aiohttp (`openai.DefaultAioHttpClient`), closed when the runtime closes. Two measured choices
(`bench/README.md`, figure 2):

- aiohttp instead of the SDK's default httpx transport: at a few hundred requests in flight
  the httpx pool re-checks every open connection on each request, which costs more than the
  request itself;
- `PreparedChatCompletions` posts the request langchain-openai has already built, skipping the
  SDK's per-call re-validation of it against its TypedDicts (about 2 ms per call, a fifth of a
  turn's CPU at 200 conversations). The bytes on the wire are the same.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import openai
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from openai.resources.chat.completions import AsyncCompletions
from pydantic import SecretStr

from config.settings import ConfigError, Settings

# Local OpenAI-compatible servers (Ollama, vLLM, LM Studio) ignore the key but the client needs one.
_PLACEHOLDER_KEY = SecretStr("not-needed")

# `create()` keyword arguments that are request options rather than body fields.
_OPTION_NAMES = {
    "extra_headers": "headers",
    "extra_query": "params",
    "extra_body": "extra_json",
    "timeout": "timeout",
}


def _given(value: object) -> bool:
    return not isinstance(value, openai.NotGiven | openai.Omit)


class PreparedChatCompletions(AsyncCompletions):
    """`client.chat.completions` for a request that is already plain JSON.

    langchain-openai builds the whole body (messages, tools, settings) as JSON-ready dicts and
    lists; the SDK's `create()` would walk it again against every message and content-part
    TypedDict of the API to apply aliases and formats the chat request does not have. This
    posts it through the client's public `post()` instead, with the same auth, retries,
    timeouts and error handling. The answer comes back as the decoded JSON, which
    langchain-openai reads directly (`_create_chat_result` takes a dict): building the SDK's
    `ChatCompletion` model only for langchain to dump it back to a dict cost more than the
    HTTP call. Streaming and structured-output requests, which the SDK handles specially,
    go through the stock `create()`.
    """

    async def create(self, **params: Any) -> Any:
        if params.get("stream") or _given(params.get("response_format", openai.omit)):
            return await super().create(**params)
        options: Any = {}  # openai's RequestOptions: headers, params, extra_json, timeout
        for argument, option in _OPTION_NAMES.items():
            value = params.pop(argument, None)
            if value is not None and _given(value):
                options[option] = value
        body = {name: value for name, value in params.items() if _given(value)}
        # cast_to=object: the SDK hands back the decoded JSON body as it is.
        return await self._client.post("/chat/completions", cast_to=object, body=body, options=options)


class TurnFreeHttpClient(openai.DefaultAioHttpClient):
    """The SDK's aiohttp-backed HTTP client, sending every request outside the caller's context.

    An asyncio callback keeps the context it was created in, and a turn's context holds its
    whole LangGraph run (config, loaded history, the loop). Two kinds of callback made while
    a request is sent outlive the turn: a cancelled timeout timer stays in the event loop's
    heap until its deadline, and a pooled connection's read callback lives as long as the
    connection. Together they kept one or two finished turns alive per turn in flight
    (`bench/README.md`, figure 6). Sent from an empty context, they hold nothing of a turn.
    """

    async def send(self, request: Any, **kwargs: Any) -> Any:
        exchange = super().send(request, **kwargs)
        # Awaiting the task passes cancellation (timeouts, shutdown) through to it.
        return await asyncio.get_running_loop().create_task(exchange, context=contextvars.Context())


@dataclass(frozen=True)
class ModelClients:
    chat: BaseChatModel
    embeddings: Embeddings | None


def _api_key(settings: Settings) -> SecretStr:
    problem = settings.model_endpoint_problem()
    if problem:
        raise ConfigError(problem)
    return settings.openai_api_key or _PLACEHOLDER_KEY


def _openai_client(settings: Settings) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=_api_key(settings).get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
        http_client=TurnFreeHttpClient(),
    )


def build_chat_model(settings: Settings, client: openai.AsyncOpenAI) -> BaseChatModel:
    """`ChatOpenAI` for `BOT_MODEL` on `client` (which carries base URL, timeout and retries)."""
    return ChatOpenAI(
        model=settings.bot_model,
        api_key=_api_key(settings),
        base_url=settings.openai_base_url,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
        root_async_client=client,
        async_client=PreparedChatCompletions(client),
    )


def build_embeddings(settings: Settings, client: openai.AsyncOpenAI) -> Embeddings | None:
    """`OpenAIEmbeddings` for `BOT_EMBEDDING_MODEL` on `client`, or None when it is not set."""
    if not settings.bot_embedding_model:
        return None
    return OpenAIEmbeddings(
        model=settings.bot_embedding_model,
        api_key=_api_key(settings),
        base_url=settings.openai_base_url,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
        async_client=client.embeddings,
        # The length check tokenizes with tiktoken, which downloads its encodings on first
        # use; facts are short, so skip it and stay fully offline.
        check_embedding_ctx_length=False,
    )


@asynccontextmanager
async def open_model_clients(settings: Settings) -> AsyncIterator[ModelClients]:
    """The chat model and embeddings for `settings`; their HTTP connections close on exit."""
    client = _openai_client(settings)
    try:
        yield ModelClients(
            chat=build_chat_model(settings, client), embeddings=build_embeddings(settings, client)
        )
    finally:
        await client.close()

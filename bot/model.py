"""Build the chat model and (optionally) the embeddings client from settings."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import SecretStr

from config.settings import ConfigError, Settings

# Local OpenAI-compatible servers (Ollama, vLLM, LM Studio) ignore the key but the client needs one.
_PLACEHOLDER_KEY = SecretStr("not-needed")


def _api_key(settings: Settings) -> SecretStr:
    problem = settings.model_endpoint_problem()
    if problem:
        raise ConfigError(problem)
    return settings.openai_api_key or _PLACEHOLDER_KEY


def build_chat_model(settings: Settings) -> BaseChatModel:
    """`ChatOpenAI` for `BOT_MODEL`, honouring `OPENAI_BASE_URL`, with timeouts and retries."""
    return ChatOpenAI(
        model=settings.bot_model,
        api_key=_api_key(settings),
        base_url=settings.openai_base_url,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
    )


def build_embeddings(settings: Settings) -> Embeddings | None:
    """`OpenAIEmbeddings` for `BOT_EMBEDDING_MODEL`, or None when it is not set."""
    if not settings.bot_embedding_model:
        return None
    return OpenAIEmbeddings(
        model=settings.bot_embedding_model,
        api_key=_api_key(settings),
        base_url=settings.openai_base_url,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
        # The length check tokenizes with tiktoken, which downloads its encodings on first
        # use; facts are short, so skip it and stay fully offline.
        check_embedding_ctx_length=False,
    )

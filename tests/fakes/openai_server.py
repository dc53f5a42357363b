"""A fake OpenAI-compatible HTTP server for tests and benchmarks.

The real ``openai`` client and ``langchain_openai`` talk to it through ``base_url``::

    async with FakeOpenAI() as fake:
        llm = ChatOpenAI(model="gpt-4o-mini", base_url=fake.base_url, api_key="sk-test")
        fake.script(Fail(429, retry_after=0.1), Text("hello"))

Chat answers come from the scripted steps first (FIFO, one per chat request), then from
``default_brain``: a deterministic stand-in for a memory-using model. Run it by hand with
``python -m tests.fakes.openai_server --port 8099 --latency 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import math
import re
import struct
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

EMBEDDING_DIM = 64
TOOL_ACK = "Thanks for telling me! I'll remember that."
KNOWN_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")


# --- Scripted steps -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Answer with this assistant text."""

    content: str


@dataclass(frozen=True)
class ToolCalls:
    """Answer with these tool calls, given as (name, arguments); ids are made by the server."""

    calls: list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Fail:
    """Answer with an OpenAI-shaped error (and a Retry-After header when given)."""

    status: int
    retry_after: float | None = None
    message: str = "The fake server was told to fail this request."


@dataclass(frozen=True)
class Hang:
    """Sleep this long, then answer with the brain (to trigger client timeouts)."""

    seconds: float


@dataclass(frozen=True)
class Empty:
    """Answer with empty content and no tool calls."""


@dataclass(frozen=True)
class Drop:
    """Close the connection without sending any HTTP response."""


@dataclass(frozen=True)
class Cut:
    """Stream the first `after` characters of `content`, then fail mid-answer (an error event).

    Without streaming, the connection is dropped before any answer (as with `Drop`).
    """

    content: str
    after: int


Step = Text | ToolCalls | Fail | Hang | Empty | Drop | Cut
Answer = Text | ToolCalls


# --- The default brain ----------------------------------------------------------------------------

_FACT_LINE = re.compile(r"^- \[([A-Za-z0-9_-]+)\] (.+)$", re.MULTILINE)
_TRAILING_TOPIC = re.compile(r"\s*\([^()]*\)\s*$")
_ATTRIBUTION = re.compile(r"^\s*\[[^\]]+\]\s*")
# A dot splits only when followed by space/end, so "v1.2" or "3.5" stay whole.
_CLAUSE_SPLIT = re.compile(r"[.!?;]+(?:\s+|$)|\s+and\s+|,\s+", re.IGNORECASE)
# Clauses must *start* with the statement, so questions like "do I like pizza?" save nothing.
_LEAD = r"^(?:(?:and|also|actually|btw|oh|well|so|now|but|please|hey|hi|hello)\s*,?\s+)*"

# (statement, fact template, topic); the template sees the groups ``x`` (original casing) and ``prep``.
_STATEMENTS = [
    (r"remember (?:that )?(?P<x>.+)", "{x}", "Notes"),
    (
        r"i (?:(?:also|really|still|just|now) )*(?:like|love|prefer|enjoy) (?P<x>.+)",
        "User likes {x}",
        "Preferences",
    ),
    (
        r"i (?:(?:also|really|still|just|now) )*(?:live in|moved to|relocated to) (?P<x>.+)",
        "User lives in {x}",
        "Location",
    ),
    (r"my name is (?P<x>.+)", "User's name is {x}", "Identity"),
    (r"i work (?P<prep>on|at|as) (?P<x>.+)", "User works {prep} {x}", "Work"),
    (r"(?:i['’]?m|i am) allergic to (?P<x>.+)", "User is allergic to {x}", "Health"),
]
_PATTERNS = [
    (re.compile(_LEAD + regex, re.IGNORECASE), template, topic) for regex, template, topic in _STATEMENTS
]


def message_text(content: Any) -> str:
    """Text of a chat message's content (a string, a list of parts, or None)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def known_facts(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(memory id, fact text) pairs listed in the request's system message(s)."""
    system = "\n".join(
        message_text(m.get("content"))
        for m in body.get("messages", [])
        if m.get("role") in ("system", "developer")
    )
    return [(mid, _TRAILING_TOPIC.sub("", text).strip()) for mid, text in _FACT_LINE.findall(system)]


def extract_facts(text: str) -> list[tuple[str, str]]:
    """(fact, topic) pairs stated in a user message, in order."""
    facts = []
    for clause in _CLAUSE_SPLIT.split(_ATTRIBUTION.sub("", text)):
        clause = clause.strip()
        for pattern, template, topic in _PATTERNS:
            if match := pattern.match(clause):
                x = match["x"].strip().rstrip(".,!?;: ")
                fact = template.format(x=x, prep=(match.groupdict().get("prep") or "").lower())
                if fact:
                    facts.append((fact, topic))
                break
    return facts


def default_brain(body: dict[str, Any]) -> Answer:
    """Answer a chat request like a sensible memory-using model, deterministically.

    - After a tool result: ``Text(TOOL_ACK)``.
    - Facts stated by the user (see ``extract_facts``) become ``save_memory(fact, topic)`` calls; a new
      location replaces a known "User lives in ..." fact via ``update_memory(memory_id, fact)``; facts
      already known (case-insensitively) are skipped. Calls to tools the request does not offer are
      dropped (a new location falls back to ``save_memory`` when ``update_memory`` is not offered).
    - Otherwise ``"You said: <text>. I know: <known facts>"`` (or ``"I already know that. I know: ..."``
      when every stated fact was already known).
    """
    messages = body.get("messages", [])
    if messages and messages[-1].get("role") == "tool":
        return Text(TOOL_ACK)
    user_text = next(
        (message_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    text = _ATTRIBUTION.sub("", user_text).strip()
    known = known_facts(body)
    known_lower = {fact.lower() for _, fact in known}
    offered = {t.get("function", {}).get("name") for t in body.get("tools") or []}

    facts = extract_facts(text)
    calls: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for fact, topic in facts:
        if fact.lower() in known_lower or fact.lower() in seen:
            continue
        seen.add(fact.lower())
        old = next((mid for mid, f in known if f.lower().startswith("user lives in")), None)
        if topic == "Location" and old is not None and "update_memory" in offered:
            calls.append(("update_memory", {"memory_id": old, "fact": fact}))
        else:
            calls.append(("save_memory", {"fact": fact, "topic": topic}))
    calls = [call for call in calls if call[0] in offered]
    if calls:
        return ToolCalls(calls)

    summary = "; ".join(fact for _, fact in known) or "nothing about you yet"
    if facts and not seen:
        return Text(f"I already know that. I know: {summary}")
    return Text(f"You said: {text}. I know: {summary}")


# --- Embeddings -----------------------------------------------------------------------------------


def embed(text: str) -> list[float]:
    """Deterministic unit vector: each lower-cased word hashed (with a sign) into 64 buckets."""
    vector = [0.0] * EMBEDDING_DIM
    for token in re.findall(r"[\w']+", text.lower()):
        digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
        vector[digest[0] % EMBEDDING_DIM] += 1.0 if digest[1] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:  # a zero vector would break cosine similarity downstream
        return [1.0] + [0.0] * (EMBEDDING_DIM - 1)
    return [v / norm for v in vector]


def _embedding_inputs(raw: Any) -> list[str]:
    # Besides str / list[str], accept token-id arrays (what langchain sends with ctx-length checks on).
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        return [" ".join(map(str, raw))]
    return [item if isinstance(item, str) else " ".join(map(str, item)) for item in raw or []]


# --- The server -----------------------------------------------------------------------------------


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = {401: "authentication_error", 429: "rate_limit_error", 404: "not_found_error"}.get(status)
    kind = kind or ("server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    return web.json_response(body, status=status, headers=headers)


class FakeOpenAI:
    """OpenAI-compatible server on 127.0.0.1 with recording, scripting and a default brain."""

    def __init__(self, latency: float = 0.0, *, port: int = 0) -> None:
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.embedding_requests: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        self._script: deque[Step] = deque()
        self._ids = itertools.count(1)
        self._port = port
        self._runner: web.AppRunner | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        # Streaming: seconds between chunks, and a gate a test can hold closed to keep a
        # stream waiting after its first piece of text (proof of early text, without timing).
        self.chunk_delay = 0.0
        self.stream_gate: asyncio.Event | None = None

    # -- lifecycle

    async def start(self) -> None:
        """Listen; after a ``stop()`` this binds the same port again."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        # A short shutdown timeout so stop() does not wait for a Hang step to finish.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, reuse_address=True)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and drop open connections (idempotent)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    # -- scripting and assertions

    def script(self, *steps: Step) -> None:
        """Queue steps, consumed one per chat request before the default brain is used."""
        self._script.extend(steps)

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """Make the next ``times`` chat requests fail, ahead of any other scripted steps."""
        self._script.extendleft(Fail(status, retry_after) for _ in range(times))

    def reset(self) -> None:
        """Forget recorded requests and pending scripted steps."""
        self.requests.clear()
        self.embedding_requests.clear()
        self.auth_headers.clear()
        self._script.clear()
        self.max_in_flight = self.in_flight

    def last_request(self) -> dict[str, Any]:
        """The most recent chat request body."""
        assert self.requests, "the fake OpenAI server has not received a chat request"
        return self.requests[-1]

    def system_prompts(self) -> list[str]:
        """The system message text of each chat request, in order ("" when there was none)."""
        return [
            "\n".join(
                message_text(m.get("content")) for m in body.get("messages", []) if m.get("role") == "system"
            )
            for body in self.requests
        ]

    # -- handlers

    async def _read(self, request: web.Request) -> dict[str, Any] | web.Response:
        auth = request.headers.get("Authorization", "")
        self.auth_headers.append(auth)
        if not auth.startswith("Bearer ") or not auth[len("Bearer ") :].strip():
            return _error(401, "Missing bearer authentication in header")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "Request body must be a JSON object")
        return body

    async def _models(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return _error(401, "Missing bearer authentication in header")
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in KNOWN_MODELS]
        return web.json_response({"object": "list", "data": data})

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        self.embedding_requests.append(body)
        texts = _embedding_inputs(body.get("input"))
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embed(text)
            encoded: Any = (
                base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if as_base64 else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(t) // 4 for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        model = body.get("model", "text-embedding-3-small")
        return web.json_response({"object": "list", "data": data, "model": model, "usage": usage})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        # Concurrency is counted so tests can prove turns overlap without timing anything.
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer_chat(request)
        finally:
            self.in_flight -= 1

    async def _answer_chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        self.requests.append(body)
        step = self._script.popleft() if self._script else None
        if isinstance(step, Cut) and body.get("stream"):
            return await self._stream(request, body, step.content, None, cut_after=step.after)
        if isinstance(step, Drop | Cut):
            if request.transport is not None:
                request.transport.close()
            return web.Response()  # writing it fails quietly: the client sees a dropped connection
        if isinstance(step, Fail):
            headers = {"Retry-After": f"{step.retry_after:g}"} if step.retry_after is not None else None
            return _error(step.status, step.message, headers)
        if isinstance(step, Hang):
            await asyncio.sleep(step.seconds)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        answer: Answer
        if isinstance(step, Text | ToolCalls):
            answer = step
        elif isinstance(step, Empty):
            answer = Text("")
        else:
            answer = default_brain(body)
        tool_calls = None
        if isinstance(answer, ToolCalls):
            tool_calls = [
                {
                    "id": f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for name, args in answer.calls
            ]
        content = answer.content if isinstance(answer, Text) else None
        if body.get("stream"):
            return await self._stream(request, body, content, tool_calls)
        message = {"role": "assistant", "content": content, "tool_calls": tool_calls, "refusal": None}
        choice = {
            "index": 0,
            "message": message,
            "finish_reason": "tool_calls" if tool_calls else "stop",
            "logprobs": None,
        }
        return web.json_response(
            {
                **self._envelope(body, "chat.completion"),
                "choices": [choice],
                "usage": _usage(body, content, tool_calls),
            }
        )

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        content: str | None,
        tool_calls: list[dict[str, Any]] | None,
        *,
        cut_after: int | None = None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        envelope = self._envelope(body, "chat.completion.chunk")

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            extra = {"usage": None} if include_usage else {}
            return {**envelope, "choices": [choice], **extra}

        chunks = [chunk({"role": "assistant", "content": "" if content is not None else None})]
        shown = (content or "")[:cut_after] if cut_after is not None else content or ""
        chunks += [chunk({"content": piece}) for piece in _pieces(shown)]
        if cut_after is not None:
            for item in chunks:
                await response.write(f"data: {json.dumps(item)}\n\n".encode())
            # What the API sends when it fails mid-answer: an error event, no finish reason,
            # no [DONE]; then the connection ends.
            error = {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
            }
            await response.write(f"data: {json.dumps({'error': error})}\n\n".encode())
            await response.write_eof()
            return response
        for index, call in enumerate(tool_calls or []):
            name = call["function"]["name"]
            first = {"index": index, "id": call["id"], "type": "function"}
            chunks.append(chunk({"tool_calls": [{**first, "function": {"name": name, "arguments": ""}}]}))
            chunks += [
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                for piece in _pieces(call["function"]["arguments"])
            ]
        chunks.append(chunk({}, "tool_calls" if tool_calls else "stop"))
        if include_usage:
            chunks.append({**envelope, "choices": [], "usage": _usage(body, content, tool_calls)})
        try:
            for index, item in enumerate(chunks):
                await response.write(f"data: {json.dumps(item)}\n\n".encode())
                if index == 1 and self.stream_gate is not None:
                    await self.stream_gate.wait()
                if self.chunk_delay > 0:
                    await asyncio.sleep(self.chunk_delay)
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away mid-stream; nothing to tell it
        return response

    def _envelope(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": kind,
            "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "system_fingerprint": "fp_fake",
        }


def _pieces(text: str, size: int = 12) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def _usage(
    body: dict[str, Any], content: str | None, tool_calls: list[dict[str, Any]] | None
) -> dict[str, int]:
    prompt = sum(len(message_text(m.get("content"))) for m in body.get("messages", [])) // 4
    answer = (content or "") + (json.dumps(tool_calls) if tool_calls else "")
    completion = len(answer) // 4
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _serve(port: int, latency: float) -> None:
    async with FakeOpenAI(latency, port=port) as fake:
        print(f"Fake OpenAI listening on {fake.base_url}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the fake OpenAI server by hand.")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept before each chat answer")
    arguments = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(arguments.port, arguments.latency))

"""A TCP proxy in front of Postgres that counts the round trips each client makes.

Every client message of the wire protocol is read (a type byte and a length); a Sync
(extended protocol: one per statement, or per pipeline) or a simple Query is one round
trip. Connections are grouped by their `application_name` (the inbox's pool names itself,
`bot.postgres_inbox.APPLICATION_NAME`; the storage's does not), so the bench can say what
the inbox adds to a turn. Clients must connect without TLS (`sslmode=disable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

ROUND_TRIPS = {ord("S"), ord("Q")}


class RoundTrips:
    def __init__(self) -> None:
        self.by_application: Counter[str] = Counter()

    def snapshot(self) -> dict[str, int]:
        return dict(self.by_application)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


async def _client_to_server(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counts: RoundTrips
) -> None:
    application = "storage"
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        head = await reader.readexactly(4)
        (length,) = struct.unpack("!i", head)
        startup = await reader.readexactly(length - 4)
        writer.write(head + startup)
        fields = startup[4:].split(b"\0")
        for key, value in zip(fields[::2], fields[1::2], strict=False):
            if key == b"application_name" and value:
                application = value.decode(errors="replace")
        while True:
            kind = await reader.readexactly(1)
            size = await reader.readexactly(4)
            (length,) = struct.unpack("!i", size)
            body = await reader.readexactly(length - 4)
            if kind[0] in ROUND_TRIPS:
                counts.by_application[application] += 1
            writer.write(kind + size + body)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


@asynccontextmanager
async def counting_proxy(dsn: str) -> AsyncIterator[tuple[str, RoundTrips]]:
    """Yields a DSN that goes through the proxy to `dsn`, and its running counts."""
    target = urlsplit(dsn)
    host, port = target.hostname or "127.0.0.1", target.port or 5432
    counts = RoundTrips()

    async def connected(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(host, port)
        await asyncio.gather(
            _client_to_server(client_reader, server_writer, counts),
            _pump(server_reader, client_writer),
        )

    server = await asyncio.start_server(connected, "127.0.0.1", 0)
    proxy_port = server.sockets[0].getsockname()[1]
    netloc = target.netloc.rsplit("@", 1)
    userinfo = netloc[0] + "@" if len(netloc) == 2 else ""
    query = "&".join(part for part in (target.query, "sslmode=disable", "gssencmode=disable") if part)
    proxied = urlunsplit(target._replace(netloc=f"{userinfo}127.0.0.1:{proxy_port}", query=query))
    try:
        yield proxied, counts
    finally:
        server.close()
        await server.wait_closed()

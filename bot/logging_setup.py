"""Logging that can never print a secret, whatever a library puts in a message."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Replaces every known secret value in a record's message and traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg = self._scrub(record.getMessage())
            record.args = None
            if record.exc_info:
                formatter = logging.Formatter()
                record.exc_text = self._scrub(formatter.formatException(record.exc_info))
                record.exc_info = None
        return True


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    """Log to stderr at `level`, with every handler redacting `secrets`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Client libraries log request details at DEBUG; keep them quiet unless asked.
    for noisy in ("httpcore", "httpcore2", "openai", "aiosqlite", "websockets", "discord.gateway"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.INFO))
    # httpx logs every request at INFO: one line per model call is noise (and CPU) in production.
    for per_request in ("httpx", "httpx2"):
        logging.getLogger(per_request).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    # Bolt logs the whole body of a request whose signature fails: people's messages.
    for verifier in ("slack_bolt.RequestVerification", "slack_bolt.AsyncRequestVerification"):
        logging.getLogger(verifier).setLevel(logging.WARNING)

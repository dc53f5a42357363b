"""What an orchestrator scrapes (`/metrics`, `bot.health`): each metric defined here, once.

Each is counted where its event happens: turns, latency, model errors and active threads
in `bot.service`, the inbox's depth and lease take-overs in `bot.inbox`. They live in
prometheus_client's default registry, so `generate_latest()` serves them with the
process's own (CPU, memory, open files).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

# Turn outcomes: answered; failed (the model or the turn broke: the person got an apology);
# empty (no text to answer); closing (arrived while the process was draining).
OUTCOMES = ("answered", "failed", "empty", "closing")

TURNS = Counter("bot_turns", "Turns handled, by platform and outcome.", ["platform", "outcome"])
TURN_SECONDS = Histogram(
    "bot_turn_seconds",
    "Seconds from a turn's start to its reply (model time included).",
    ["platform"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
MODEL_ERRORS = Counter("bot_model_errors", "Turns whose model call failed (the person got an apology).")
ACTIVE_THREADS = Gauge("bot_active_threads", "Threads with a turn running or waiting in this process.")
INBOX_DEPTH = Gauge("bot_inbox_depth", "Messages recorded and not yet answered, in every process.")
INBOX_DUPLICATES = Counter(
    "bot_inbox_duplicates", "Deliveries of a message already recorded (not answered again).", ["platform"]
)
LEASE_TAKEOVERS = Counter(
    "bot_lease_takeovers", "Messages taken over from a process whose lease ran out.", ["platform"]
)


def exposition() -> tuple[bytes, str]:
    """The current values in the Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    """One sample's current value (0 when it has none yet); for tests and the bench."""
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(name, labels or {})
    return float(value) if value is not None else 0.0

"""What a button's value carries: who it is for and what it acts on, nothing secret.

Values are self-contained JSON, so any bot process can act on a press. They need no
signature: a press is carried out only for the person it names, and only the platform
(which authenticates the presser) can deliver one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ButtonValue:
    owner: str
    phrase: str | None = None
    fact_id: str | None = None
    expires_at: float | None = None

    def encode(self) -> str:
        data: dict[str, object] = {"o": self.owner}
        if self.phrase is not None:
            data["p"] = self.phrase
        if self.fact_id is not None:
            data["f"] = self.fact_id
        if self.expires_at is not None:
            data["x"] = round(self.expires_at, 3)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def parse_value(value: str) -> ButtonValue | None:
    """The `ButtonValue` in a button's value; None when the value is not one of ours."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("o"), str) or not data["o"]:
        return None
    phrase, fact_id, expires_at = data.get("p"), data.get("f"), data.get("x")
    if expires_at is not None and (not isinstance(expires_at, int | float) or isinstance(expires_at, bool)):
        return None
    return ButtonValue(
        owner=data["o"],
        phrase=phrase if isinstance(phrase, str) and phrase else None,
        fact_id=fact_id if isinstance(fact_id, str) and fact_id else None,
        expires_at=float(expires_at) if expires_at is not None else None,
    )

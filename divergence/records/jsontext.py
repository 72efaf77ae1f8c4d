"""JSON in and out without losing a digit.

orjson is fast but turns integers beyond 64 bits into floats, which would make two
different big numbers look equal; such texts (rare) go through the exact stdlib parser.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(rb"\d{19}")


def loads(text: str | bytes) -> Any:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _LONG_DIGITS.search(raw):
        return json.loads(raw)
    return orjson.loads(raw)


def canonical(value: Any) -> str:
    """One text for one JSON value: sorted keys, no spaces, exact numbers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)

"""Small builders for tests: stream entries the way a TypeScript writer sends them."""

from __future__ import annotations

import orjson

from divergence.model import StreamEntry


def entry(stream_id: str, key: str = "webhook:events", **fields) -> StreamEntry:
    pairs = []
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            value = orjson.dumps(value).decode()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        raw = value if isinstance(value, bytes) else str(value).encode()
        pairs.append((name.encode(), raw))
    return StreamEntry(stream_id, tuple(pairs), key)

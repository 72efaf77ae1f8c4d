"""CB's side, live: one or more Redis stream keys read with XRANGE / XREVRANGE pages.

Entries are read as raw field/value pairs (DESIGN 9): a field sent twice stays twice and
bytes that are not UTF-8 survive. Only read commands are sent; nothing is ever written.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from itertools import islice
from urllib.parse import unquote, urlsplit

import redis
import redis.exceptions

from divergence.errors import SourceUnreachable, UsageError
from divergence.model import StreamEntry, stream_id_key
from divergence.sources.urls import mask_url

MAX_SEQ = 18446744073709551615  # the largest sequence part of a stream id (2**64 - 1)
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 30


def _raw_reply(response, **_options):
    """Keep XRANGE / XREVRANGE replies as Redis sent them: [[id, [f1, v1, f2, v2, ...]], ...]."""
    return response


def _entry(key: str, item) -> StreamEntry:
    raw_id, flat = item
    flat = flat or []
    pairs = tuple(zip(flat[0::2], flat[1::2]))
    return StreamEntry(stream_id=raw_id.decode("ascii"), fields=pairs, key=key)


def _order(entry: StreamEntry) -> tuple[tuple[int, int], str]:
    return entry.order


def _after(stream_id: str) -> str:
    """The smallest id greater than `stream_id` (works on every Redis with streams)."""
    ms, seq = stream_id_key(stream_id)
    return f"{ms + 1}-0" if seq == MAX_SEQ else f"{ms}-{seq + 1}"


def _before(stream_id: str) -> str | None:
    """The largest id smaller than `stream_id`, None before the very first possible id."""
    ms, seq = stream_id_key(stream_id)
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-{MAX_SEQ}" if ms > 0 else None


class RedisStream:
    """StreamSource over live Redis stream keys, merged in stream-id order, read lazily in pages.

    `pages_read` counts the XRANGE / XREVRANGE commands sent, so a caller can see how much
    was read (and a test can prove that stopping early reads no further).
    """

    def __init__(self, url: str, keys: Sequence[str], page_size: int = 1000) -> None:
        if isinstance(keys, str):
            keys = [keys]
        if not keys:
            raise UsageError("no Redis stream key to read")
        if page_size < 1:
            raise UsageError(f"stream page size must be at least 1, got {page_size}")
        self.url = url
        self.keys = list(keys)
        self.page_size = page_size
        self.pages_read = 0
        self._client: redis.Redis | None = None

    # -- StreamSource -----------------------------------------------------

    def read_range(self, start_ms: int, end_ms: int) -> Iterator[StreamEntry]:
        if end_ms <= start_ms:
            return iter(())
        streams = [self._forward(key, f"{start_ms}-0", f"{end_ms - 1}-{MAX_SEQ}") for key in self.keys]
        return heapq.merge(*streams, key=_order)

    def read_reverse(self, end_ms: int) -> Iterator[list[StreamEntry]]:
        if end_ms <= 0:
            return
        last = f"{end_ms - 1}-{MAX_SEQ}"
        if len(self.keys) == 1:
            yield from self._backward_pages(self.keys[0], last)
            return
        streams = [self._backward(key, last) for key in self.keys]
        merged = heapq.merge(*streams, key=_order, reverse=True)
        while page := list(islice(merged, self.page_size)):
            yield page

    def first_ms(self) -> int | None:
        firsts = []
        for key in self.keys:
            reply = self._command("XRANGE", key, "-", "+", "COUNT", 1)
            if reply:
                firsts.append(_entry(key, reply[0]).ms)
        return min(firsts, default=None)

    def describe(self) -> str:
        return f"{mask_url(self.url)} keys {', '.join(self.keys)}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- pages ------------------------------------------------------------

    def _forward(self, key: str, low: str, high: str) -> Iterator[StreamEntry]:
        """Entries of one key with ids in [low, high], oldest first, one page at a time."""
        while True:
            reply = self._command("XRANGE", key, low, high, "COUNT", self.page_size)
            for item in reply:
                yield _entry(key, item)
            if len(reply) < self.page_size:
                return
            low = _after(reply[-1][0].decode("ascii"))

    def _backward_pages(self, key: str, high: str) -> Iterator[list[StreamEntry]]:
        """Pages of one key with ids <= high, newest first."""
        while True:
            reply = self._command("XREVRANGE", key, high, "-", "COUNT", self.page_size)
            if reply:
                yield [_entry(key, item) for item in reply]
            if len(reply) < self.page_size:
                return
            high = _before(reply[-1][0].decode("ascii"))
            if high is None:
                return

    def _backward(self, key: str, high: str) -> Iterator[StreamEntry]:
        for page in self._backward_pages(key, high):
            yield from page

    # -- Redis ------------------------------------------------------------

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            try:
                client = redis.Redis.from_url(
                    self.url,
                    decode_responses=False,
                    socket_connect_timeout=CONNECT_TIMEOUT_S,
                    socket_timeout=READ_TIMEOUT_S,
                )
            except ValueError as exc:
                raise UsageError(f"bad Redis URL {mask_url(self.url)}: {exc}") from None
            client.set_response_callback("XRANGE", _raw_reply)
            client.set_response_callback("XREVRANGE", _raw_reply)
            self._client = client
        return self._client

    def _command(self, *args):
        name, key = args[0], args[1]
        try:
            reply = self.client.execute_command(*args)
        except redis.exceptions.ResponseError as exc:
            if str(exc).startswith("WRONGTYPE"):
                raise SourceUnreachable(
                    f"Redis {mask_url(self.url)}: key {key!r} is a {self._type_of(key)}, not a stream"
                ) from None
            if isinstance(exc, redis.exceptions.NoPermissionError):
                raise self._unreachable(exc) from None
            raise SourceUnreachable(
                f"Redis {mask_url(self.url)} refused {name} on {key!r}: {_reason(exc, self.url)}"
            ) from None
        except (redis.exceptions.RedisError, OSError) as exc:
            raise self._unreachable(exc) from None
        if name in ("XRANGE", "XREVRANGE"):
            self.pages_read += 1
        return reply

    def _type_of(self, key: str) -> str:
        try:
            kind = self.client.type(key)
        except (redis.exceptions.RedisError, OSError):
            return "key of another type"
        return kind.decode() if isinstance(kind, bytes) else str(kind)

    def _unreachable(self, exc: BaseException) -> SourceUnreachable:
        return SourceUnreachable(f"cannot read Redis {mask_url(self.url)}: {_reason(exc, self.url)}")


def _reason(exc: BaseException, url: str = "") -> str:
    """One line saying what went wrong, never the password."""
    if isinstance(exc, redis.exceptions.AuthenticationError):
        text = f"authentication failed ({exc})"
    elif isinstance(exc, redis.exceptions.TimeoutError):
        text = f"timed out ({exc})"
    elif isinstance(exc, redis.exceptions.InvalidResponse):
        text = f"not a Redis server? ({exc})"
    else:
        text = str(exc) or type(exc).__name__
    text = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    password = _password(url)
    return text.replace(password, "****") if password else text


def _password(url: str) -> str | None:
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None

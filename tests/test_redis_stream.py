"""RedisStream against a real Redis: paging, window edges, merging, raw pairs, errors."""

from __future__ import annotations

import uuid

import pytest
import redis

from divergence.errors import SourceUnreachable
from divergence.sources.redis_stream import RedisStream

BASE = 1764579600000  # 2025-12-01T09:00:00Z


@pytest.fixture
def client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def new_key(client):
    """Factory for unique stream keys; every key made is deleted after the test."""
    made: list[str] = []
    prefix = f"test:divergence:{uuid.uuid4().hex[:12]}"

    def make(suffix: str = "events") -> str:
        made.append(f"{prefix}:{suffix}")
        return made[-1]

    yield make
    if made:
        client.delete(*made)


@pytest.fixture
def open_stream(redis_url):
    opened: list[RedisStream] = []

    def open_(keys, page_size=1000, url=None):
        opened.append(RedisStream(url or redis_url, keys, page_size=page_size))
        return opened[-1]

    yield open_
    for stream in opened:
        stream.close()


def xadd(client, key: str, stream_id: str, *pairs) -> None:
    """XADD the way the TypeScript writer does: explicit id, every value a string (or raw bytes)."""
    client.execute_command("XADD", key, stream_id, *[p for pair in pairs for p in pair])


def delivery(event_id: str, **extra: str) -> list[tuple[str, str]]:
    fields = {"stripe_event_id": event_id, "event_type": "invoice.payment_succeeded",
              "result": "processed", "duration_ms": "42", "dedup": "miss", "mode": "shadow", **extra}
    return list(fields.items())


def ids(entries) -> list[str]:
    return [e.stream_id for e in entries]


def test_read_range_pages_return_exactly_the_window_end_excluded(client, new_key, open_stream):
    key = new_key()
    all_ids = [f"{BASE - 1}-0", f"{BASE}-0", f"{BASE}-1", f"{BASE}-2", f"{BASE + 1}-0",
               f"{BASE + 999}-0", f"{BASE + 999}-7", f"{BASE + 1000}-0", f"{BASE + 1001}-0"]
    for n, stream_id in enumerate(all_ids):
        xadd(client, key, stream_id, *delivery(f"evt_{n}"))
    stream = open_stream([key], page_size=2)

    entries = list(stream.read_range(BASE, BASE + 1000))

    assert ids(entries) == [f"{BASE}-0", f"{BASE}-1", f"{BASE}-2", f"{BASE + 1}-0",
                            f"{BASE + 999}-0", f"{BASE + 999}-7"]
    # 6 entries in pages of 2: three full pages, then one empty page ends the read.
    assert stream.pages_read == 4
    first = entries[0]
    assert first.key == key
    assert first.ms == BASE
    assert first.fields == (
        (b"stripe_event_id", b"evt_1"), (b"event_type", b"invoice.payment_succeeded"),
        (b"result", b"processed"), (b"duration_ms", b"42"), (b"dedup", b"miss"), (b"mode", b"shadow"),
    )


def test_read_range_same_millisecond_sequences_across_pages(client, new_key, open_stream):
    key = new_key()
    for seq in range(5):
        xadd(client, key, f"{BASE}-{seq}", ("stripe_event_id", f"evt_{seq}"))
    xadd(client, key, f"{BASE + 1}-0", ("stripe_event_id", "evt_next_ms"))
    stream = open_stream([key], page_size=2)

    assert ids(stream.read_range(BASE, BASE + 1)) == [f"{BASE}-{seq}" for seq in range(5)]
    assert ids(stream.read_range(BASE + 1, BASE + 2)) == [f"{BASE + 1}-0"]
    assert ids(stream.read_range(BASE - 10, BASE)) == []
    assert ids(stream.read_range(BASE + 1, BASE + 1)) == []


def test_read_reverse_pages_newest_first_and_excludes_end(client, new_key, open_stream):
    key = new_key()
    for n in range(7):
        xadd(client, key, f"{BASE + n}-0", ("stripe_event_id", f"evt_{n}"))
    xadd(client, key, f"{BASE + 7}-0", ("stripe_event_id", "evt_at_end"))
    stream = open_stream([key], page_size=3)

    pages = [ids(page) for page in stream.read_reverse(BASE + 7)]

    assert pages == [
        [f"{BASE + 6}-0", f"{BASE + 5}-0", f"{BASE + 4}-0"],
        [f"{BASE + 3}-0", f"{BASE + 2}-0", f"{BASE + 1}-0"],
        [f"{BASE}-0"],
    ]
    assert stream.pages_read == 3


def test_read_reverse_stopping_early_reads_no_further(client, new_key, open_stream):
    key = new_key()
    for n in range(10):
        xadd(client, key, f"{BASE + n}-0", ("stripe_event_id", f"evt_{n}"))
    stream = open_stream([key], page_size=2)

    pages = stream.read_reverse(BASE + 100)
    assert stream.pages_read == 0  # nothing is read before the caller asks
    first = next(pages)
    pages.close()

    assert ids(first) == [f"{BASE + 9}-0", f"{BASE + 8}-0"]
    assert stream.pages_read == 1


def test_read_reverse_walks_back_through_sequences(client, new_key, open_stream):
    key = new_key()
    for seq in range(4):
        xadd(client, key, f"{BASE}-{seq}", ("n", str(seq)))
    xadd(client, key, f"{BASE + 1}-0", ("n", "late"))
    stream = open_stream([key], page_size=3)

    pages = [ids(page) for page in stream.read_reverse(BASE + 1)]

    assert pages == [[f"{BASE}-3", f"{BASE}-2", f"{BASE}-1"], [f"{BASE}-0"]]


def test_two_keys_merge_in_stream_id_order(client, new_key, open_stream):
    key_a, key_b = new_key("a"), new_key("b")
    for stream_id in (f"{BASE}-0", f"{BASE + 2}-0", f"{BASE + 4}-0"):
        xadd(client, key_a, stream_id, ("stripe_event_id", "evt_a"))
    for stream_id in (f"{BASE + 1}-0", f"{BASE + 2}-0", f"{BASE + 3}-5"):
        xadd(client, key_b, stream_id, ("stripe_event_id", "evt_b"))
    stream = open_stream([key_b, key_a], page_size=2)

    forward = [(e.stream_id, e.key) for e in stream.read_range(BASE, BASE + 10)]

    assert forward == [
        (f"{BASE}-0", key_a), (f"{BASE + 1}-0", key_b), (f"{BASE + 2}-0", key_a),
        (f"{BASE + 2}-0", key_b), (f"{BASE + 3}-5", key_b), (f"{BASE + 4}-0", key_a),
    ]

    stream = open_stream([key_b, key_a], page_size=2)
    pages = stream.read_reverse(BASE + 10)
    first = next(pages)
    assert [(e.stream_id, e.key) for e in first] == [(f"{BASE + 4}-0", key_a), (f"{BASE + 3}-5", key_b)]
    assert stream.pages_read == 2  # one page from each key, nothing more
    rest = [(e.stream_id, e.key) for page in pages for e in page]
    assert rest == [(f"{BASE + 2}-0", key_b), (f"{BASE + 2}-0", key_a), (f"{BASE + 1}-0", key_b),
                    (f"{BASE}-0", key_a)]


def test_duplicated_field_survives_as_two_pairs(client, new_key, open_stream):
    key = new_key()
    client.execute_command("XADD", key, "*", "a", "1", "a", "2")
    stream = open_stream([key])

    (entry,) = stream.read_range(0, 2**62)

    assert entry.fields == ((b"a", b"1"), (b"a", b"2"))


def test_non_utf8_bytes_survive(client, new_key, open_stream):
    key = new_key()
    xadd(client, key, f"{BASE}-0", (b"\x80field", b"caf\xe9 \xff\xfe"), ("error", ""))
    stream = open_stream([key])

    (entry,) = stream.read_range(BASE, BASE + 1)

    assert entry.fields == ((b"\x80field", b"caf\xe9 \xff\xfe"), (b"error", b""))


def test_missing_key_reads_as_empty(new_key, open_stream):
    stream = open_stream([new_key()])

    assert list(stream.read_range(0, 2**62)) == []
    assert list(stream.read_reverse(2**62)) == []
    assert stream.first_ms() is None


@pytest.mark.parametrize(("command", "kind"), [
    (("SET", "x"), "string"), (("HSET", "f", "v"), "hash"), (("RPUSH", "v"), "list"),
])
def test_wrong_type_key_is_unreachable_with_its_type(client, new_key, open_stream, command, kind):
    key = new_key()
    client.execute_command(command[0], key, *command[1:])
    stream = open_stream([key])

    with pytest.raises(SourceUnreachable) as caught:
        list(stream.read_range(0, 2**62))

    assert f"key '{key}' is a {kind}, not a stream" in str(caught.value)
    with pytest.raises(SourceUnreachable, match="not a stream"):
        stream.first_ms()


def test_unreachable_port_names_masked_url_never_password():
    stream = RedisStream("redis://:s3cret@127.0.0.1:1/0", ["webhook:events"])

    with pytest.raises(SourceUnreachable) as caught:
        list(stream.read_range(BASE, BASE + 1000))

    message = str(caught.value)
    assert "s3cret" not in message
    assert "redis://:****@127.0.0.1:1/0" in message
    assert "refused" in message.lower()
    assert "\n" not in message
    with pytest.raises(SourceUnreachable):
        next(stream.read_reverse(BASE))
    with pytest.raises(SourceUnreachable):
        stream.first_ms()


def test_bad_credentials_are_unreachable_without_password(redis_url):
    host = redis_url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    stream = RedisStream(f"redis://nobody-{uuid.uuid4().hex[:6]}:s3cret@{host}/0", ["webhook:events"])

    with pytest.raises(SourceUnreachable) as caught:
        stream.first_ms()

    message = str(caught.value)
    assert "s3cret" not in message
    assert "authentication failed" in message
    assert ":****@" in message


def test_first_ms_is_the_oldest_entry_across_keys(client, new_key, open_stream):
    key_a, key_b, missing = new_key("a"), new_key("b"), new_key("missing")
    xadd(client, key_a, f"{BASE + 5}-0", ("n", "1"))
    xadd(client, key_a, f"{BASE + 9}-0", ("n", "2"))
    xadd(client, key_b, f"{BASE + 2}-3", ("n", "3"))
    stream = open_stream([key_a, missing, key_b])

    assert stream.first_ms() == BASE + 2


def test_describe_masks_the_password():
    stream = RedisStream("redis://app:s3cret@redis.internal:6379/2", ["webhook:events", "webhook:events:eu"])

    assert stream.describe() == "redis://app:****@redis.internal:6379/2 keys webhook:events, webhook:events:eu"

"""A saved window of both sides, readable by every command with no servers.

Layout (DESIGN 9): `manifest.json`, `stream.jsonl` (stream id + raw field pairs;
base64 for bytes that are not UTF-8) and `legacy.jsonl` (rows with type-tagged values).
"""

from __future__ import annotations

import base64
import binascii
import re
import hashlib
import os
import shutil
import tempfile
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from divergence.errors import SourceUnreachable, UsageError
from divergence.model import StreamEntry
from divergence.timeparse import to_aware

SCHEMA_VERSION = 1
PAGE = 1000
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


# -- values ---------------------------------------------------------------

def _encode_bytes(raw: bytes) -> Any:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(raw).decode("ascii")}


def _decode_bytes(value: Any) -> bytes:
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return value.encode("utf-8")


def encode_value(value: Any) -> Any:
    """A SQL value as JSON that keeps its type (DECIMAL stays exact, DATETIME stays naive)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return {"$float": repr(value)}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$seconds": value.total_seconds()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (dict, list)):
        return {"$json": value}
    return {"$str": str(value)}


def decode_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise ValueError(f"a tagged value has one key, not {len(value)}")
    (tag, raw), = value.items()
    if tag == "$float":
        return float(raw)
    if tag == "$decimal":
        return Decimal(raw)
    if tag == "$datetime":
        return datetime.fromisoformat(raw)
    if tag == "$date":
        return date.fromisoformat(raw)
    if tag == "$time":
        return time.fromisoformat(raw)
    if tag == "$seconds":
        return timedelta(seconds=raw)
    if tag == "$bytes":
        return base64.b64decode(raw)
    if tag in ("$json", "$str"):
        return raw
    raise ValueError(f"unknown value tag {tag!r}")


# -- reading --------------------------------------------------------------

@dataclass
class Manifest:
    path: Path
    data: dict[str, Any]

    @property
    def as_of(self) -> datetime:
        return datetime.fromisoformat(self.data["as_of"])

    @property
    def window_start(self) -> datetime:
        return datetime.fromisoformat(self.data["window"]["start"])

    @property
    def window_end(self) -> datetime:
        return datetime.fromisoformat(self.data["window"]["end"])

    @property
    def database_timezone(self) -> str:
        return self.data.get("database_timezone", "UTC")


def read_manifest(folder: Path) -> Manifest:
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceUnreachable(f"{folder}: not a snapshot folder" + (" (it is a file)" if folder.exists() else
                                                                       " (it does not exist)"))
    path = folder / "manifest.json"
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise SourceUnreachable(f"{path}: not a snapshot (no manifest.json)") from None
    except OSError as exc:
        raise SourceUnreachable(f"{path}: cannot read ({exc.strerror})") from None
    except orjson.JSONDecodeError as exc:
        raise SourceUnreachable(f"{path}: manifest is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SourceUnreachable(f"{path}: manifest is not a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SourceUnreachable(f"{path}: snapshot schema_version {version!r}, this divergence reads {SCHEMA_VERSION}")
    manifest = Manifest(path, data)
    try:
        times = (manifest.as_of, manifest.window_start, manifest.window_end)
        ZoneInfo(manifest.database_timezone)
    except (KeyError, TypeError, ValueError, ZoneInfoNotFoundError) as exc:
        raise SourceUnreachable(f"{path}: manifest lacks a valid as_of, window or database_timezone ({exc!r})") from None
    if any(t.tzinfo is None for t in times):
        raise SourceUnreachable(f"{path}: manifest times must carry a time zone (…Z)")
    return manifest


def _manifest_digest(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "manifest_sha256"}
    return "sha256:" + hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def verify(manifest: Manifest) -> None:
    """The files are whole: a truncated or edited snapshot would give silently wrong figures."""
    if manifest.data.get("manifest_sha256") != _manifest_digest(manifest.data):
        raise SourceUnreachable(f"{manifest.path}: does not match its own checksum (edited?)")
    for name, count_key in (("stream.jsonl", "stream_entries"), ("legacy.jsonl", "legacy_rows")):
        path = manifest.path.parent / name
        expected = manifest.data.get("checksums", {}).get(name)
        if expected is None:
            raise SourceUnreachable(f"{manifest.path}: no checksum for {name}")
        digest, lines = hashlib.sha256(), 0
        try:
            with path.open("rb") as handle:
                for line in handle:
                    digest.update(line)
                    lines += 1
        except OSError as exc:
            raise SourceUnreachable(f"{path}: cannot read ({exc.strerror})") from None
        if "sha256:" + digest.hexdigest() != expected or lines != manifest.data.get("counts", {}).get(count_key):
            raise SourceUnreachable(f"{path}: does not match the checksum in manifest.json (truncated or edited?)")


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise SourceUnreachable(f"{path}: missing from the snapshot") from None
    except OSError as exc:
        raise SourceUnreachable(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise SourceUnreachable(f"{path}:{number}: not a JSON line ({exc})") from None


class SnapshotStream:
    """The stream side of a snapshot, with the same paging behaviour as Redis."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        path = self.folder / "stream.jsonl"
        entries = []
        for number, item in _read_jsonl(path):
            try:
                fields = tuple((_decode_bytes(k), _decode_bytes(v)) for k, v in item["fields"])
                if not _STREAM_ID.match(item["id"]):
                    raise ValueError(f"stream id {item['id']!r}")
                entries.append(StreamEntry(item["id"], fields, str(item.get("key", "webhook:events"))))
            except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
                raise SourceUnreachable(f"{path}:{number}: not a stream entry ({exc!r})") from None
        entries.sort(key=lambda e: e.order)
        self._entries = entries
        self._ms = [e.ms for e in entries]

    def read_range(self, start_ms: int, end_ms: int) -> Iterator[StreamEntry]:
        lo, hi = bisect_left(self._ms, start_ms), bisect_left(self._ms, end_ms)
        yield from self._entries[lo:hi]

    def read_reverse(self, end_ms: int) -> Iterator[list[StreamEntry]]:
        hi = bisect_left(self._ms, end_ms)
        while hi > 0:
            lo = max(0, hi - PAGE)
            yield self._entries[lo:hi][::-1]
            hi = lo

    def first_ms(self) -> int | None:
        return self._ms[0] if self._ms else None

    def describe(self) -> str:
        return f"snapshot {self.folder}"


class SnapshotLegacy:
    """The legacy side of a snapshot: rows fetched by id and by window at snapshot time."""

    def __init__(self, folder: Path, *, event_id_column: str, processed_at_column: str,
                 timezone_name: str) -> None:
        self.folder = Path(folder)
        self.timezone = timezone_name
        self._id_col, self._at_col = event_id_column, processed_at_column
        path = self.folder / "legacy.jsonl"
        self._rows, self._window_rows = [], []
        for number, item in _read_jsonl(path):
            try:
                row = {str(k): decode_value(v) for k, v in item["row"].items()}
                if item.get("from") != "window":
                    self._rows.append(row)
                if item.get("from") in (None, "window"):
                    self._window_rows.append(row)
            except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
                raise SourceUnreachable(f"{path}:{number}: not a legacy row ({exc!r})") from None

    def fetch_by_ids(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        wanted = set(event_ids)
        return [r for r in self._rows if r.get(self._id_col) in wanted]

    def fetch_window(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        out = []
        for row in self._window_rows:
            try:  # SQLite keeps DATETIME as text
                at = to_aware(row.get(self._at_col), self.timezone)
            except (ValueError, TypeError):
                continue
            if start <= at < end:
                out.append(row)
        return out

    def describe(self) -> str:
        return f"snapshot {self.folder}"


# -- writing --------------------------------------------------------------

def write_snapshot(
    folder: Path,
    *,
    entries: Iterable[StreamEntry],
    legacy_rows: Iterable[dict[str, Any]],
    window_rows: Iterable[dict[str, Any]] | None = None,
    window_start: datetime,
    window_end: datetime,
    as_of: datetime,
    database_timezone: str,
    sources: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> Manifest:
    """Write a snapshot atomically: a half-written folder never appears at `folder`.

    An existing snapshot there is replaced; any other existing file or folder is refused,
    so a mistyped --out never deletes someone's work.
    """
    folder = Path(os.path.abspath(folder))
    check_target(folder)
    if not folder.parent.is_dir():
        raise UsageError(f"{folder.parent}: the folder to write the snapshot into does not exist")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError as exc:
        raise UsageError(f"{folder.parent}: cannot write there ({exc.strerror})") from None
    tmp.chmod(0o755)  # mkdtemp's 0700 would make a shared snapshot unreadable to others
    try:
        counts, checksums = {}, {}
        stream_lines = (
            orjson.dumps({"key": e.key, "id": e.stream_id,
                          "fields": [[_encode_bytes(k), _encode_bytes(v)] for k, v in e.fields]})
            for e in entries
        )
        counts["stream_entries"], checksums["stream.jsonl"] = _write_lines(tmp / "stream.jsonl", stream_lines)
        # Rows from the window query are tagged: that SQL may select fewer columns than by_ids_sql.
        # Untagged rows (a generated snapshot) answer both queries.
        tagged = [(row, None) for row in legacy_rows] + [(row, "window") for row in window_rows or ()]
        legacy_lines = (
            orjson.dumps({"row": {k: encode_value(v) for k, v in row.items()}, **({"from": tag} if tag else {})})
            for row, tag in tagged
        )
        counts["legacy_rows"], checksums["legacy.jsonl"] = _write_lines(tmp / "legacy.jsonl", legacy_lines)
        manifest: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "window": {"start": _iso(window_start), "end": _iso(window_end)},
            "as_of": _iso(as_of),
            "database_timezone": database_timezone,
            "sources": sources,
            "counts": counts,
            "checksums": checksums,
            **(extra or {}),
        }
        manifest["manifest_sha256"] = _manifest_digest(manifest)
        (tmp / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            folder.rename(old / folder.name)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UsageError(f"{folder}: cannot write the snapshot ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return read_manifest(folder)


def check_target(folder: Path) -> None:
    if not folder.parent.is_dir():
        raise UsageError(f"{folder.parent}: the folder to write the snapshot into does not exist")
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise UsageError(f"{folder}: exists and is not a snapshot folder; choose a new --out")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "manifest.json").is_file():
        raise UsageError(f"{folder}: a folder that is not a snapshot and not empty; choose a new --out")


def _write_lines(path: Path, lines: Iterable[bytes]) -> tuple[int, str]:
    digest, count = hashlib.sha256(), 0
    with path.open("wb") as handle:
        for line in lines:
            line += b"\n"
            handle.write(line)
            digest.update(line)
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    return count, "sha256:" + digest.hexdigest()


def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("snapshot times must be timezone-aware")
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")

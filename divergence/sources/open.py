"""Open the configured sources: a snapshot folder, or the live Redis and database."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from divergence.config import Config
from divergence.errors import SourceUnreachable, UsageError
from divergence.model import datetime_to_ms
from divergence.sources import LegacySource, StreamSource

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Sources:
    stream: StreamSource
    legacy: LegacySource
    config: Config  # with the snapshot's database time zone, where it has one
    default_reference_ms: int | None  # a snapshot's as_of; None means "now"
    coverage: tuple[datetime, datetime] | None = None  # a snapshot's window


def open_sources(config: Config, snapshot: Path | None) -> Sources:
    if snapshot is not None:
        from divergence.sources.snapshot import SnapshotLegacy, SnapshotStream, read_manifest, verify

        manifest = read_manifest(snapshot)
        verify(manifest)
        tz = manifest.database_timezone
        config = config.model_copy(update={"legacy": config.legacy.model_copy(update={"timezone": tz})})
        legacy = SnapshotLegacy(snapshot, event_id_column=config.legacy.event_id_column,
                                processed_at_column=config.legacy.processed_at_column, timezone_name=tz)
        return Sources(SnapshotStream(snapshot), legacy, config, datetime_to_ms(manifest.as_of),
                       (manifest.window_start, manifest.window_end))
    return Sources(open_stream(config), open_legacy(config), config, None)


def require_entries(stream: StreamSource) -> None:
    """An empty or missing key is almost always a wrong key or database, not a silent shadow:
    comparing against it would call every Rails event missing_in_shadow."""
    if stream.first_ms() is None:
        raise SourceUnreachable(f"{stream.describe()}: no stream entries (wrong key or database?)")


def open_stream(config: Config) -> StreamSource:
    from divergence.sources.redis_stream import RedisStream

    url = os.environ.get(config.stream.url_env) or DEFAULT_REDIS_URL
    return RedisStream(url, config.stream.keys, page_size=config.stream.page_size)


def open_legacy(config: Config) -> LegacySource:
    from divergence.sources.legacy_sql import SqlLegacy

    url = os.environ.get(config.legacy.url_env)
    if not url:
        raise UsageError(f"set {config.legacy.url_env} to the legacy database URL "
                         "(mysql+pymysql://, postgresql+psycopg:// or sqlite:///), or pass --snapshot DIR")
    legacy = config.legacy
    return SqlLegacy(url, by_ids_sql=legacy.by_ids_sql, window_sql=legacy.window_sql,
                     timezone=legacy.timezone, batch_size=legacy.batch_size)

"""`divergence.yaml`: what to read, what to compare and how (DESIGN 2, 4, 9).

Loaded once, validated whole, and every error names `file:line:column`.
Secrets never live here: the config names the environment variables that hold the URLs.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from divergence.errors import UsageError
from divergence.records.paths import ValuePath, parse_path
from divergence.timeparse import parse_duration
from divergence.yamlfile import Located, load_yaml

CONFIG_NAMES = ("divergence.yaml", "divergence.yml")

Seconds = Annotated[float, BeforeValidator(parse_duration)]


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as UTC or Europe/Berlin)") from None
    return name


Zone = Annotated[str, BeforeValidator(_zone)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StreamFields(Strict):
    """Names of the stream entry fields, renamable to fit the writer."""

    stripe_event_id: str = "stripe_event_id"
    event_type: str = "event_type"
    stripe_created: str = "stripe_created"
    received_at: str = "received_at"
    result: str = "result"
    duration_ms: str = "duration_ms"
    dedup: str = "dedup"
    error: str = "error"
    outcome: str = "outcome"
    payload: str = "payload"
    mode: str = "mode"


class StreamConfig(Strict):
    keys: list[str] = Field(default_factory=lambda: ["webhook:events"], min_length=1)
    url_env: str = "REDIS_URL"
    page_size: int = Field(1000, gt=0, le=100_000)
    fields: StreamFields = StreamFields()
    # How far before a window to look for earlier deliveries of its events (Stripe retries for 3 days).
    max_lookback: Seconds = 72 * 3600


class LegacyConfig(Strict):
    url_env: str = "LEGACY_DATABASE_URL"
    timezone: Zone = "UTC"
    event_id_column: str = "stripe_event_id"
    event_type_column: str | None = "event_type"
    processed_at_column: str = "processed_at"
    duration_ms_column: str | None = "duration_ms"
    error_column: str | None = "error"
    batch_size: int = Field(500, gt=0, le=10_000)
    by_ids_sql: str
    window_sql: str

    @field_validator("by_ids_sql")
    @classmethod
    def _has_ids(cls, sql: str) -> str:
        if ":event_ids" not in sql:
            raise ValueError("by_ids_sql must use the parameter :event_ids")
        return sql

    @field_validator("window_sql")
    @classmethod
    def _has_window(cls, sql: str) -> str:
        if ":start" not in sql or ":end" not in sql:
            raise ValueError("window_sql must use the parameters :start and :end")
        return sql


class Side(Strict):
    """Where one side keeps a field: paths (first present wins) and how to read them."""

    path: list[str]
    units: Literal["minor", "major"] = "minor"
    timezone: Zone | None = None

    @field_validator("path", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _parse(cls, paths: list[str]) -> list[str]:
        if not paths:
            raise ValueError("at least one path is needed")
        for text in paths:
            parse_path(text)  # raises ValueError with the reason
        return paths

    @property
    def paths(self) -> tuple[ValuePath, ...]:
        return tuple(parse_path(p) for p in self.path)


def _side(value: Any) -> Any:
    if isinstance(value, (str, list)):
        return {"path": value}
    return value


SideSpec = Annotated[Side, BeforeValidator(_side)]


class CurrencySpec(Strict):
    cb: SideSpec | None = None
    rails: SideSpec | None = None
    default: str | None = None


class FieldSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    type: Literal["string", "enum", "int", "money", "bool", "timestamp", "json"]
    cb: SideSpec
    rails: SideSpec
    tolerance: float | str = 0
    currency: CurrencySpec | None = None
    event_types: list[str] | None = None

    @model_validator(mode="after")
    def _check(self) -> "FieldSpec":
        if self.type == "timestamp":
            object.__setattr__(self, "tolerance", parse_duration(self.tolerance))
        elif isinstance(self.tolerance, str) or not 0 <= self.tolerance < float("inf"):
            raise ValueError(f"tolerance of a field of type {self.type} must be a non-negative number")
        if self.currency is not None and self.type != "money":
            raise ValueError("currency only applies to money fields")
        return self


class Thresholds(Strict):
    divergence_rate: float | None = Field(0.001, ge=0, le=1)
    error_rate: float | None = Field(None, ge=0, le=1)
    p95_ms: float | None = Field(None, gt=0)
    malformed: int | None = Field(None, ge=0)


class Config(Strict):
    stream: StreamConfig = StreamConfig()
    legacy: LegacyConfig
    event_types: list[str] = Field(min_length=1)
    settle: Seconds = 600
    fields: list[FieldSpec] = Field(min_length=1)
    rules: list[str] = Field(default_factory=list)
    thresholds: Thresholds = Thresholds()
    # Set by `load_config`, not by the file.
    source_file: str = ""

    @model_validator(mode="after")
    def _unique_fields(self) -> "Config":
        seen: set[str] = set()
        for spec in self.fields:
            if spec.name in seen:
                raise ValueError(f"field {spec.name!r} is listed twice")
            seen.add(spec.name)
        return self

    @property
    def rule_paths(self) -> list[Path]:
        base = Path(self.source_file).parent
        return [Path(os.path.normpath(base / p)) for p in self.rules]


def find_config(explicit: str | None) -> Path:
    """--config, else $DIVERGENCE_CONFIG, else ./divergence.yaml."""
    if explicit:
        return Path(explicit)
    if os.environ.get("DIVERGENCE_CONFIG"):
        return Path(os.environ["DIVERGENCE_CONFIG"])
    for name in CONFIG_NAMES:
        if Path(name).exists():
            return Path(name)
    raise UsageError("no config: pass --config FILE, set DIVERGENCE_CONFIG, or create ./divergence.yaml "
                     "(examples/divergence.yaml is a starting point)")


def load_config(path: Path | str) -> Config:
    located = load_yaml(path)
    if not isinstance(located.data, dict):
        raise located.error((), "the config must be a mapping of keys (stream, legacy, fields, ...)")
    return validate(located, Config, extra={"source_file": str(path)})


def validate(located: Located, model: type[BaseModel], extra: dict[str, Any] | None = None) -> Any:
    """Validate a located document; the first error becomes `file:line:column: message`."""
    try:
        return model.model_validate({**located.data, **(extra or {})})
    except ValidationError as exc:
        # A typo explains the "missing" error that comes with it, so name the unknown key first.
        error = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
        raise located.error(error["loc"], describe_error(error, model),
                            at_key=error["type"] == "extra_forbidden") from None


def describe_error(error: dict[str, Any], model: type[BaseModel]) -> str:
    loc = tuple(error["loc"])
    where = ".".join(str(p) for p in loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = loc[-1]
        allowed = _allowed_keys(model, loc[:-1])
        hint = difflib.get_close_matches(str(key), allowed, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else (f" (allowed: {', '.join(sorted(allowed))})" if allowed else "")
        return f"unknown key {key!r}{suggestion}"
    if kind == "missing":
        return f"missing required key {loc[-1]!r}" + (f" in {'.'.join(map(str, loc[:-1]))}" if len(loc) > 1 else "")
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return f"{where}: {message}" if where else message


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Walk the model along `loc` to list the keys allowed at that point (for typo hints)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [k for k in current.model_fields if k != "source_file"]
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or getattr(annotation, "__metadata__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and origin is not list:
        return _model_in(origin)
    return None

"""YAML loading that remembers where every value came from.

Config and rule errors must say `file:line:column: what is wrong`, so we compose the
node graph ourselves, keep each value's position by its path, and refuse the YAML 1.1
surprises that silently change a value (`NO` -> false, `12:30` -> 750, bare dates).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from divergence.errors import ConfigError

Path_ = tuple[Any, ...]

_PLAIN_BOOLS = {"true", "false", "True", "False", "TRUE", "FALSE"}
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")


@dataclass
class Located:
    """A loaded document plus the (line, column) of every value, 1-based, by path."""

    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]]
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_) -> tuple[int | None, int | None]:
        """Position of the deepest part of `path` that exists in the file."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (None, None))

    def error(self, path: Path_, message: str, *, at_key: bool = False) -> ConfigError:
        path = tuple(path)
        line, column = self.key_positions[path] if at_key and path in self.key_positions else self.where(path)
        return ConfigError(message, file=self.file, line=line, column=column)


def load_yaml(path: Path | str, *, label: str | None = None) -> Located:
    file = label or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=file) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=file) from None
    except OSError as exc:
        raise ConfigError(f"cannot read ({exc.strerror})", file=file) from None
    return parse_yaml(text, file)


def parse_yaml(text: str, file: str) -> Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"YAML syntax: {problem}", file=file,
                          line=mark.line + 1 if mark else None,
                          column=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML syntax: {exc}", file=file) from None
    positions: dict[Path_, tuple[int, int]] = {}
    keys: dict[Path_, tuple[int, int]] = {}
    if node is None:
        return Located(file, None, {(): (1, 1)})
    constructor = yaml.SafeLoader("")
    data = _convert(node, (), positions, constructor, file, keys)
    return Located(file, data, positions, keys)


def _convert(node: yaml.Node, path: Path_, positions: dict, constructor: yaml.SafeLoader, file: str,
             keys: dict) -> Any:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)

    def fail(message: str, at: yaml.Node = node) -> ConfigError:
        return ConfigError(message, file=file, line=at.start_mark.line + 1, column=at.start_mark.column + 1)

    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise fail("merge keys (<<) are not supported here", key_node)
            key = _convert(key_node, path + ("<key>",), {}, constructor, file, {})
            if isinstance(key, (dict, list)):
                raise fail("a key must be a plain value", key_node)
            if key in out:
                raise fail(f"duplicate key {key!r}", key_node)
            keys[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _convert(value_node, path + (key,), positions, constructor, file, keys)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), positions, constructor, file, keys) for i, item in enumerate(node.value)]
    # A scalar: refuse the YAML 1.1 implicit conversions people do not mean.
    if node.style is None:  # plain (unquoted)
        if node.tag == "tag:yaml.org,2002:bool" and node.value not in _PLAIN_BOOLS:
            raise fail(f"{node.value!r} would be read as a boolean; write true/false, or quote it")
        if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and _SEXAGESIMAL.match(node.value):
            raise fail(f"{node.value!r} would be read as a base-60 number; quote it")
        if node.tag == "tag:yaml.org,2002:timestamp":
            raise fail(f"{node.value!r} would be read as a date; quote it")
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError:
        raise fail(f"unsupported YAML tag {node.tag!r}") from None
    except yaml.YAMLError as exc:
        raise fail(f"cannot read value: {getattr(exc, 'problem', None) or exc}") from None

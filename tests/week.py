"""The example week, built once per test session by the example generator (examples/generate.py)."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "examples" / "divergence.yaml"
EXAMPLE_SNAPSHOT = ROOT / "examples" / "shadow-week"


@functools.cache
def generator():
    spec = importlib.util.spec_from_file_location("divergence_example_generate", ROOT / "examples" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@functools.cache
def week(seed: int = 7):
    return generator().build_week(seed=seed)


def config_for(tmp_path: Path, *, table: str = "stripe_webhook_events", key: str = "webhook:events") -> Path:
    """The example config pointed at a test's own table and stream key (rules by absolute path)."""
    text = EXAMPLE_CONFIG.read_text()
    text = text.replace("FROM stripe_webhook_events", f"FROM {table}")
    text = text.replace('keys: ["webhook:events"]', f'keys: ["{key}"]')
    text = text.replace('rules: ["../rules/egghead.yaml"]', f'rules: ["{ROOT / "rules" / "egghead.yaml"}"]')
    path = tmp_path / "divergence.yaml"
    path.write_text(text)
    return path

from pathlib import Path

import pytest

from divergence.config import find_config, load_config
from divergence.errors import ConfigError, UsageError

ROOT = Path(__file__).resolve().parents[1]
BASE = """\
legacy:
  by_ids_sql: "SELECT * FROM t WHERE stripe_event_id IN :event_ids"
  window_sql: "SELECT * FROM t WHERE processed_at >= :start AND processed_at < :end"
event_types: [charge.refunded]
fields:
  - name: status
    type: enum
    cb: outcome.status
    rails: status
"""


def load(tmp_path, text):
    path = tmp_path / "divergence.yaml"
    path.write_text(text)
    return load_config(path)


def test_the_example_config_loads():
    config = load_config(ROOT / "examples" / "divergence.yaml")
    assert config.settle == 600
    assert [f.name for f in config.fields][:3] == ["status", "customer", "subscription"]
    cpe = next(f for f in config.fields if f.name == "current_period_end")
    assert cpe.tolerance == 1.0 and len(cpe.cb.paths) == 2 and cpe.cb.paths[1].aggregation == "max"
    assert config.rule_paths[0].resolve() == (ROOT / "rules" / "egghead.yaml").resolve()


def test_defaults(tmp_path):
    config = load(tmp_path, BASE)
    assert config.stream.keys == ["webhook:events"]
    assert config.thresholds.divergence_rate == 0.001 and config.thresholds.error_rate is None
    assert config.legacy.timezone == "UTC"


@pytest.mark.parametrize("change, message", [
    (("settle: 10m", "settle: ten"), "1:9: settle: 'ten' is not a duration"),
    (("type: enum", "type: decimal"), "7:11: fields.0.type: Input should be"),
    (("event_types: [charge.refunded]", "event_types: []"), "4:14: event_types: List should have at least 1 item"),
    (("IN :event_ids", "IN (:ids)"), "2:15: legacy.by_ids_sql: by_ids_sql must use the parameter :event_ids"),
    (("legacy:\n", "legacy:\n  timezone: Mars/Base\n"), "2:13: legacy.timezone: unknown time zone 'Mars/Base'"),
    (("    rails: status\n", "    rails: status\n    tolerance: -1\n"),
     "6:5: fields.0: tolerance of a field of type enum must be a non-negative number"),
    (("    rails: status\n", "    rails: status\n    currency: {default: USD}\n"),
     "6:5: fields.0: currency only applies to money fields"),
    (("cb: outcome.status", "cb: outcome..status"), "8:9: fields.0.cb.path: bad path segment ''"),
])
def test_config_errors_name_the_line(tmp_path, change, message):
    text = ("settle: 10m\n" + BASE) if change[0] == "settle: 10m" else BASE
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text.replace(*change))
    assert str(caught.value).startswith(f"{tmp_path / 'divergence.yaml'}:{message}")


def test_missing_config_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIVERGENCE_CONFIG", raising=False)
    with pytest.raises(UsageError, match="no config"):
        find_config(None)
    monkeypatch.setenv("DIVERGENCE_CONFIG", "elsewhere.yaml")
    assert find_config(None) == Path("elsewhere.yaml")
    with pytest.raises(ConfigError, match="elsewhere.yaml: file not found"):
        load_config(find_config(None))

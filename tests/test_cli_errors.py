"""The exit-code contract: one line on stderr, a documented code, never a traceback."""

from pathlib import Path

from typer.testing import CliRunner

from divergence.cli import app

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "examples" / "divergence.yaml")


def invoke(*args, env=None):
    result = CliRunner().invoke(app, list(args), env=env or {})
    return result.exit_code, result.stdout, result.stderr


def test_bad_config_is_exit_2_with_file_line_column(tmp_path):
    bad = tmp_path / "divergence.yaml"
    bad.write_text(Path(CONFIG).read_text().replace("settle: 10m", "setle: 10m"))
    code, out, err = invoke("daily-check", "--config", str(bad))
    assert code == 2 and out == ""
    assert err.strip().startswith(f"error: {bad}:") and "unknown key 'setle' (did you mean 'settle'?)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_snapshot_is_exit_3(tmp_path):
    code, _, err = invoke("daily-check", "--config", CONFIG, "--snapshot", str(tmp_path / "nope"))
    assert code == 3
    assert err.strip() == f"error: {tmp_path / 'nope'}: not a snapshot folder (it does not exist)"


def test_live_run_without_database_url_is_exit_2():
    code, _, err = invoke("daily-check", "--config", CONFIG, env={"LEGACY_DATABASE_URL": ""})
    assert code == 2 and "set LEGACY_DATABASE_URL" in err


def test_unreachable_redis_is_exit_3_and_masks_the_password():
    env = {"REDIS_URL": "redis://:hunter2@127.0.0.1:1/0", "LEGACY_DATABASE_URL": "sqlite:///nowhere.db"}
    code, out, err = invoke("daily-check", "--config", CONFIG, env=env)
    assert code == 3 and out == ""
    assert "hunter2" not in err and "127.0.0.1:1" in err


def test_bad_window_and_options_are_exit_2():
    code, _, err = invoke("daily-check", "--config", CONFIG, "--since", "yesterday-ish",
                          "--snapshot", str(ROOT / "examples" / "shadow-week"))
    assert code == 2 and "'yesterday-ish' is not a time" in err
    code, _, err = invoke("group", "--config", CONFIG, "--by", "colour")
    assert code == 2 and "--by 'colour': use one of event_type" in err
    code, _, err = invoke("export", "--config", CONFIG, "--kind", "nope")
    assert code == 2 and "--kind 'nope'" in err

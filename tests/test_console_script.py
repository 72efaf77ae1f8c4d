"""The installed `divergence` console script, run as a user (or cron) would."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "divergence"
EXAMPLE = ["--config", "examples/divergence.yaml", "--snapshot", "examples/shadow-week"]


def run(*args, env=None):
    return subprocess.run([str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})})


def test_console_script_daily_check_json_and_exit_codes():
    day = run("daily-check", *EXAMPLE, "--format", "json")
    assert day.returncode == 0, day.stderr
    report = json.loads(day.stdout)
    assert report["schema_version"] == 1 and report["verdict"] == "pass"
    assert report["events"] == {"compared": 523, "pending": 17, "ignored": 2, "primary": 0, "malformed": 1}
    week = run("daily-check", *EXAMPLE, "--since", "7d")
    assert week.returncode == 1
    assert "\x1b[" not in week.stdout  # piped and NO_COLOR: plain text
    assert week.stdout.startswith("daily-check FAIL")


def test_console_script_reports_usage_errors_in_one_line():
    result = run("group", *EXAMPLE, "--by", "nothing")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: --by 'nothing': use one of event_type, kind, field, category, rule, signature, customer, subscription"]


def test_export_to_a_file_is_written_whole(tmp_path):
    out = tmp_path / "last.csv"
    result = run("export", "--last", "10", *EXAMPLE, "-o", str(out))
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("event_id,event_type,first_seen")
    assert len(lines) >= 11
    assert [p.name for p in tmp_path.iterdir()] == ["last.csv"]  # no temp file left behind


def test_on_a_terminal_with_progress_and_colour(tmp_path):
    """Run under a pseudo-terminal, as a person would: spinner on stderr, rich tables on stdout."""
    import pty
    import select

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(COLUMNS="100", LINES="40", TERM="xterm")
    proc = subprocess.Popen([str(SCRIPT), "daily-check", *EXAMPLE, "--since", "7d"], cwd=ROOT, stdin=follower,
                            stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    assert proc.wait(timeout=60) == 1
    text = output.decode("utf-8", "replace")
    assert "internal error" not in text and "Traceback" not in text
    assert "daily-check" in text and "FAIL" in text
    assert "\x1b[" in text  # styled for a terminal
    assert "evt_1i71etx6BAELnVwRL9hrtDf9" in text  # ids are never cut, even at 100 columns

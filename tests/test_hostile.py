"""Bad input found by breaking the tool on purpose: each gets one clear line and its exit code,
and nothing is lost or half-written."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from divergence.cli import app
from divergence.render import csv_cell
from divergence.sources.urls import scrub

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "examples" / "divergence.yaml")
SNAPSHOT = ROOT / "examples" / "shadow-week"


def invoke(*args, env=None):
    result = CliRunner().invoke(app, list(args), env=env or {})
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    return result.exit_code, result.stdout, result.stderr.strip()


@pytest.mark.parametrize("cell, shown", [
    ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
    ("+1 555", "'+1 555"), ("@SUM(A1)", "'@SUM(A1)"), ("-5", "-5"), ("-0.5e3", "-0.5e3"), ("sub_1", "sub_1"),
])
def test_csv_cells_a_spreadsheet_would_run_are_neutralised(cell, shown):
    assert csv_cell(cell) == shown
    assert csv_cell(cell, formulas=True) == cell


def test_csv_on_a_terminal_shows_control_characters_escaped():
    assert csv_cell("\x1b[31mRED\x07", terminal=True) == "\\x1b[31mRED\\x07"
    assert csv_cell("\x1b[31mRED", terminal=False) == "\x1b[31mRED"


def test_password_pieces_are_scrubbed_even_from_a_misparsed_url():
    url = "mysql+pymysql://u:Top/Secret@Pw@127.0.0.1:3306/x"
    message = "Can't connect to MySQL server on 'Pw@127.0.0.1'; port 'Top' ... Secret"
    assert scrub(message, [url]) == "Can't connect to MySQL server on '****@127.0.0.1'; port '****' ... ****"


@pytest.mark.parametrize("line, message", [
    ("settle: .inf", "settle: inf is out of range"),
    ("settle: 99999999999d", "settle: '99999999999d' is out of range (0 to 3650d)"),
    ("settle: !!python/object:os.system x", "unsupported YAML tag 'tag:yaml.org,2002:python/object:os.system'"),
])
def test_config_values_that_would_crash_are_config_errors(tmp_path, line, message):
    path = tmp_path / "divergence.yaml"
    path.write_text(Path(CONFIG).read_text().replace("settle: 10m", line)
                    .replace("../rules/egghead.yaml", str(ROOT / "rules" / "egghead.yaml")))
    code, _, err = invoke("daily-check", "--config", str(path), "--snapshot", str(SNAPSHOT))
    assert code == 2 and message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("until", ["9999-12-31T23:59:59Z", "0001-01-01", "2026-12-02",
                                   "2026-12-01T09:00:01Z"])  # a second past the snapshot's as_of
def test_times_out_of_range_or_past_the_data(until):
    code, _, err = invoke("daily-check", "--config", CONFIG, "--snapshot", str(SNAPSHOT), "--until", until)
    assert code == 2 and err.startswith("error: ")


def test_export_refuses_a_device_or_folder_as_output(tmp_path):
    for target in ("/dev/null", str(tmp_path)):
        code, _, err = invoke("export", "--config", CONFIG, "--snapshot", str(SNAPSHOT), "-o", target)
        assert code == 2 and "exists and is not a regular file" in err
    assert Path("/dev/null").is_char_device()


def test_snapshot_never_deletes_a_folder_that_is_not_a_snapshot(tmp_path):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.txt").write_text("years of work")
    code, _, err = invoke("snapshot", "--config", CONFIG, "--out", str(precious))
    assert code == 2 and "not a snapshot and not empty" in err
    assert (precious / "chapter1.txt").read_text() == "years of work"


def test_a_truncated_snapshot_is_refused_not_misread(tmp_path):
    copy = tmp_path / "week"
    shutil.copytree(SNAPSHOT, copy)
    lines = (copy / "stream.jsonl").read_bytes().splitlines(keepends=True)
    (copy / "stream.jsonl").write_bytes(b"".join(lines[: len(lines) // 2]))
    code, out, err = invoke("daily-check", "--config", CONFIG, "--snapshot", str(copy))
    assert code == 3 and out == ""
    assert err == f"error: {copy / 'stream.jsonl'}: does not match the checksum in manifest.json (truncated or edited?)"


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "manifest.json").write_text("[1]"), "manifest is not a JSON object"),
    (lambda d: (d / "manifest.json").write_text('{"schema_version": 1}'), "manifest lacks a valid as_of"),
    (lambda d: (d / "manifest.json").write_text("{"), "manifest is not JSON"),
])
def test_a_damaged_manifest_is_a_source_error(tmp_path, damage, message):
    copy = tmp_path / "week"
    shutil.copytree(SNAPSHOT, copy)
    damage(copy)
    code, _, err = invoke("daily-check", "--config", CONFIG, "--snapshot", str(copy))
    assert code == 3 and message in err


def test_an_edited_manifest_is_refused(tmp_path):
    copy = tmp_path / "week"
    shutil.copytree(SNAPSHOT, copy)
    manifest = (copy / "manifest.json").read_text()
    (copy / "manifest.json").write_text(manifest.replace('"database_timezone": "UTC"',
                                                         '"database_timezone": "Europe/Berlin"'))
    code, _, err = invoke("daily-check", "--config", CONFIG, "--snapshot", str(copy))
    assert code == 3 and err.endswith("manifest.json: does not match its own checksum (edited?)")


def test_a_snapshot_path_that_is_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    code, _, err = invoke("daily-check", "--config", CONFIG, "--snapshot", str(path))
    assert code == 3 and err == f"error: {path}: not a snapshot folder (it is a file)"

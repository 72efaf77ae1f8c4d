"""The README shows real output: these tests keep it honest."""

import re
from pathlib import Path

from typer.testing import CliRunner

from divergence.cli import app
from divergence.errors import ConfigError, DivergenceError, SourceUnreachable, UsageError

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLE = ["--config", "examples/divergence.yaml", "--snapshot", "examples/shadow-week"]


def block_after(marker: str) -> str:
    start = README.index(marker)
    match = re.compile(r"```(?:text)?\n(.*?)```", re.S).search(README, start)
    return match.group(1)


def lines_after_command(command: str) -> str:
    """The output shown below `$ command` inside a fenced block."""
    start = README.index(command)
    start = README.index("\n", start) + 1
    return README[start:README.index("```", start)]


def strip(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def run(args, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, args)
    return result


def test_the_first_command_is_the_one_shown(monkeypatch):
    first = re.search(r"```sh\n(.*?)\n", README).group(1)
    assert first.endswith("uv run divergence daily-check --config examples/divergence.yaml "
                          "--snapshot examples/shadow-week")
    result = run(["daily-check", *EXAMPLE], monkeypatch)
    assert result.exit_code == 0
    assert strip(result.stdout) == strip(block_after("<!-- daily-check output"))


def test_the_second_command_is_what_ci_runs():
    second = re.findall(r"```sh\n.*?\n(.*?)\n```", README, re.S)[0]
    assert second.endswith("uv run pytest")
    assert "uv run pytest" in (ROOT / ".ci" / "run").read_text()


def test_group_output_shown(monkeypatch):
    output = lines_after_command("$ divergence group --by event_type --since 7d")
    result = run(["group", "--by", "event_type", "--since", "7d", "--format", "table", *EXAMPLE], monkeypatch)
    assert result.exit_code == 0
    assert strip(result.stdout) == strip(output)


def test_export_output_shown(monkeypatch):
    lines = lines_after_command("$ divergence export --last 2 --category bug").strip().splitlines()
    result = run(["export", "--last", "2", "--category", "bug", *EXAMPLE], monkeypatch)
    actual = result.stdout.splitlines()
    assert lines[:2] == actual[:2]
    assert actual[2].startswith(lines[2].rstrip("."))


def test_the_library_example_runs(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("523 [")  # the same events as the first command


def test_exit_codes_table_matches_the_code():
    table = dict(re.findall(r"^\| (\d+) \| (.+) \|$", README, re.M))
    codes = {0, 1, 130} | {cls.exit_code for cls in (UsageError, ConfigError, SourceUnreachable,
                                                  DivergenceError)}
    assert {int(c) for c in table} == codes

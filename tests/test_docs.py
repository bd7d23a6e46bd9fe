"""The README covers every command and every strategy; every command's help has an example."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.strategies import STRATEGIES

README = (Path(__file__).parents[1] / "README.md").read_text()
COMMANDS = sorted(
    [c.name for c in app.registered_commands]
    + [
        f"{g.name} {c.name}"
        for g in app.registered_groups
        for c in g.typer_instance.registered_commands
    ]
)


def test_readme_lists_every_strategy_with_its_summary():
    start = README.index("| name | needs | what it does |")
    table = README[start : README.index("\n\n", start)]
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| (.+?) \|$", table, flags=re.M))
    assert set(rows) == set(STRATEGIES)
    for name, s in STRATEGIES.items():
        assert rows[name] == s.summary


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_documents_every_command(command):
    assert f"`labelwise {command}`" in README


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_an_example(command):
    r = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert "Example:" in r.output and f"labelwise {command}" in r.output


def test_readme_has_the_two_commands():
    assert "pip install -e . && labelwise demo" in README
    assert "bash .ci/run" in README
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert 'pip install -e ".[dev,text,image,torch,ray]"' in ci and "python -m pytest" in ci
    assert "torch==2.13.0" in ci  # never an unpinned (CUDA) torch

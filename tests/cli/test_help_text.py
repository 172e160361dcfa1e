"""Help screens read well at 80 columns: groups show examples, no paragraph breaks mid-line.

Typer's rich help keeps the docstring's line breaks and wraps each line at the panel's
width, so a source line a little too long leaves a word or two alone on a line in the
middle of a paragraph ("(occupancy" / "and waits"). Each help is rendered at 80 columns
and searched for such fragments.
"""

from __future__ import annotations

import click
import pytest
import typer
from typer.testing import CliRunner

from healthtwin.cli.app import app

runner = CliRunner()
ROOT = typer.main.get_command(app)


def _paths(command: click.Command, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    found = [path]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            found += _paths(sub, (*path, name))
    return found


PATHS = _paths(ROOT, ())
assert isinstance(ROOT, click.Group)
GROUPS = [(name,) for name, sub in sorted(ROOT.commands.items()) if isinstance(sub, click.Group)]


def _help(path: tuple[str, ...]) -> str:
    result = runner.invoke(app, [*path, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


def _text_lines(screen: str) -> list[str]:
    """The rendered lines outside the option and command panels."""
    return [
        line.strip()
        for line in screen.splitlines()
        if not line.lstrip().startswith(("╭", "│", "╰")) and not line.startswith("Usage")
    ]


def dangling(screen: str) -> list[str]:
    """Lines of one or two words inside a paragraph (the next line is not blank).

    Examples
    --------
    >>> dangling("Writes summary.csv and report.html (occupancy\\nand\\nwaits by unit).\\n")
    ['and']
    >>> dangling("Example:\\n  healthtwin serve --demo\\n")
    []
    """
    lines = _text_lines(screen)
    found = []
    for line, after in zip(lines, [*lines[1:], ""], strict=True):
        words = line.split()
        if (
            0 < len(words) <= 2
            and after
            and not line.endswith(":")
            and not line.startswith(("healthtwin", "-"))
        ):
            found.append(line)
    return found


def test_the_root_and_every_group_end_with_examples() -> None:
    assert len(GROUPS) >= 10
    for path in [(), *GROUPS]:
        screen = _help(path)
        assert "Example:" in screen, f"healthtwin {' '.join(path)} --help has no example"
        after = screen.split("Example:", 1)[1]
        lines = [line.strip() for line in after.splitlines() if line.strip()]
        prefix = " ".join(("healthtwin", *path)) + " "
        assert lines, path
        assert all(line.startswith("healthtwin ") for line in lines), lines
        if path:
            assert any(line.startswith(prefix) for line in lines), (path, lines)


def test_examples_of_groups_are_lines_of_their_own() -> None:
    # Not joined into one wrapped paragraph ("... --out rt.csv   healthtwin ...").
    for path in [(), *GROUPS]:
        after = _help(path).split("Example:", 1)[1]
        for line in after.splitlines():
            assert line.count("healthtwin ") <= 1, (path, line)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "root")
def test_no_help_paragraph_is_broken_mid_sentence(path: tuple[str, ...]) -> None:
    assert dangling(_help(path)) == []

"""Every command's --help shows its defaults, and no summary in a listing is cut off."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from sso_bridge.cli import main


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in group.commands.items():
        if command.hidden:
            continue
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


COMMANDS = _commands(main)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "sso-bridge")
def test_help_shows_defaults_and_whole_summaries(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    listing = result.output.partition("Commands:")[2]
    assert "..." not in listing, listing
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    # One block per option: from its "  --name" line to the next option's.
    blocks = re.split(r"\n(?=  -)", result.output.split("Options:", 1)[-1])
    for option in command.params:
        if isinstance(option, click.Option) and not option.is_flag and option.default is not None:
            block = next(b for b in blocks if option.opts[0] in b.split()[0:2])
            assert "[default:" in block, (path, option.name, block)

"""`muwatch` command line: one click group; each command lives in its own module here.

To add a command, write `host/muwatch/cli/<name>.py` exposing a click command (or group)
called `command`, and add the module name to `COMMAND_MODULES`. Errors derived from
`muwatch.errors.MuwatchError` become a one-line message and their documented exit code.
"""

from __future__ import annotations

import importlib
import sys

import click

from muwatch import __version__
from muwatch.errors import MuwatchError

# Module names under muwatch.cli, each exporting `command`. Imported lazily per call so that
# `muwatch --help` stays fast and one broken area cannot take down the others.
COMMAND_MODULES: tuple[str, ...] = ()


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(m.replace("_", "-") for m in COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        mod_name = cmd_name.replace("-", "_")
        if mod_name not in COMMAND_MODULES:
            return None
        module = importlib.import_module(f"muwatch.cli.{mod_name}")
        return module.command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="muwatch")
def cli() -> None:
    """muwatch: wearable EMG for watching motor units over months at home."""


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: run the CLI, turning muwatch errors into messages and exit codes."""
    try:
        cli.main(args=argv, prog_name="muwatch", standalone_mode=False)
    except MuwatchError as exc:
        click.echo(f"muwatch: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("muwatch: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

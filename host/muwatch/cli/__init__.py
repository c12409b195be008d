"""`muwatch` command line: one click group; each command lives in its own module here.

To add a command, write `host/muwatch/cli/<name>.py` exposing a click command (or group)
called `command`; modules are discovered, and `sim_device.py` becomes `muwatch sim-device`.
Modules whose name starts with `_` are helpers, not commands. Errors derived from
`muwatch.errors.MuwatchError` become a one-line message and their documented exit code.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from muwatch import __version__
from muwatch.errors import MuwatchError


def _command_modules() -> tuple[str, ...]:
    """Module names under muwatch.cli that define commands (imported lazily, per command)."""
    return tuple(
        sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    )


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [m.replace("_", "-") for m in _command_modules()]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        mod_name = cmd_name.replace("-", "_")
        if mod_name not in _command_modules():
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

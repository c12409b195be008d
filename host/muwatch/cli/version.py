"""`muwatch version`: versions of the host package, the C core and the protocol."""

from __future__ import annotations

import click

from muwatch import __version__


@click.command()
def command() -> None:
    """Print the versions of the host package and the C core."""
    from muwatch import _core

    v = int(_core.lib.mw_core_version())
    click.echo(f"muwatch {__version__}, C core {v >> 8}.{v & 0xFF}")

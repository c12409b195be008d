"""Exception types shared across the host package.

Every error a user can meet derives from `MuwatchError`, carries a message that says what
was wrong and what to do, and maps to a documented CLI exit code (see docs/cli.md).
"""

from __future__ import annotations


class MuwatchError(Exception):
    """Base of every muwatch error; `exit_code` is what the CLI exits with."""

    exit_code = 1


class UsageError(MuwatchError):
    """A bad CLI argument or API parameter (caught before anything runs)."""

    exit_code = 2


class DeviceError(MuwatchError):
    """The sensor is absent, refused, or answered with an error status."""

    exit_code = 3


class FileFormatError(MuwatchError):
    """A file is not what it should be (not a session, not EDF/BDF/WFDB, damaged)."""

    exit_code = 4


class StorageError(MuwatchError):
    """Writing failed (disk full, folder deleted, permissions); nothing written is lost."""

    exit_code = 5

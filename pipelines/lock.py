"""One writer per destination: a file lock that every writing run takes.

DuckDB lets one process open a database file for writing, and two loads of the
same dlt pipeline would race on its working folder and state. Every command that
writes (``run``, ``backfill``, ``sync``, ``transform``, ``check``) and the webhook
worker take :func:`destination_lock` first; a second run waits for it, up to a
timeout, or stops with :class:`DestinationBusy` (exit code 75: try again later).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from sources.ghl.errors import GHLError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600.0


class DestinationBusy(GHLError):
    """Another run holds the destination's lock: run again later."""

    exit_code = 75


def lock_path(
    destination: str,
    duckdb_path: str | Path | None,
    pipelines_dir: str | Path | None,
    pipeline_name: str,
) -> Path:
    """Where the lock of a destination lives.

    A DuckDB destination locks a file next to its database (``ghl.duckdb.lock``),
    so every pipeline folder that writes that file shares the lock; any other
    destination locks a file in the dlt pipelines folder.
    """
    if destination == "duckdb" and duckdb_path:
        path = Path(duckdb_path).resolve()
        return path.with_name(path.name + ".lock")
    folder = Path(pipelines_dir) if pipelines_dir else Path.home() / ".dlt/pipelines"
    return folder.resolve() / f"{pipeline_name}.{destination}.lock"


@contextmanager
def destination_lock(
    path: str | Path, wait: bool = True, timeout: float = DEFAULT_TIMEOUT
) -> Iterator[Path]:
    """Hold the destination's lock for the duration of the block.

    Args:
        path: the lock file (see :func:`lock_path`); its folder is created.
        wait: wait for a running holder; False fails at once when it is taken.
        timeout: seconds to wait at most.

    Raises:
        DestinationBusy: the lock stayed taken (the message names the holder).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=timeout if wait else 0)
    try:
        lock.acquire()
    except Timeout:
        waited = f"waited {timeout:g}s" if wait and timeout > 0 else "did not wait"
        raise DestinationBusy(
            f"another run is writing this destination (lock {path}, "
            f"{_holder(path)}); {waited}; run again when it has finished"
        ) from None
    try:
        _note_holder(path)
        yield path
    finally:
        lock.release()


def _holder_file(path: Path) -> Path:
    return path.with_name(path.name + ".holder")


def _note_holder(path: Path) -> None:
    # The lock file itself is held open by filelock; the holder's pid goes into a
    # side file so a waiting run can say who it waits for.
    try:
        _holder_file(path).write_text(str(os.getpid()))
    except OSError as error:
        logger.debug("could not note the lock holder: %s", error)


def _holder(path: Path) -> str:
    try:
        return f"held by pid {_holder_file(path).read_text().strip()}"
    except OSError:
        return "holder unknown"

"""Write files so that a killed process never leaves one that looks complete."""

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from qaclims.errors import QaclimsError

# A full disk or quota: the user frees space, and a traceback would only hide which file system is full.
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def nearest_existing(path: str | os.PathLike) -> str:
    """``path`` if it exists, else the nearest of its parents that does."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    return existing


def make_folder(folder: str | os.PathLike) -> None:
    """Make ``folder`` and its parents; a file in the way is a one-line error naming it."""
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise QaclimsError(f"cannot make the folder {folder}: {nearest_existing(folder)} is a file; move the file or "
                           "choose another output path") from None


def _partial_name(path: Path) -> Path:
    # The suffix is kept so that writers which infer a format from it (PIL, pandas) still work.
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    make_folder(path.parent)
    partial = _partial_name(path)
    try:
        yield partial
        os.replace(partial, path)
    except OSError as error:
        if error.errno in NO_SPACE:
            raise QaclimsError(f"no space left to write {path} ({error.strerror}); free some and run again") from None
        raise
    finally:
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory that replaces ``path`` as a whole on success."""
    path = Path(path)
    with atomic_path(path) as partial:
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir()
        yield partial
        if path.exists():
            shutil.rmtree(path)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as partial:
        partial.write_text(text)

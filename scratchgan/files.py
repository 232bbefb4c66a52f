"""Writing files so that a kill, a crash or a full disk never leaves a torn one.

Every whole file (a config, a checkpoint, a figure) is written to a temporary file in the
same folder, flushed and fsync'ed, then renamed over its final name: a reader sees the old
file or the new one, never half of either. The folder is fsync'ed after the rename, so the
rename itself survives a power cut. Append-only logs (``metrics.jsonl``) are written one
whole line per ``write`` call and fsync'ed; a kill can tear only the last line, which the
reader drops.

Temporary files are named ``.<name>.<random>.tmp``: hidden, and recognisable, so that the
next process to open the folder can remove what a killed one left (``remove_temporaries``).
New files get the permissions of ``open(..., "w")`` (0666 less the umask), as every other
file the user's programs write.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
from pathlib import Path

TEMPORARY_SUFFIX = ".tmp"


class FileWriteError(OSError):
    """A file could not be written; the message names the file and the reason."""

    def __str__(self):
        return self.strerror


def _write_all(descriptor: int, data: bytes):
    """``os.write`` until every byte is written (a write may write fewer bytes than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def _write_and_sync(path: Path, mode_flag: int, data: bytes):
    """Open ``path`` (O_EXCL: a new file; O_APPEND: at its end), write ``data``, fsync, close."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | mode_flag, 0o666)
    try:
        _write_all(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_folder(folder: Path):
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders; the rename is done all the same
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _explain(error: OSError, path: Path) -> FileWriteError:
    reason = error.strerror or str(error)
    if error.errno == errno.ENOSPC:
        reason = "no space left on the device"
    return FileWriteError(error.errno, f"cannot write {path}: {reason}")


def atomic_write_bytes(path, data: bytes):
    """Replace ``path`` by ``data`` atomically (temporary file, fsync, rename, fsync of the folder).
    On failure the old file is intact, the temporary file is removed, and a ``FileWriteError``
    names ``path``."""
    path = Path(path)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}"
    try:
        _write_and_sync(temporary, os.O_EXCL, data)
        os.replace(temporary, path)
    except OSError as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise _explain(error, path) from None
    _fsync_folder(path.parent)


def atomic_write_text(path, text: str):
    atomic_write_bytes(path, text.encode("utf-8"))


def append_line(path, line: str):
    """Append one line (``line`` without its newline) in a single write, then fsync."""
    path = Path(path)
    try:
        _write_and_sync(path, os.O_APPEND, (line + "\n").encode("utf-8"))
    except OSError as error:
        raise _explain(error, path) from None


def save_figure(figure, path, dpi: int):
    """A matplotlib figure as a PNG file, written atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    atomic_write_bytes(path, buffer.getvalue())


def is_temporary(path) -> bool:
    """Whether ``path`` is a temporary file of ``atomic_write_bytes`` (or of scratchgan 0.1's
    writers: ``tmp*.npz.tmp`` checkpoints, ``*.json.tmp``)."""
    name = Path(path).name
    if not name.endswith(TEMPORARY_SUFFIX):
        return False
    return name.startswith(".") or (name.startswith("tmp") and name.endswith(".npz.tmp")) or name.endswith(".json.tmp")


def remove_temporaries(folder) -> list[Path]:
    """Remove the temporary files that a killed writer left in ``folder``; returns them."""
    removed = []
    for entry in Path(folder).iterdir():
        if entry.is_file() and not entry.is_symlink() and is_temporary(entry):
            entry.unlink()
            removed.append(entry)
    return removed

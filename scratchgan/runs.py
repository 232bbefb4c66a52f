"""Run folders: the user's data, never lost, never torn, never written by two processes.

A run folder holds ``config.json``, ``metrics.jsonl``, ``metrics.json``, ``progress.json``,
``checkpoints/step_N.npz``, ``snapshots.npz`` and PNG figures, plus three hidden files of
scratchgan's own: ``.scratchgan-run`` (the marker: this folder was made by scratchgan),
``.scratchgan.lock`` and ``.scratchgan.owner.json`` (who holds the lock).

The rules (docs/architecture.md, "Run folders are the user's data"):

* ``overwrite`` replaces only a folder that scratchgan made (the marker, or a folder of
  scratchgan 0.1 holding nothing but run files), holding nothing the user added, and never
  the current folder or one of its parents. Only the run's own files are removed.
* Every whole file is written atomically (``scratchgan.files``); ``metrics.jsonl`` one whole
  line at a time, and a torn last line (a kill) is dropped when read, with a warning.
* While a process trains in a folder it holds the folder's lock (``filelock``): a second
  writer is refused with one line naming the holder's pid.
* A checkpoint that cannot be read gives one ``RunFolderError`` naming the file and what is
  wrong with it, whatever its bytes.
"""

from __future__ import annotations

import datetime
import io
import json
import math
import os
import re
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy
from filelock import FileLock, Timeout

from scratchgan import files

MARKER = ".scratchgan-run"
LOCK = ".scratchgan.lock"
OWNER = ".scratchgan.owner.json"
CHECKPOINTS = "checkpoints"
# what scratchgan writes at the top of a run folder (``overwrite`` removes these, and only these)
RUN_FILES = ("config.json", "metrics.jsonl", "metrics.json", "progress.json", "snapshots.npz", MARKER)
FIGURE_NAME = re.compile(r"(samples|snapshots|losses|metrics|interpolation|traversal(_c\d+)?)\.png")
CHECKPOINT_NAME = re.compile(r"step_(\d+)\.npz")


class RunFolderError(RuntimeError):
    """The run folder cannot be used as asked (exists, in use, not writable, corrupt)."""


class RunFolderWarning(UserWarning):
    """Something in a run folder was repaired or passed over (a torn log line, a damaged checkpoint)."""


def _is_run_entry(entry: Path) -> bool:
    """Whether ``entry`` (at the top of a run folder) is something scratchgan writes there."""
    if entry.is_symlink():
        return False
    if entry.name == CHECKPOINTS:
        return entry.is_dir() and all(_is_checkpoint_entry(inner) for inner in entry.iterdir())
    if not entry.is_file():
        return False
    return (entry.name in RUN_FILES or entry.name in (LOCK, OWNER) or FIGURE_NAME.fullmatch(entry.name) is not None
            or files.is_temporary(entry))


def _is_checkpoint_entry(entry: Path) -> bool:
    if entry.is_symlink() or not entry.is_file():
        return False
    return CHECKPOINT_NAME.fullmatch(entry.name) is not None or files.is_temporary(entry)


def _describe(entries) -> str:
    names = sorted(e.name + ("/" if e.is_dir() and not e.is_symlink() else "") for e in entries)
    shown = ", ".join(names[:6])
    return shown + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def _refuse_to_replace(path: Path):
    """Raise RunFolderError unless ``path`` is a run folder that ``overwrite`` may empty."""
    here = Path.cwd().resolve()
    target = path.resolve()
    if target == here or here.is_relative_to(target):
        raise RunFolderError(f"--overwrite will not empty {path}: it is the current folder or one of its "
                             f"parents; choose another --out")
    entries = list(path.iterdir())
    if not _made_by_scratchgan(path):
        raise RunFolderError(f"--overwrite replaces only a run folder made by scratchgan, and {path} is not one "
                             f"(no {MARKER} marker); it holds: {_describe(entries)}. Remove it yourself or "
                             f"choose another --out")
    foreign = [entry for entry in entries if not _is_run_entry(entry)]
    if foreign:
        raise RunFolderError(f"--overwrite will not remove files scratchgan did not write: {path} holds "
                             f"{_describe(foreign)}. Move them out of the folder, or choose another --out")


def _holds_a_run(path: Path) -> bool:
    """Whether the folder holds anything but what a run's first moments leave (its lock, marker,
    temporary files, an empty checkpoints/): a run killed there has nothing worth keeping."""
    for entry in path.iterdir():
        if entry.name == CHECKPOINTS and entry.is_dir() and not entry.is_symlink():
            if any(entry.iterdir()):
                return True
        elif not (entry.name in (LOCK, OWNER, MARKER) or files.is_temporary(entry)) or entry.is_symlink():
            return True
    return False


def _made_by_scratchgan(path: Path) -> bool:
    """The marker, or (a run of scratchgan 0.1, before the marker) a config.json of a training run."""
    if (path / MARKER).is_file():
        return True
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and {"data", "loss", "steps", "seed", "backend"} <= set(config)


def claim_default_folder() -> Path:
    """``runs/train-<time>``, claimed with mkdir (``-2``, ``-3``, ... when runs start in the same second)."""
    stamp = time.strftime("train-%Y%m%d-%H%M%S")
    Path("runs").mkdir(exist_ok=True)
    for number in range(1, 10_000):
        candidate = Path("runs") / (stamp if number == 1 else f"{stamp}-{number}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RunFolderError(f"cannot find a free folder name runs/{stamp}-N; pass --out")


def remove_if_unused(path):
    """Remove the folder ``path`` if nothing but scratchgan's hidden files (and an empty
    checkpoints/) was written in it: a default folder claimed for a run that did not start."""
    path = Path(path)
    try:
        entries = list(path.iterdir())
        if any(e.name not in (MARKER, LOCK, OWNER, CHECKPOINTS) for e in entries):
            return
        if (path / CHECKPOINTS).is_dir() and any((path / CHECKPOINTS).iterdir()):
            return
        for entry in entries:
            entry.rmdir() if entry.is_dir() else entry.unlink()
        path.rmdir()
    except OSError:
        pass  # left as it is: it is only an empty folder


class RunFolder:
    """A run folder, locked by this process from ``create``/``open_existing`` until ``release``
    (also a context manager)."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock = None

    # -- opening ----------------------------------------------------------------------------------
    @classmethod
    def create(cls, path=None, overwrite: bool = False) -> "RunFolder":
        """A new run folder at ``path`` (None: a fresh ``runs/train-<time>``), empty but for its
        marker, and locked. An existing non-empty folder is an error unless ``overwrite`` and it is
        a run folder that may be replaced (``_refuse_to_replace``)."""
        folder = cls(path if path is not None else claim_default_folder())
        path = folder.path
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"run folder {path} exists and is not a folder")
        if path.is_dir() and _holds_a_run(path):
            if not overwrite:
                raise RunFolderError(f"run folder {path} already exists and is not empty; choose another --out "
                                     f"or pass --overwrite to replace it")
            _refuse_to_replace(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunFolderError(f"cannot make run folder {path}: {error.strerror}") from None
        folder.acquire()
        try:
            folder._remove_run_files()  # under the lock: no other process is writing them
            (path / CHECKPOINTS).mkdir(exist_ok=True)
            files.atomic_write_text(path / MARKER, json.dumps({"made_by": "scratchgan", "created": _now()}) + "\n")
        except OSError as error:
            folder.release()
            raise _not_writable(path, error) from None
        return folder

    @classmethod
    def open_existing(cls, path) -> "RunFolder":
        """An existing run folder, locked, to continue it (``scratchgan resume``); what a killed
        writer left half-done (temporary files) is removed."""
        folder = cls(path)
        if not (folder.path / "config.json").is_file():
            raise RunFolderError(f"{folder.path} is not a run folder (no config.json)")
        folder.acquire()
        try:
            (folder.path / CHECKPOINTS).mkdir(exist_ok=True)
            for place in (folder.path, folder.path / CHECKPOINTS):
                files.remove_temporaries(place)
        except OSError as error:
            folder.release()
            raise _not_writable(folder.path, error) from None
        return folder

    def _remove_run_files(self):
        for entry in self.path.iterdir():
            if entry.name in (LOCK, OWNER) or not _is_run_entry(entry):
                continue
            if entry.is_dir():
                for inner in entry.iterdir():
                    inner.unlink()
                entry.rmdir()
            else:
                entry.unlink()

    # -- the lock ---------------------------------------------------------------------------------
    def acquire(self):
        """Take the folder's lock, or raise RunFolderError naming the process that holds it."""
        lock = FileLock(self.path / LOCK, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise RunFolderError(f"run folder {self.path} is in use by another scratchgan process "
                                 f"({self._owner_text()}); wait for it to finish or stop it") from None
        except OSError as error:
            raise RunFolderError(f"cannot lock run folder {self.path}: {error.strerror or error}") from None
        self._lock = lock
        owner = {"pid": os.getpid(), "since": _now(), "command": " ".join(sys.argv[:3])}
        try:
            files.atomic_write_text(self.path / OWNER, json.dumps(owner) + "\n")
        except OSError as error:
            self.release()
            raise _not_writable(self.path, error) from None

    def _owner_text(self) -> str:
        try:
            owner = json.loads((self.path / OWNER).read_text(encoding="utf-8"))
            return f"pid {int(owner['pid'])}, since {owner['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "pid unknown"

    def release(self):
        if self._lock is not None:
            try:
                (self.path / OWNER).unlink()
            except OSError:
                pass
            self._lock.release()
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    # -- JSON files -------------------------------------------------------------------------------
    def read_json(self, name: str) -> dict:
        path = self.path / name
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise RunFolderError(f"cannot read {path}: {error}") from None
        if not isinstance(value, dict):
            raise RunFolderError(f"cannot read {path}: expected a JSON object, found {type(value).__name__}")
        return value

    def write_json(self, name: str, payload: dict) -> int:
        """Write ``payload`` as strict JSON (non-finite numbers as null); returns how many were replaced."""
        clean, count = strict_json(payload)
        files.atomic_write_text(self.path / name, json.dumps(clean, indent=2, sort_keys=True) + "\n")
        return count

    # -- the metrics log --------------------------------------------------------------------------
    def read_metrics_log(self) -> list:
        """The records of ``metrics.jsonl``. A torn last line (a writer killed mid-line) is dropped
        with a RunFolderWarning; any other unreadable line is a RunFolderError naming it."""
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        try:
            lines = path.read_bytes().decode("utf-8", errors="replace").split("\n")
        except OSError as error:
            raise RunFolderError(f"cannot read {path}: {error.strerror}") from None
        records = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                    raise ValueError("not a record with an integer step")
            except ValueError as error:
                if number == len(lines):  # no newline after it: the write was cut short
                    warnings.warn(f"{path}: dropped a torn last line ({len(line)} characters, written when the "
                                  f"run was stopped)", RunFolderWarning, stacklevel=2)
                    break
                raise RunFolderError(f"{path} line {number} is not a metrics record ({error}); remove the line "
                                     f"to continue the run") from None
            records.append(record)
        return records

    def truncate_metrics_log(self, after_step: int):
        """Keep the records up to ``after_step`` (those a resume from that step's checkpoint keeps)."""
        kept = [r for r in self.read_metrics_log() if r["step"] <= after_step]
        files.atomic_write_text(self.path / "metrics.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))

    def log_metrics(self, record: dict) -> int:
        """Append one record as a strict JSON line; returns how many non-finite values became null."""
        clean, count = strict_json(record)
        files.append_line(self.path / "metrics.jsonl", json.dumps(clean, sort_keys=True))
        return count

    # -- arrays -----------------------------------------------------------------------------------
    def save_checkpoint(self, step: int, arrays: dict) -> Path:
        target = self.path / CHECKPOINTS / f"step_{step}.npz"
        files.atomic_write_bytes(target, _npz_bytes(arrays))
        return target

    def checkpoints(self) -> list[tuple[int, Path]]:
        """(step, path) of every checkpoint file, newest first."""
        found = []
        for path in (self.path / CHECKPOINTS).glob("step_*.npz"):
            match = CHECKPOINT_NAME.fullmatch(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found, reverse=True)

    def save_snapshots(self, snapshots: dict):
        files.atomic_write_bytes(self.path / "snapshots.npz", _npz_bytes({str(k): v for k, v in snapshots.items()}))

    def load_snapshots(self, up_to_step: int) -> dict:
        """The saved snapshots of steps up to ``up_to_step``; an unreadable file is a warning (the
        snapshots only feed the figures) and is replaced at the next snapshot."""
        path = self.path / "snapshots.npz"
        if not path.exists():
            return {}
        try:
            arrays = load_arrays(path, what="snapshots file")
            snapshots = {int(key): value for key, value in arrays.items()}
        except (RunFolderError, ValueError) as error:
            warnings.warn(f"{error}; earlier snapshots are left out of snapshots.png", RunFolderWarning, stacklevel=2)
            return {}
        return {step: value for step, value in snapshots.items() if step <= up_to_step}


def _not_writable(path, error: OSError) -> OSError:
    """A write error as it is when it names its file (a full disk: the CLI says how to go on)."""
    if isinstance(error, files.FileWriteError):
        return error
    return RunFolderError(f"run folder {path} is not writable: {error.strerror or error}")


def _npz_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    numpy.savez(buffer, **arrays)
    return buffer.getvalue()


def load_arrays(path, what="checkpoint") -> dict:
    """The arrays of an ``.npz`` file written by scratchgan, all read (so that every CRC is
    checked); one RunFolderError naming the file and the fault, whatever the file holds."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            head = stream.read(4)
    except OSError as error:
        raise RunFolderError(f"{what} {path} cannot be read: {error.strerror}") from None
    if head != b"PK\x03\x04":
        raise RunFolderError(f"{what} {path} is not an .npz archive (it starts with {head!r}, expected b'PK\\x03\\x04')")
    try:
        with numpy.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except Exception as error:  # noqa: BLE001  zipfile, zlib and numpy raise a dozen kinds on damaged bytes
        kind = "truncated or damaged" if isinstance(error, (zipfile.BadZipFile, EOFError)) else "damaged"
        raise RunFolderError(f"{what} {path} is {kind} ({type(error).__name__}: {error})") from None


def load_checkpoint(path) -> dict:
    """The arrays of a checkpoint written by ``RunFolder.save_checkpoint`` (``load_arrays``)."""
    return load_arrays(path, what="checkpoint")


def strict_json(value):
    """(value with every non-finite float replaced by None, how many were replaced): JSON that
    strict parsers accept (Python's json writes NaN and Infinity, which are not JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, 1
    if isinstance(value, dict):
        pairs = [(key, *strict_json(item)) for key, item in value.items()]
        return {key: item for key, item, _ in pairs}, sum(count for *_, count in pairs)
    if isinstance(value, (list, tuple)):
        pairs = [strict_json(item) for item in value]
        return [item for item, _ in pairs], sum(count for _, count in pairs)
    if isinstance(value, numpy.generic):
        return strict_json(value.item())
    return value, 0


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")

"""Run folders: ``config.json``, ``metrics.jsonl``, ``metrics.json``, ``checkpoints/``, figures.

A run folder is never overwritten by accident: creating one that exists and is not
empty is an error unless ``overwrite=True``. Checkpoints are ``.npz`` files written to a
temporary name and renamed, so an interrupted save never leaves a half-written file
under the final name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy


class RunFolderError(RuntimeError):
    """The run folder cannot be used as asked (exists, not writable, corrupt)."""


class RunFolder:
    def __init__(self, path, overwrite: bool = False):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"run folder {self.path} exists and is not a directory")
        if self.path.is_dir() and any(self.path.iterdir()):
            if not overwrite:
                raise RunFolderError(
                    f"run folder {self.path} already exists and is not empty; choose another "
                    f"--out or pass --overwrite to replace it"
                )
            shutil.rmtree(self.path)
        try:
            (self.path / "checkpoints").mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as error:
            raise RunFolderError(f"run folder {self.path} is not writable: {error.strerror}") from None

    def write_json(self, name: str, payload: dict):
        _atomic_write_text(self.path / name, json.dumps(payload, indent=2, sort_keys=True) + "\n")

    def log_metrics(self, record: dict):
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as stream:
            stream.write(json.dumps(record, sort_keys=True) + "\n")

    def save_checkpoint(self, step: int, arrays: dict) -> Path:
        target = self.path / "checkpoints" / f"step_{step}.npz"
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".npz.tmp")
        os.close(handle)
        try:
            with open(temporary, "wb") as stream:
                numpy.savez(stream, **arrays)
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return target


def load_checkpoint(path) -> dict:
    """The arrays of a checkpoint written by ``RunFolder.save_checkpoint``; one clear error if corrupt."""
    path = Path(path)
    if not path.is_file():
        raise RunFolderError(f"checkpoint {path} does not exist")
    try:
        with numpy.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as error:
        raise RunFolderError(f"checkpoint {path} is corrupt or not an .npz file ({error})") from None


def _atomic_write_text(path: Path, text: str):
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)

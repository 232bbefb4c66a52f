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

    @classmethod
    def open_existing(cls, path) -> "RunFolder":
        """An existing run folder, to continue it (``scratchgan resume``)."""
        path = Path(path)
        if not (path / "config.json").is_file():
            raise RunFolderError(f"{path} is not a run folder (no config.json)")
        folder = cls.__new__(cls)
        folder.path = path
        (path / "checkpoints").mkdir(exist_ok=True)
        return folder

    def read_json(self, name: str) -> dict:
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise RunFolderError(f"cannot read {self.path / name}: {error}") from None

    def latest_checkpoint(self) -> Path:
        found = sorted((self.path / "checkpoints").glob("step_*.npz"),
                       key=lambda p: int(p.stem.split("_")[1]) if p.stem.split("_")[1].isdigit() else -1)
        if not found:
            raise RunFolderError(f"{self.path} has no checkpoint to resume from")
        return found[-1]

    def read_metrics_log(self) -> list:
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def truncate_metrics_log(self, after_step: int):
        """Drop log lines past ``after_step`` (written after the checkpoint a resume starts from)."""
        kept = [r for r in self.read_metrics_log() if r.get("step", 0) <= after_step]
        _atomic_write_text(self.path / "metrics.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))

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

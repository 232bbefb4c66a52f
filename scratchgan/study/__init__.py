"""Studies: many trainings (methods x settings x seeds) as Dask tasks, one table, the figures.

    spec = study.load_spec("losses.toml")
    study.run_study(spec, "studies/losses")          # a LocalCluster, one worker per core
    study.run_study(spec, "/shared/losses", scheduler="tcp://10.0.0.5:8786")

A study folder holds ``study.json`` (its spec), ``runs/<task id>/`` (ordinary run folders),
``failures/``, ``results.csv``, ``results.parquet`` and the figures. Running it again skips
what is done and resumes what was stopped; ``report`` rebuilds the table and figures.
"""

from __future__ import annotations

from pathlib import Path

from scratchgan.study.execute import StudyError, prepare_folder, run_tasks, start_client, task_state
from scratchgan.study.report import best_so_far, rows, summary, write_report
from scratchgan.study.spec import Spec, SpecError, Task, load_spec

__all__ = ["Spec", "SpecError", "StudyError", "Task", "best_so_far", "load_spec", "report", "rows", "run_study",
           "summary", "task_state"]


def run_study(spec: Spec, out, scheduler=None, workers=None, retry_failed=False, kernel_set="numba",
              progress=True) -> list[dict]:
    """Run the tasks of ``spec`` not yet done into the study folder ``out``, then write its table
    and figures; returns the table's rows. Ctrl-C cancels the rest (KeyboardInterrupt) and
    leaves a study that the same call continues."""
    out = Path(out)
    pending = prepare_folder(out, spec, retry_failed)
    if pending:
        client, cluster = start_client(scheduler, workers)
        try:
            run_tasks(client, out, pending, kernel_set, progress)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return write_report(out, spec)


def report(out) -> list[dict]:
    """Rebuild the table and figures of the study folder ``out`` from its run folders."""
    out = Path(out)
    record = out / "study.json"
    if not record.is_file():
        raise StudyError(f"{out} is not a study folder (no study.json)")
    import json

    try:
        values = json.loads(record.read_text(encoding="utf-8"))
        spec = Spec(**values)
        spec.tasks()
    except (OSError, ValueError, TypeError) as error:
        raise StudyError(f"cannot read {record}: {error}") from None
    return write_report(out, spec)

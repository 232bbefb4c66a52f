"""Running a study's tasks on Dask distributed.

Each task is an ordinary run folder, ``<study>/runs/<task id>/``, so that the study keeps
nothing a run folder does not already keep:

* a finished task has its ``metrics.json`` (``runner`` writes it last) and is skipped;
* a task stopped with its worker has checkpoints and is resumed from the newest one;
* a failed task has ``<study>/failures/<task id>.json`` (its error line) and is run again
  only with ``retry_failed``.

By default the tasks run on a ``LocalCluster``: one worker process per core, one thread each,
BLAS limited to one thread in each (a toy GAN's GEMMs are fastest on one thread, and the
workers already fill the cores). With ``scheduler="tcp://HOST:PORT"`` they are submitted to a
running cluster (``dask scheduler`` / ``dask worker``), whose workers must see the study
folder at the same path (shared storage).
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path

from scratchgan import files
from scratchgan.study.spec import Spec, Task

class StudyError(RuntimeError):
    """The study cannot run as asked (its folder, its scheduler); the message says why."""


# -- one task, on a worker ----------------------------------------------------------------------------
def task_state(study_dir: Path, task: Task) -> str:
    """"done", "failed", "started" (a run folder with its config) or "new"."""
    run = study_dir / "runs" / task.id
    if _finished(run, task):
        return "done"
    if (study_dir / "failures" / f"{task.id}.json").is_file():
        return "failed"
    return "started" if (run / "config.json").is_file() else "new"


def _finished(run: Path, task: Task) -> bool:
    try:
        metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
        config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(metrics, dict) and isinstance(config, dict) and metrics.get("steps") == config.get("steps")


def run_task(study_dir: str, task: Task, kernel_set: str) -> str:
    """Train (or resume, or skip) one task in its run folder; returns its state afterwards.
    Runs on a Dask worker: any error becomes the task's failure record, not an exception."""
    from threadpoolctl import threadpool_limits

    from scratchgan import backend
    from scratchgan.gan import runner

    study = Path(study_dir)
    run = study / "runs" / task.id
    state = task_state(study, task)
    if state == "done":
        return "done"
    try:
        backend.set_backend(kernel_set)
        with threadpool_limits(limits=1):
            if state == "started":
                runner.resume(run, progress=False)
            else:
                runner.run(task.config(), run, progress=False)
    except Exception as error:  # noqa: BLE001  recorded as the task's failure, one line
        line = f"{type(error).__name__}: {error}".splitlines()[0]
        record = {"task": task.id, "error": line, "where": traceback.format_exc(limit=-3)}
        (study / "failures").mkdir(exist_ok=True)
        files.atomic_write_text(study / "failures" / f"{task.id}.json", json.dumps(record, indent=2) + "\n")
        return "failed"
    return "done"


# -- the whole study, from the client -------------------------------------------------------------------
def prepare_folder(study_dir: Path, spec: Spec, retry_failed: bool) -> list[Task]:
    """Make or check the study folder (``study.json`` holds its spec: another spec is refused);
    returns the tasks still to run."""
    study_dir.mkdir(parents=True, exist_ok=True)
    record = study_dir / "study.json"
    wanted = spec.as_dict()
    if record.exists():
        try:
            saved = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise StudyError(f"cannot read {record}: {error}") from None
        if saved != wanted:
            different = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
            raise StudyError(f"study folder {study_dir} belongs to another spec (differs in: {', '.join(different)}); "
                             f"choose another --out, or run that spec")
    else:
        files.atomic_write_text(record, json.dumps(wanted, indent=2, sort_keys=True) + "\n")
    tasks = spec.tasks()
    if retry_failed:
        for task in tasks:
            failure = study_dir / "failures" / f"{task.id}.json"
            if failure.exists():
                failure.unlink()
    return [task for task in tasks if task_state(study_dir, task) not in ("done", "failed")]


def start_client(scheduler: str | None, workers: int | None):
    """A Dask client: on the cluster at ``scheduler``, else on a new LocalCluster. Returns
    (client, cluster or None)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="5s"), None
        except (OSError, TimeoutError) as error:
            raise StudyError(f"cannot reach the Dask scheduler at {scheduler} ({type(error).__name__}: {error}); "
                             f"start one with 'dask scheduler' and 'dask worker {scheduler}'") from None
    count = workers or os.cpu_count() or 1
    one_thread = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                         "NUMBA_NUM_THREADS")}
    cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None,
                           env=one_thread, silence_logs=50)
    return Client(cluster), cluster


def run_tasks(client, study_dir: Path, tasks: list[Task], kernel_set: str, progress: bool) -> dict:
    """Submit ``tasks`` and wait, with a progress bar (done, running, failed, ETA); returns
    {task id: state}. Ctrl-C cancels what has not run (KeyboardInterrupt propagates)."""
    from distributed import as_completed
    from tqdm import tqdm

    futures = {client.submit(run_task, str(study_dir.resolve()), task, kernel_set, key=f"scratchgan-{task.id}",
                             pure=False): task for task in tasks}
    states = {}
    bar = tqdm(total=len(futures), desc="study", unit="run", disable=not progress)
    try:
        for future in as_completed(futures):
            task = futures[future]
            try:
                states[task.id] = future.result()
            except Exception as error:  # noqa: BLE001  the worker died with it, more often than allowed
                states[task.id] = "failed"
                record = {"task": task.id, "error": f"its worker died ({type(error).__name__}: {error})".splitlines()[0]}
                (study_dir / "failures").mkdir(exist_ok=True)
                files.atomic_write_text(study_dir / "failures" / f"{task.id}.json", json.dumps(record, indent=2) + "\n")
            failed = sum(state == "failed" for state in states.values())
            running = min(len(futures) - len(states), max(1, len(client.nthreads())))
            bar.set_postfix(done=len(states) - failed, failed=failed, running=running)
            bar.update(1)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        raise
    finally:
        bar.close()
    return states

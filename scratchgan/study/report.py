"""A study's results, rebuilt from its run folders: one table, and the figures of Lucic et al.

* ``results.csv`` and ``results.parquet``: one row per task (its method, seed, the settings
  that vary across the study, its status and error line, its final metrics and seconds);
* ``box_<metric>.png``: per method, a box over its runs with every run drawn as a point
  (Lucic et al. 2018, "Are GANs created equal?", Figure 4);
* ``budget_<metric>.png`` for methods with several settings: the best value found against
  the number of settings tried, the median and the 10-90% band over random orders of trial
  (Lucic et al., Figure 5).
"""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from pathlib import Path

import numpy

from scratchgan import files
from scratchgan.study.execute import task_state
from scratchgan.study.spec import Spec, Task, higher_is_better

ORDERINGS = 200  # random orders of trial behind the budget curve's band


def rows(study_dir: Path, spec: Spec) -> list[dict]:
    """One row per task, from the run folders and failure records (nothing else is kept)."""
    tasks = spec.tasks()
    varying = sorted({key for task in tasks for key in task.settings
                      if len({json.dumps(t.settings.get(key)) for t in tasks}) > 1})
    table = []
    for task in tasks:
        row = {"task": task.id, "method": task.method, "seed": task.seed,
               **{key: task.settings.get(key) for key in varying}}
        state = task_state(study_dir, task)
        row["status"] = {"new": "not run", "started": "incomplete"}.get(state, state)
        row["error"] = _error_line(study_dir, task) if state == "failed" else ""
        metrics = _metrics(study_dir, task) if state == "done" else {}
        row["seconds"] = metrics.pop("seconds", None)
        row.update({key: value for key, value in metrics.items()
                    if isinstance(value, (int, float)) and not isinstance(value, bool)})
        table.append(row)
    return table


def _metrics(study_dir, task: Task) -> dict:
    try:
        return json.loads((study_dir / "runs" / task.id / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _error_line(study_dir, task: Task) -> str:
    try:
        return str(json.loads((study_dir / "failures" / f"{task.id}.json").read_text(encoding="utf-8"))["error"])
    except (OSError, ValueError, KeyError, TypeError):
        return "failed (its failure record is unreadable)"


def write_report(study_dir: Path, spec: Spec) -> list[dict]:
    """results.csv, results.parquet and the figures; returns the rows."""
    table = rows(study_dir, spec)
    columns = list(dict.fromkeys(key for row in table for key in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    files.atomic_write_text(study_dir / "results.csv", text.getvalue())
    _write_parquet(study_dir / "results.parquet", table, columns)
    done = [row for row in table if row["status"] == "done"]
    for metric in spec.metrics:
        if any(row.get(metric) is not None for row in done):
            box_figure(study_dir / f"box_{metric}.png", done, metric, spec.name)
            if _has_search(spec):
                budget_figure(study_dir / f"budget_{metric}.png", done, metric, spec.name)
    return table


def _write_parquet(path: Path, table: list[dict], columns: list[str]):
    import pyarrow
    import pyarrow.parquet

    arrays = {}
    for column in columns:
        values = [row.get(column) for row in table]
        kinds = {type(v) for v in values if v is not None}
        if kinds <= {int, float} and float in kinds:
            values = [None if v is None else float(v) for v in values]
        elif len(kinds) > 1:  # mixed settings (a number in one method, text in another): as text
            values = [None if v is None else str(v) for v in values]
        arrays[column] = pyarrow.array(values)
    buffer = pyarrow.BufferOutputStream()
    pyarrow.parquet.write_table(pyarrow.table(arrays), buffer)
    files.atomic_write_bytes(path, buffer.getvalue().to_pybytes())


def summary(table: list[dict], metrics) -> list[dict]:
    """Per method: runs done / all, and the median and range of each metric over its runs."""
    lines = []
    for method in dict.fromkeys(row["method"] for row in table):
        own = [row for row in table if row["method"] == method]
        done = [row for row in own if row["status"] == "done"]
        line = {"method": method, "runs": f"{len(done)}/{len(own)}"}
        for metric in metrics:
            values = [row[metric] for row in done if row.get(metric) is not None]
            line[metric] = ((float(numpy.median(values)), min(values), max(values)) if values else None)
        lines.append(line)
    return lines


def _has_search(spec: Spec) -> bool:
    """Whether some method was trained under several settings (a grid or random search in it)."""
    settings = {}
    for task in spec.tasks():
        settings.setdefault(task.method, set()).add(json.dumps(task.settings, sort_keys=True))
    return any(len(found) > 1 for found in settings.values())


# -- figures ----------------------------------------------------------------------------------------------
LABEL_WIDTH = 24  # characters per line of a method's name under its box


def box_figure(path, done, metric, title):
    import matplotlib.pyplot as plt  # headless: matplotlib falls back to Agg

    methods = list(dict.fromkeys(row["method"] for row in done))
    values = [[row[metric] for row in done if row["method"] == m and row.get(metric) is not None] for m in methods]
    figure, axes = plt.subplots(figsize=(max(5.5, 1.1 * len(methods) + 1.5), 4.2))
    axes.boxplot(values, showfliers=False, widths=0.55, medianprops={"color": "tab:red"})
    jitter = numpy.random.default_rng(0)
    for position, points in enumerate(values, start=1):
        axes.scatter(position + jitter.uniform(-0.12, 0.12, len(points)), points, s=16, alpha=0.75,
                     color="tab:blue", zorder=3)
    labels = [textwrap.fill(method, LABEL_WIDTH) for method in methods]  # long names wrap, not overlap
    axes.set_xticks(range(1, len(methods) + 1), labels, rotation=25 if len(methods) > 4 else 0, ha="right"
                    if len(methods) > 4 else "center")
    better = "higher" if higher_is_better(metric) else "lower"
    axes.set_ylabel(f"{metric} ({better} is better)")
    axes.set_title(f"{title}: {metric} of every run\n(box: quartiles and median; points: runs)", fontsize=9)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    files.save_figure(figure, path, dpi=110)
    plt.close(figure)


def best_so_far(values, higher_is_better, orderings=ORDERINGS, seed=0):
    """(budgets 1..n, median, 10th and 90th percentiles) of the best value among the first k
    trials, over random orders of trial."""
    values = numpy.asarray(values, dtype=float)
    generator = numpy.random.default_rng(seed)
    curves = []
    for _ in range(orderings):
        order = values[generator.permutation(len(values))]
        curves.append(numpy.maximum.accumulate(order) if higher_is_better else numpy.minimum.accumulate(order))
    curves = numpy.array(curves)
    return (numpy.arange(1, len(values) + 1), numpy.median(curves, axis=0), numpy.percentile(curves, 10, axis=0),
            numpy.percentile(curves, 90, axis=0))


def budget_figure(path, done, metric, title):
    import matplotlib.pyplot as plt  # headless: matplotlib falls back to Agg

    higher = higher_is_better(metric)
    figure, axes = plt.subplots(figsize=(6, 4.2))
    for method in dict.fromkeys(row["method"] for row in done):
        values = [row[metric] for row in done if row["method"] == method and row.get(metric) is not None
                  and math.isfinite(row[metric])]
        if len(values) < 2:
            continue
        budget, median, low, high = best_so_far(values, higher)
        line, = axes.plot(budget, median, label=method)
        axes.fill_between(budget, low, high, color=line.get_color(), alpha=0.2)
    axes.set_xlabel("runs tried (settings x seeds, in random order)")
    axes.set_ylabel(f"best {metric} so far")
    axes.set_title(f"{title}\nbest {metric} against the budget (median and 10-90% band over orders)", fontsize=10)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    files.save_figure(figure, path, dpi=110)
    plt.close(figure)

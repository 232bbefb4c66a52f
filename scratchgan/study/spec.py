"""A study spec: which trainings to run, as a list of tasks.

A spec is a TOML file (or the same keys from the command line)::

    name = "losses on ring8"
    seeds = [0, 1, 2]                       # or a count: seeds = 3 means 0, 1, 2
    metrics = ["modes_covered", "high_quality_fraction"]   # default: the data family's

    [base]                                  # TrainConfig settings shared by every task
    data = "ring8"
    steps = 2000

    [grid]                                  # the cross product of these values
    lr_d = [1e-3, 2e-3]

    [[methods]]                             # named settings that go together
    name = "WGAN-GP"
    loss = "wasserstein"
    penalty = "gradient_penalty"

    [random]                                # random search: `samples` settings per method
    samples = 8
    seed = 0
    lr_g = { log_uniform = [1e-4, 1e-2] }
    beta1 = { choice = [0.0, 0.5] }

Any of these tables may name a recipe (``recipe = "ring8-wgan-gp"``, scratchgan.gan.recipes):
its settings come first and every setting the spec writes overrides them.

The tasks are methods x grid points x random samples x seeds, each an ordinary training
run (``scratchgan train`` with those settings). Without ``methods``, each grid point is a
method of its own. Every task's config is checked (``TrainConfig.validate``) when the spec
is read, so a wrong name or value is one error before anything runs.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import re
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy

from scratchgan.gan import recipes
from scratchgan.gan.trainer import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

SECTIONS = ("name", "seeds", "metrics", "base", "grid", "methods", "random")
DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int_uniform")
# the figures' metrics when a spec names none, and which way is better
DEFAULT_METRICS = {"toy": ("modes_covered", "high_quality_fraction"),
                   "image": ("fid", "class_kl_from_uniform", "inception_score")}
HIGHER_IS_BETTER = {"modes_covered", "high_quality_fraction", "inception_score", "class_accuracy", "code_purity",
                    "classes_covered", "finite_fraction", "precision", "recall", "density", "coverage",
                    "probe_linear", "probe_1nn"}


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (probe accuracies of any features too)."""
    return metric in HIGHER_IS_BETTER or metric.startswith(("probe_linear", "probe_1nn"))


class SpecError(ValueError):
    """A study spec that cannot be run; the message names the entry and what was expected."""


@dataclass(frozen=True)
class Task:
    """One training of a study: its method, its settings (on top of TrainConfig's defaults) and its id."""

    method: str
    settings: dict
    seed: int
    sample: int

    @property
    def id(self) -> str:
        digest = hashlib.sha1(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()[:8]
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.method).strip("-").lower()[:40] or "run"
        return f"{slug}-{digest}-s{self.seed}"

    def config(self) -> TrainConfig:
        return TrainConfig.from_dict({**self.settings, "seed": self.seed})


@dataclass
class Spec:
    name: str
    seeds: list
    metrics: list
    base: dict
    grid: dict
    methods: list
    random: dict

    def as_dict(self) -> dict:
        return asdict(self)

    def tasks(self) -> list[Task]:
        """Methods x grid points x random samples x seeds, in that order (seeds vary fastest).
        With ``methods``, the grid and the random samples are each method's hyperparameter
        search; without, each grid point is a method of its own."""
        points = [dict(zip(self.grid, values)) for values in itertools.product(*self.grid.values())]
        tasks = []
        for index, method in enumerate(self.methods or [{}]):
            own = {k: v for k, v in method.items() if k != "name"}
            for point in points:
                label = method.get("name") or _point_name(point)
                for sample, drawn in enumerate(self._samples(index)):
                    # a recipe's settings first, every setting the spec writes on top
                    settings = recipes.expand({**self.base, **point, **own, **drawn})
                    tasks.extend(Task(label, settings, seed, sample) for seed in self.seeds)
        return tasks

    def _samples(self, method_index) -> list[dict]:
        """The random-search settings of one method (``[{}]`` without random search)."""
        if not self.random:
            return [{}]
        count = self.random["samples"]
        generator = numpy.random.default_rng([self.random.get("seed", 0), method_index])
        draws = []
        for _ in range(count):
            draws.append({name: _draw(rule, generator) for name, rule in self.random.items()
                          if name not in ("samples", "seed")})
        return draws

    def family(self) -> str:
        return self.tasks()[0].config().family


def _point_name(point: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in point.items()) or "base"


def _draw(rule: dict, generator):
    (kind, values), = rule.items()
    if kind == "choice":
        return values[int(generator.integers(len(values)))]
    low, high = values
    if kind == "uniform":
        return float(generator.uniform(low, high))
    if kind == "log_uniform":
        return float(math.exp(generator.uniform(math.log(low), math.log(high))))
    return int(generator.integers(low, high + 1))  # int_uniform: both ends included


# -- reading and checking ----------------------------------------------------------------------------
def load_spec(path=None, grid=(), base=(), seeds=None) -> Spec:
    """The spec of a TOML file (None: an empty one), with ``grid`` ("key=v1,v2"), ``base``
    ("key=value") and ``seeds`` ("0,1,2") from the command line added to it; checked whole."""
    values = {}
    if path is not None:
        path = Path(path)
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise SpecError(f"cannot read study spec {path}: {error.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise SpecError(f"study spec {path} is not valid TOML: {error}") from None
    unknown = sorted(set(values) - set(SECTIONS))
    if unknown:
        raise SpecError(f"unknown entry {unknown[0]!r} in the study spec; expected: {', '.join(SECTIONS)}")
    spec = Spec(name=str(values.get("name") or (path.stem if path else "study")),
                seeds=_seeds(values.get("seeds", [0]) if seeds is None else _parse_list(seeds, "--seeds")),
                metrics=list(values.get("metrics", [])),
                base={**_table(values, "base"), **dict(_assignment(item, "--set") for item in base)},
                grid={**_table(values, "grid"), **dict(_grid_item(item) for item in grid)},
                methods=list(values.get("methods", [])),
                random=_table(values, "random"))
    _check(spec)
    return spec


def _table(values, name) -> dict:
    table = values.get(name, {})
    if not isinstance(table, dict):
        raise SpecError(f"[{name}] must be a table of settings, got {table!r}")
    return dict(table)


def _seeds(value) -> list:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise SpecError(f"seeds must be a count >= 1 or a list of seeds, got {value}")
        return list(range(value))
    if not isinstance(value, list) or not value or not all(isinstance(s, int) and s >= 0 for s in value):
        raise SpecError(f"seeds must be a count or a list of non-negative integers, got {value!r}")
    if len(set(value)) != len(value):
        raise SpecError(f"seeds must be distinct, got {value}")
    return list(value)


def _parse_value(text: str):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return {"true": True, "false": False, "none": None, "null": None}.get(text.lower(), text)


def _parse_list(text: str, flag: str) -> list:
    try:
        return [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise SpecError(f"{flag} expects integers separated by commas, got {text!r}") from None


def _assignment(item: str, flag: str):
    key, equals, value = item.partition("=")
    if not equals or not key:
        raise SpecError(f"{flag} expects KEY=VALUE, got {item!r}")
    return key.strip().replace("-", "_"), _parse_value(value.strip())


def _grid_item(item: str):
    key, values = _assignment(item, "--grid")
    return key, [_parse_value(v.strip()) for v in str(values).split(",")] if isinstance(values, str) else [values]


SETTINGS = tuple(f.name for f in fields(TrainConfig) if f.name != "seed")


def _check_names(names, where):
    for name in names:
        if name == "recipe":
            continue
        if name not in SETTINGS:
            close = difflib.get_close_matches(name, SETTINGS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SpecError(f"unknown setting {name!r} in {where}{hint}; valid settings: {', '.join(SETTINGS)}"
                            + ("; seeds are given by 'seeds'" if name == "seed" else ""))


def _check(spec: Spec):
    _check_names(spec.base, "[base]")
    _check_names(spec.grid, "[grid]")
    for name, values in spec.grid.items():
        if not isinstance(values, list) or not values:
            raise SpecError(f"[grid] {name} must be a non-empty list of values, got {values!r}")
    for index, method in enumerate(spec.methods):
        if not isinstance(method, dict) or not isinstance(method.get("name"), str) or not method["name"]:
            raise SpecError(f"[[methods]] entry {index + 1} needs a name = \"...\"")
        _check_names([k for k in method if k != "name"], f"[[methods]] {method['name']!r}")
    names = [m["name"] for m in spec.methods]
    if len(set(names)) != len(names):
        raise SpecError(f"[[methods]] names must be distinct, got {names}")
    if spec.random:
        samples = spec.random.get("samples")
        if not isinstance(samples, int) or samples < 1:
            raise SpecError(f"[random] needs samples = N (a count >= 1), got {samples!r}")
        rules = {k: v for k, v in spec.random.items() if k not in ("samples", "seed")}
        _check_names(rules, "[random]")
        for name, rule in rules.items():
            if not isinstance(rule, dict) or len(rule) != 1 or next(iter(rule)) not in DISTRIBUTIONS:
                raise SpecError(f"[random] {name} must be one of {{ {' | '.join(f'{d} = [...]' for d in DISTRIBUTIONS)} "
                                f"}}, got {rule!r}")
            kind, values = next(iter(rule.items()))
            if not isinstance(values, list) or (kind != "choice" and len(values) != 2) or not values:
                raise SpecError(f"[random] {name}: {kind} needs " + ("a non-empty list" if kind == "choice" else
                                                                    "[low, high]") + f", got {values!r}")
            if kind == "log_uniform" and not 0 < values[0] < values[1]:
                raise SpecError(f"[random] {name}: log_uniform needs 0 < low < high, got {values}")
    try:
        tasks = spec.tasks()
    except recipes.RecipeError as error:
        raise SpecError(str(error)) from None
    ids = {}
    for task in tasks:
        try:
            task.config().validate()
        except (ValueError, TypeError) as error:
            raise SpecError(f"task {task.method!r} (seed {task.seed}): {error}") from None
        if task.id in ids and ids[task.id] != task:
            raise SpecError(f"two tasks have the same settings ({task.method!r} and {ids[task.id].method!r})")
        ids[task.id] = task
    if len(ids) != len(tasks):
        raise SpecError("the spec lists the same training twice (a method repeats a grid point's settings)")
    family = tasks[0].config().family
    if any(t.config().family != family for t in tasks):
        raise SpecError("a study compares runs on one kind of data: mix of toy and image datasets")
    if not spec.metrics:
        spec.metrics = list(DEFAULT_METRICS[family])

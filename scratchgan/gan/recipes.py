"""Recipes: named, versioned training settings that reproduce a paper's setting.

A recipe is a TOML file shipped with the package (``scratchgan/gan/recipe_files/NAME.toml``)
or written by the user. Its top-level keys describe it; its ``[config]`` table holds
``TrainConfig`` settings::

    name = "ring8-wgan-gp"        # the file's stem, for the shipped ones
    version = 1                   # bumped whenever a setting changes
    summary = "one line"
    paper = "Authors year, \\"Title\\", arXiv:NNNN.NNNNN"
    reproduces = "the figure or table and the setting it matches"
    deviations = "where the recipe differs from the paper, and why"   # optional

    [config]
    data = "ring8"
    loss = "wasserstein"

``scratchgan train --recipe NAME`` starts from the recipe's settings; every flag given on
the command line overrides them. A study spec's ``recipe = "NAME"`` does the same for the
settings the spec writes beside it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from scratchgan.gan.config import TrainConfig

RECIPE_DIR = Path(__file__).with_name("recipe_files")
REQUIRED = ("name", "version", "summary", "paper", "reproduces")
OPTIONAL = ("deviations",)
#: settings a recipe may not fix: the seed is the run's, not the recipe's
NOT_IN_RECIPES = ("seed",)


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file, the key and what was expected."""


@dataclass(frozen=True)
class Recipe:
    name: str
    version: int
    summary: str
    paper: str
    reproduces: str
    config: dict
    deviations: str = ""
    path: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def train_config(self, **overrides) -> TrainConfig:
        """The recipe's ``TrainConfig``, with ``overrides`` on top (e.g. ``seed=1``)."""
        return TrainConfig.from_dict({**self.config, **overrides})


def names() -> list[str]:
    """The shipped recipes, by name."""
    return sorted(path.stem for path in RECIPE_DIR.glob("*.toml"))


def get(name_or_path) -> Recipe:
    """A shipped recipe by name, or a recipe file by path (a name ending in .toml)."""
    text = str(name_or_path)
    if text.endswith(".toml"):
        return load(Path(text))
    path = RECIPE_DIR / f"{text}.toml"
    if not path.is_file():
        close = difflib.get_close_matches(text, names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RecipeError(f"unknown recipe {text!r}{hint}; shipped recipes: {', '.join(names())} "
                          f"(or give the path of a .toml recipe file)")
    return load(path, shipped=True)


def load(path: Path, shipped=False) -> Recipe:
    """Read and check one recipe file."""
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError(f"recipe file {str(path)!r} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, IsADirectoryError) as error:
        raise RecipeError(f"recipe {str(path)!r} is not a readable TOML file: {error}") from None
    _check(values, path, shipped)
    described = {key: values[key] for key in REQUIRED + OPTIONAL if key in values}
    return Recipe(config=dict(values["config"]), path=str(path), **described)


def _check(values, path, shipped):
    where = f"recipe {str(path)!r}"
    unknown = sorted(set(values) - set(REQUIRED) - set(OPTIONAL) - {"config"})
    if unknown:
        raise RecipeError(f"{where}: unknown keys {unknown}; expected {', '.join(REQUIRED + OPTIONAL)} and [config]")
    missing = [key for key in REQUIRED if key not in values]
    if missing:
        raise RecipeError(f"{where}: missing {', '.join(missing)}")
    if not isinstance(values["version"], int) or isinstance(values["version"], bool) or values["version"] < 1:
        raise RecipeError(f"{where}: version must be an integer >= 1, got {values['version']!r}")
    for key in REQUIRED + OPTIONAL:
        if key != "version" and key in values and not (isinstance(values[key], str) and values[key].strip()):
            raise RecipeError(f"{where}: {key} must be a non-empty string, got {values[key]!r}")
    if shipped and values["name"] != path.stem:
        raise RecipeError(f"{where}: name {values['name']!r} differs from the file name {path.stem!r}")
    config = values.get("config")
    if not isinstance(config, dict) or not config:
        raise RecipeError(f"{where}: needs a non-empty [config] table of training settings")
    settings = {f.name for f in fields(TrainConfig)} - set(NOT_IN_RECIPES)
    for key in config:
        if key not in settings:
            close = difflib.get_close_matches(key, settings, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RecipeError(f"{where}: [config] has unknown setting {key!r}{hint}"
                              + ("; the seed is chosen per run" if key in NOT_IN_RECIPES else ""))
    try:
        TrainConfig.from_dict(config).resolved().validate()
    except (ValueError, TypeError) as error:
        raise RecipeError(f"{where}: [config] is not a valid training: {error}") from None


def expand(settings: dict) -> dict:
    """``settings`` with a ``recipe`` key replaced by the recipe's settings, the other keys
    of ``settings`` on top."""
    if "recipe" not in settings:
        return dict(settings)
    rest = {k: v for k, v in settings.items() if k != "recipe"}
    return {**get(settings["recipe"]).config, **rest}

"""Recipes: the shipped files are valid and self-contained, --recipe and study specs use them,
flags override them, and a bad recipe is one clear error."""

import json

import pytest

from scratchgan import cli
from scratchgan.gan import recipes
from scratchgan.gan.config import TrainConfig
from scratchgan.study.spec import SpecError, load_spec

PINNED = ("data", "model", "loss", "steps", "batch_size", "optimizer", "lr_g", "lr_d")


@pytest.mark.parametrize("name", recipes.names())
def test_a_shipped_recipe_is_valid_cites_its_paper_and_pins_its_settings(name):
    recipe = recipes.get(name)
    assert recipe.name == name and recipe.version >= 1
    assert "arXiv:" in recipe.paper and recipe.reproduces
    missing = [key for key in PINNED if key not in recipe.config]
    assert not missing, f"{name} leaves {missing} to the project's defaults, which may change"
    recipe.train_config(seed=2).resolved().validate()


def test_recipes_are_listed(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in recipes.names())


def test_train_with_a_recipe_starts_from_it_and_flags_override_it(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--recipe", "ring8-least-squares", "--steps", "20", "--log-every", "10",
            "--checkpoint-every", "10", "--eval-samples", "200", "--lr-g", "5e-4", "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["loss"] == "least_squares" and config["penalty_weight"] == 0.1  # the recipe's
    assert config["steps"] == 20 and config["lr_g"] == 5e-4  # the flags'


def test_an_unknown_recipe_names_the_shipped_ones(capsys):
    assert cli.main(["train", "--recipe", "ring8-minmax", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown recipe 'ring8-minmax' (did you mean 'ring8-minimax'?)" in err and "ring8-nonsaturating" in err


RECIPE = '''name = "mine"
version = 1
summary = "a user's recipe"
paper = "Someone 2020, arXiv:2001.00001"
reproduces = "their figure 1"

[config]
{config}
'''


def write(tmp_path, config='data = "ring8"\nloss = "hinge"', **replace):
    text = RECIPE.format(config=config)
    for key, value in replace.items():
        text = text.replace(key, value)
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_a_recipe_file_given_by_path_is_used(tmp_path):
    recipe = recipes.get(str(write(tmp_path)))
    assert recipe.train_config().loss == "hinge"


@pytest.mark.parametrize("config, replace, message", [
    ('data = "ring8"\nloss = "hinj"', {}, "not a valid training: unknown loss 'hinj'"),
    ('data = "ring8"\nlearning_rate = 1e-3', {}, "unknown setting 'learning_rate'"),
    ('data = "ring8"\nseed = 3', {}, "unknown setting 'seed'; the seed is chosen per run"),
    ('data = "ring8"', {"version = 1": "version = 0"}, "version must be an integer >= 1, got 0"),
    ('data = "ring8"', {'summary = "a user\'s recipe"\n': ""}, "missing summary"),
    ('data = "ring8"', {"reproduces": "reproduced"}, "unknown keys \\['reproduced'\\]"),
    ('', {}, "needs a non-empty \\[config\\] table"),
    ('data = "ring8"\nsteps = "many"', {}, "steps must be an integer"),
])
def test_a_bad_recipe_is_one_clear_error(tmp_path, config, replace, message):
    with pytest.raises(recipes.RecipeError, match=message):
        recipes.get(str(write(tmp_path, config, **replace)))


def test_a_recipe_that_is_not_toml_is_one_clear_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_bytes(b"\xff\xfe name = [")
    with pytest.raises(recipes.RecipeError, match="is not a readable TOML file"):
        recipes.get(str(path))


def test_a_study_method_may_name_a_recipe_and_override_it(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "r"\nseeds = [0]\n[base]\nsteps = 30\n'
                    '[[methods]]\nname = "ls"\nrecipe = "ring8-least-squares"\n'
                    '[[methods]]\nname = "ls fast"\nrecipe = "ring8-least-squares"\nlr_d = 4e-3\n')
    tasks = load_spec(spec).tasks()
    configs = [task.config() for task in tasks]
    assert [c.loss for c in configs] == ["least_squares", "least_squares"]
    assert [c.lr_d for c in configs] == [2e-3, 4e-3] and all(c.steps == 30 for c in configs)
    assert isinstance(configs[0], TrainConfig) and "recipe" not in tasks[0].settings


def test_a_study_naming_an_unknown_recipe_is_a_spec_error(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "r"\nseeds = [0]\n[base]\nrecipe = "nope"\n')
    with pytest.raises(SpecError, match="unknown recipe 'nope'"):
        load_spec(spec)

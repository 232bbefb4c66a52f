"""The games: the families' move out of the trainer is bit-identical, the trainer knows no
family, and the game interface's generic parts (groups, k steps, optimizers per player)."""

import json
import pathlib
import re

import numpy
import pytest

from scratchgan.gan import games
from scratchgan.gan.trainer import TrainConfig, Trainer

HERE = pathlib.Path(__file__).parent
BEFORE = HERE / "data" / "games_before"


def _record_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("games_before_record", BEFORE / "record.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECORD = _record_module()
FINGERPRINTS = json.loads((BEFORE / "fingerprints.json").read_text())


@pytest.mark.parametrize("case", sorted(RECORD.CASES))
def test_the_move_into_games_is_bit_identical(case):
    """3 steps of each family and trick path give the very bytes of every state array that the
    trainer before the move gave (tests/data/games_before, recorded at commit f276239).

    Two cases were recorded again when Div's backward became PyTorch's -g (a / b) / b (it was
    -g a / b^2, which overflows for |b| > 1e154): spectral norm's W / sigma and the
    relativistic loss divide by a Tensor; with the old formula restored, both give the bytes
    recorded at f276239 again. toy_tricks was recorded again when minibatch discrimination
    moved to the pairwise primitives (scratchgan/ops/pairwise.py): the same maths summed in
    another order, every array's sum within 6e-15 (relative) of before; the composed
    layer of before gives the f276239 bytes."""
    expected = FINGERPRINTS[case]
    state = RECORD.final_state(RECORD.CASES[case])
    assert sorted(state) == sorted(expected), "the checkpoint's keys changed"
    for key, array in state.items():
        if key == "config":  # new settings join the config; the old ones keep their values
            old, new = json.loads(expected[key]), json.loads(str(array))
            assert {k: new[k] for k in old} == old
            continue
        found = RECORD.fingerprint(array)
        assert found["shape"] == expected[key]["shape"] and found["dtype"] == expected[key]["dtype"], key
        if RECORDED_BLAS_CORE in _blas_cores() or found["sha256"] == expected[key]["sha256"]:
            assert found["sha256"] == expected[key]["sha256"], (
                f"{key}: sum {found.get('sum')!r}, before the move {expected[key].get('sum')!r}")
        else:  # another BLAS kernel rounds GEMMs differently in the last bits: the sums must agree
            assert found.get("sum") == pytest.approx(expected[key].get("sum"), rel=1e-6, abs=1e-7), key  # abs: sums that cancel to ~0


RECORDED_BLAS_CORE = "SkylakeX"  # the OpenBLAS kernel of the machine that recorded the bytes


def _blas_cores():
    from threadpoolctl import threadpool_info

    return {str(info.get("architecture")) for info in threadpool_info() if info.get("internal_api") == "openblas"}


def test_the_trainer_names_no_family():
    source = (HERE.parent / "scratchgan" / "gan" / "trainer.py").read_text()
    for name in games.names():
        assert not re.search(rf"\b{re.escape(name)}\b", source), f"trainer.py names the family {name!r}"


# -- the generic loop: groups, k steps, optimizers per player -------------------------------------------
from test_gan_trainer import tiny as toy  # noqa: E402  (ring8, small, no penalty, constant lr)


def optimizer_steps(optimizer):
    return {state["step"] for state in optimizer.state.values() if "step" in state}


@pytest.mark.parametrize("d_steps, g_steps", [(1, 1), (1, 3), (2, 2)])
def test_each_group_is_updated_its_number_of_steps(d_steps, g_steps):
    trainer = Trainer(toy(d_steps=d_steps, g_steps=g_steps))
    trainer.step()
    trainer.step()
    assert optimizer_steps(trainer.optimizers["D"]) == {2 * d_steps}
    assert optimizer_steps(trainer.optimizers["G"]) == {2 * g_steps}


def test_each_player_takes_its_own_optimizer():
    from scratchgan import optim

    trainer = Trainer(toy(optimizer_g="adam", optimizer_d="nesterov", beta1=0.9))
    assert isinstance(trainer.optimizers["G"], optim.Adam)
    d = trainer.optimizers["D"]
    assert isinstance(d, optim.SGD) and all(g["nesterov"] and g["momentum"] == 0.9 for g in d.param_groups)
    trainer.step()
    assert Trainer(toy(optimizer="sgd")).config.optimizer_d == "sgd"  # None resolves to --optimizer


def test_nesterov_momentum_matches_its_update_rule():
    """One Nesterov SGD step of D by hand: v = g, p <- p - lr (g + mu v) (PyTorch's form)."""
    trainer = Trainer(toy(optimizer="nesterov", beta1=0.5, lr_d=0.1, dtype="float64"))
    before = {n: p.numpy().copy() for n, p in trainer.discriminator.named_parameters()}
    trainer.update("D")
    for name, p in trainer.discriminator.named_parameters():
        gradient = p.grad.numpy()  # the group's own gradients stay until its next update
        numpy.testing.assert_allclose(p.numpy(), before[name] - 0.1 * (gradient + 0.5 * gradient), rtol=1e-12)


def test_a_bad_optimizer_name_is_one_error():
    with pytest.raises(ValueError, match="unknown optimizer_d 'adagrad'; expected one of: adam, rmsprop, sgd, nesterov"):
        Trainer(toy(optimizer_d="adagrad"))


def test_settings_a_game_cannot_honour_are_refused():
    with pytest.raises(ValueError, match="replay_size does not apply to model 'bigan'"):
        TrainConfig(model="bigan", replay_size=8).validate()
    with pytest.raises(ValueError, match="pack does not apply to model 'cgan'"):
        TrainConfig(model="cgan", pack=2).validate()


def test_every_game_is_listed_with_its_description():
    assert games.names()[:2] == ["mlp", "dcgan"]
    assert {"cgan", "acgan", "infogan", "bigan", "ali", "aae"} <= set(games.names())
    for name in games.names():
        assert games.get(name).description
    with pytest.raises(ValueError, match="unknown model 'stylegan'"):
        games.get("stylegan")

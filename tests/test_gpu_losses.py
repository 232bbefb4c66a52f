"""The class losses' options, pos_weight and AdamW on the cupy backend (tests/fake_cupy.py on
the CPU, the GPU with SCRATCHGAN_TEST_REAL_GPU=1): the same numbers as on the host, outputs on
the device, and no read-back when the labels are already there."""

import numpy
import pytest

import scratchgan as sg
from scratchgan.nn import functional as F
from tests import fake_cupy
from tests.test_cupy_backend import REAL_GPU, fake_gpu  # noqa: F401 (a fixture)

pytestmark = pytest.mark.gpu

RNG = numpy.random.default_rng(0)
LOGITS = RNG.standard_normal((5, 4))
LABELS = numpy.array([2, 0, -100, 3, 0])
WEIGHT = RNG.uniform(0.5, 2.0, 4)
PROBABILITIES = RNG.dirichlet(numpy.ones(4), 5)
TARGETS = RNG.uniform(0.0, 1.0, (5, 4))
POS_WEIGHT = RNG.uniform(0.5, 3.0, 4)

LOSSES = {
    "cross_entropy weight ignore_index smoothing":
        lambda x, put: F.cross_entropy(x, put(LABELS), weight=put(WEIGHT), label_smoothing=0.2),
    "nll_loss weight ignore_index none":
        lambda x, put: F.nll_loss(x, put(LABELS), weight=put(WEIGHT), reduction="none"),
    "cross_entropy probabilities": lambda x, put: F.cross_entropy(x, put(PROBABILITIES), weight=put(WEIGHT),
                                                                  label_smoothing=0.1),
    # labels on the host are checked there, before their upload: nothing to read back either
    "cross_entropy host labels ignore_index smoothing": lambda x, put: F.cross_entropy(x, LABELS, label_smoothing=0.2),
    "nll_loss host labels, all counted": lambda x, put: F.nll_loss(x, numpy.array([1, 0, 2, 3, 0])),
    "bce_with_logits pos_weight": lambda x, put: F.binary_cross_entropy_with_logits(x, put(TARGETS),
                                                                                    pos_weight=put(POS_WEIGHT)),
}


def value_and_gradient(loss, device, put):
    """The loss and its gradient in the logits, with the constants placed by ``put``."""
    x = sg.Tensor(LOGITS).to(device)
    x.requires_grad = True
    value = loss(x, put)
    value.sum().backward()
    return value, x.grad


@pytest.mark.parametrize("name", LOSSES)
def test_loss_on_the_device_equals_the_host_and_reads_nothing_back(fake_gpu, name):  # noqa: F811
    sg.set_backend("numpy")
    host_value, host_grad = value_and_gradient(LOSSES[name], "cpu", numpy.asarray)
    sg.set_backend("cupy")
    fake_cupy.reset_counters()
    device_value, device_grad = value_and_gradient(LOSSES[name], "cuda", fake_gpu.asarray)
    if not REAL_GPU:
        assert fake_cupy.synchronizations == 0, f"{name} read a device value back to the host"
    assert device_value.device == device_grad.device == "cuda"
    numpy.testing.assert_allclose(sg.backend.to_numpy(device_value.data), host_value.numpy(), rtol=1e-12)
    numpy.testing.assert_allclose(sg.backend.to_numpy(device_grad.data), host_grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("amsgrad", [False, True], ids=["fused", "amsgrad"])
def test_adamw_on_the_device_equals_the_host(fake_gpu, amsgrad):  # noqa: F811
    trajectories = {}
    for device, kernels in (("cpu", "numpy"), ("cuda", "cupy")):
        sg.set_backend(kernels)
        param = sg.nn.Parameter(numpy.linspace(-1.0, 1.0, 6, dtype=numpy.float32)).to(device)
        optimizer = sg.optim.AdamW([param], lr=1e-2, weight_decay=0.3, amsgrad=amsgrad)
        for step in range(4):
            param.grad = sg.Tensor(numpy.cos(numpy.arange(6, dtype=numpy.float32) + step)).to(device)
            optimizer.step()
        assert param.device == device
        trajectories[device] = sg.backend.to_numpy(param.data)
    numpy.testing.assert_allclose(trajectories["cuda"], trajectories["cpu"], rtol=1e-6)

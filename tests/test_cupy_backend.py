"""The cupy backend without a GPU: its code paths run here through ``tests/fake_cupy.py``.

* Every CUDA C source compiles with ``nvcc`` for both dtypes (skipped only where nvcc is
  absent), and runs on the CPU (``tests/cuda_host.py``) against its NumPy twin on
  Hypothesis shapes, strides and dtypes.
* Device placement: ``Tensor.to``, ``Module.to``, factories with ``device=``, optimizers
  and checkpoints across devices, mixed-device errors naming both devices.
* Every model of the project trains with ``set_backend("cupy")``, with no read-back to
  the host inside a step, and computes what the CPU computes to float32 rounding.

On a machine with a GPU and CuPy, ``SCRATCHGAN_TEST_REAL_GPU=1 python -m pytest
tests/test_cupy_backend.py`` runs the same tests on the real GPU instead (the few that
need the emulator's bookkeeping, such as counting read-backs, are skipped there).
"""

import os
import shutil
import subprocess
import sys

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchgan as sg
from scratchgan import backend
from scratchgan.ops import conv, norm
from scratchgan.ops.elementwise import leaky_relu_array, leaky_relu_grad_array
from scratchgan.optim.adam import adam_update_array
from tests import fake_cupy
from tests.strategies import conv_geometries, laid_out

DTYPES = st.sampled_from([numpy.float32, numpy.float64])
REAL_GPU = os.environ.get("SCRATCHGAN_TEST_REAL_GPU") == "1"
emulator_only = pytest.mark.skipif(REAL_GPU, reason="checks the emulator's bookkeeping, not the GPU")
pytestmark = pytest.mark.gpu


@pytest.fixture
def fake_gpu():
    """The cupy kernel set is active, for one test: ``import cupy`` gives fake_cupy, or the
    real CuPy when SCRATCHGAN_TEST_REAL_GPU=1."""
    if REAL_GPU:
        import cupy

        sg.set_backend("cupy")
        try:
            yield cupy
        finally:
            sg.set_backend("numpy")
        return
    previous = fake_cupy.install()
    sys.modules.pop("scratchgan.kernels.cupy_gpu", None)  # re-import against this cupy
    sg.set_backend("cupy")
    fake_cupy.reset_counters()
    try:
        yield sys.modules["cupy"]
    finally:
        sg.set_backend("numpy")
        sys.modules.pop("scratchgan.kernels.cupy_gpu", None)
        fake_cupy.uninstall(previous)


def kernels():
    from scratchgan.kernels import cupy_gpu

    return cupy_gpu


def device_array(data, shape, dtype):
    """A random array uploaded from a drawn host layout (so device arrays can be strided too)."""
    import cupy

    seed = data.draw(st.integers(0, 2**16), label="seed")
    values = numpy.random.default_rng(seed).standard_normal(shape).astype(dtype)
    host = data.draw(laid_out(values)).astype(dtype, copy=False)
    return host, cupy.asarray(host)


def assert_twin(actual, expected, dtype, scale=1.0):
    assert type(actual).__module__ == "cupy", "the kernel must return a device array"
    actual = actual.get()
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    if numpy.dtype(dtype) == numpy.float64:
        numpy.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * scale)
    else:
        numpy.testing.assert_allclose(actual, expected, rtol=2e-5, atol=2e-5 * scale)


# -- the CUDA C sources ----------------------------------------------------------------------------
def cuda_sources():
    from pathlib import Path

    return sorted((Path(__file__).parent.parent / "kernels" / "cuda").glob("*.cu"))


def test_the_cuda_sources_are_the_ones_the_kernel_set_loads():
    names = {path.stem for path in cuda_sources()}
    assert names == {"conv", "batch_norm", "elementwise", "philox"}


@pytest.mark.parametrize("source", cuda_sources(), ids=lambda path: path.name)
@pytest.mark.parametrize("scalar", ["float", "double"])
def test_every_cuda_source_compiles_with_nvcc(source, scalar, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    command = [nvcc, "-c", "-arch=sm_80", "-x", "cu", f"-Dscalar_t={scalar}",
               f"-DSCALAR_IS_DOUBLE={int(scalar == 'double')}", str(source), "-o", str(tmp_path / "k.o")]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@st.composite
def geometries(draw):
    geometry = draw(conv_geometries(max_batch=2, max_channels=1, max_side=6))
    return geometry, draw(st.integers(1, 4)), draw(st.integers(1, 4))


@given(geometries(), DTYPES, st.data())
def test_conv2d_kernel_matches_numpy(case, dtype, data):
    def run():
        geometry, c, o = case
        x, x_gpu = device_array(data, (geometry.batch, c) + geometry.size, dtype)
        w, w_gpu = device_array(data, (o, c) + geometry.kernel_size, dtype)
        options = (geometry.stride, geometry.padding, geometry.dilation)
        assert_twin(kernels().conv2d(x_gpu, w_gpu, *options), conv.conv2d_array(x, w, *options), dtype,
                    scale=c)

    with_fake_gpu(run)


@given(geometries(), DTYPES, st.data())
def test_conv_transpose2d_kernel_matches_numpy(case, dtype, data):
    def run():
        geometry, c, o = case
        y, y_gpu = device_array(data, (geometry.batch, o) + geometry.output_size, dtype)
        w, w_gpu = device_array(data, (o, c) + geometry.kernel_size, dtype)
        options = (geometry.stride, geometry.padding, geometry.output_padding, geometry.dilation)
        assert_twin(kernels().conv_transpose2d(y_gpu, w_gpu, *options),
                    conv.conv_transpose2d_array(y, w, *options), dtype, scale=o)

    with_fake_gpu(run)


@given(geometries(), DTYPES, st.data())
def test_conv2d_weight_kernel_matches_numpy(case, dtype, data):
    def run():
        geometry, c, o = case
        x, x_gpu = device_array(data, (geometry.batch, c) + geometry.size, dtype)
        gy, gy_gpu = device_array(data, (geometry.batch, o) + geometry.output_size, dtype)
        options = (geometry.kernel_size, geometry.stride, geometry.padding, geometry.dilation)
        scale = geometry.batch * numpy.prod(geometry.output_size)
        assert_twin(kernels().conv2d_weight(x_gpu, gy_gpu, *options),
                    conv.conv2d_weight_array(x, gy, *options), dtype, scale=scale)

    with_fake_gpu(run)


batch_norm_shapes = st.one_of(
    st.tuples(st.integers(2, 5), st.integers(1, 6)),
    st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4), st.integers(1, 4)),
).filter(lambda shape: numpy.prod(shape) // shape[1] > 1)


@given(batch_norm_shapes, DTYPES, st.data())
def test_batch_norm_kernels_match_numpy(shape, dtype, data):
    def run():
        x, x_gpu = device_array(data, shape, dtype)
        g, g_gpu = device_array(data, shape, dtype)
        weight, weight_gpu = device_array(data, shape[1:2], dtype)
        bias, bias_gpu = device_array(data, shape[1:2], dtype)
        expected = norm.batch_norm_train_array(x, weight, bias, 1e-5)
        for actual, reference in zip(kernels().batch_norm_train(x_gpu, weight_gpu, bias_gpu, 1e-5), expected):
            assert_twin(actual, reference, dtype, scale=10)
        mean, var = expected[1], expected[2]
        invstd = (1 / numpy.sqrt(var + dtype(1e-5))).astype(dtype)
        import cupy

        count = numpy.prod(shape) // shape[1]
        actual = kernels().batch_norm_backward(g_gpu, x_gpu, weight_gpu, cupy.asarray(mean), cupy.asarray(invstd))
        for a, reference in zip(actual, norm.batch_norm_backward_array(g, x, weight, mean, invstd)):
            assert_twin(a, reference, dtype, scale=count * 10)

    with_fake_gpu(run)


elementwise_shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@given(elementwise_shapes, st.sampled_from([0.0, 0.01, 0.2, -0.5]), DTYPES, st.data())
def test_leaky_relu_kernels_equal_numpy_to_the_last_bit(shape, slope, dtype, data):
    def run():
        x, x_gpu = device_array(data, shape, dtype)
        g, g_gpu = device_array(data, shape, dtype)
        numpy.testing.assert_array_equal(kernels().leaky_relu(x_gpu, slope).get(), leaky_relu_array(x, slope))
        numpy.testing.assert_array_equal(kernels().leaky_relu_grad(g_gpu, x_gpu, slope).get(),
                                         leaky_relu_grad_array(g, x, slope))

    with_fake_gpu(run)


@given(elementwise_shapes, DTYPES, st.integers(1, 50), st.data())
def test_adam_kernel_matches_numpy(shape, dtype, step, data):
    def run():
        import cupy

        param, param_gpu = device_array(data, shape, dtype)
        grad, grad_gpu = device_array(data, shape, dtype)
        exp_avg = numpy.full(shape, 0.05, dtype)
        exp_avg_sq = numpy.full(shape, 0.01, dtype)
        scalars = (0.5, 0.999, 2e-4 / (1 - 0.5 ** step), (1 - 0.999 ** step) ** 0.5, 1e-8)
        expected = adam_update_array(param, grad, exp_avg, exp_avg_sq, *scalars)
        moments = cupy.asarray(exp_avg), cupy.asarray(exp_avg_sq)
        actual = kernels().adam_update(param_gpu, grad_gpu, *moments, *scalars)
        assert actual[1] is moments[0] and actual[2] is moments[1], "the moments are updated in place"
        for a, e in zip(actual, expected):
            numpy.testing.assert_allclose(a.get(), e, rtol=4 * numpy.finfo(dtype).eps, atol=0)

    with_fake_gpu(run)


def test_every_kernel_of_the_cupy_set_is_tested_here(fake_gpu):
    assert set(kernels().KERNELS) == {"conv2d", "conv_transpose2d", "conv2d_weight", "batch_norm_train",
                                      "batch_norm_backward", "leaky_relu", "leaky_relu_grad", "adam_update"}


def with_fake_gpu(body):
    """Hypothesis runs a test body many times; the fake GPU is set up around each run."""
    if REAL_GPU:
        return body()
    previous = fake_cupy.install()
    sys.modules.pop("scratchgan.kernels.cupy_gpu", None)
    try:
        body()
    finally:
        sys.modules.pop("scratchgan.kernels.cupy_gpu", None)
        fake_cupy.uninstall(previous)


@emulator_only
def test_a_kernel_given_a_float64_scalar_for_a_float_parameter_is_refused(fake_gpu):
    """What the emulator checks that a GPU would not: a launch with the wrong scalar type."""
    module = kernels()._module("elementwise", "float32")
    x = fake_gpu.zeros(4, dtype=numpy.float32)
    with pytest.raises(TypeError, match="slope is float; pass numpy.float32"):
        module.get_function("leaky_relu")((1,), (32,), (x, x, numpy.int64(4), numpy.float64(0.2)))


# -- random numbers on the device ------------------------------------------------------------------
def test_device_draws_are_the_philox_stream_and_advance_it(fake_gpu):
    from scratchgan.kernels import philox

    sg.manual_seed(7)
    first = sg.randn(3, 5, device="cuda")
    second = sg.rand(6, device="cuda", dtype=numpy.float64)
    assert first.device == "cuda" and first.dtype == numpy.float32
    expected_first, blocks = philox.normal(7, 0, 15, numpy.float32)
    numpy.testing.assert_allclose(first.numpy().reshape(-1), expected_first, rtol=1e-6, atol=1e-6)
    expected_second, _ = philox.uniform(7, blocks, 6, numpy.float64)
    numpy.testing.assert_array_equal(second.numpy(), expected_second)


def test_the_device_stream_is_part_of_the_saved_random_state(fake_gpu):
    sg.manual_seed(3)
    sg.randn(10, device="cuda")
    state = sg.random.get_state()
    expected = sg.randn(4, device="cuda").numpy()
    sg.randn(100, device="cuda")
    sg.random.set_state(state)
    numpy.testing.assert_array_equal(sg.randn(4, device="cuda").numpy(), expected)


def test_randint_on_the_device_stays_in_range(fake_gpu):
    sg.manual_seed(0)
    values = sg.randint(3, 9, (2000,), device="cuda").numpy()
    assert values.dtype == numpy.int64 and values.min() == 3 and values.max() == 8


# -- device placement ------------------------------------------------------------------------------
def test_tensor_to_cuda_and_back_keeps_values_and_dtype(fake_gpu):
    x = sg.Tensor(numpy.arange(6.0).reshape(2, 3))
    on_gpu = x.to("cuda")
    assert on_gpu.device == "cuda" and type(on_gpu.data).__module__ == "cupy"
    back = on_gpu.to("cpu")
    assert back.device == "cpu" and back.dtype == numpy.float64
    numpy.testing.assert_array_equal(back.numpy(), x.numpy())


def test_mixing_devices_in_one_op_names_both(fake_gpu):
    a = sg.Tensor(numpy.ones(3, numpy.float32))
    b = sg.Tensor(numpy.ones(3, numpy.float32)).to("cuda")
    with pytest.raises(RuntimeError, match=r"Add: expected all inputs on one device, got input 0 on cpu, "
                                           r"input 1 on cuda"):
        a + b


def test_an_unknown_device_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown device 'gpu'; expected one of cpu, cuda"):
        sg.Tensor(numpy.ones(2)).to("gpu")


@emulator_only
def test_without_cupy_the_gpu_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    with pytest.raises(backend.BackendUnavailableError, match=r"pip install 'scratchgan\[gpu\]'"):
        sg.Tensor(numpy.ones(2)).to("cuda")
    with pytest.raises(backend.BackendUnavailableError, match=r"pip install 'scratchgan\[gpu\]'"):
        sg.set_backend("cupy")


def test_gradients_flow_on_the_device_and_match_the_cpu(fake_gpu):
    """A DCGAN-shaped forward and backward on the cupy kernels equals the CPU's to float32 rounding."""
    def build():
        sg.manual_seed(0)
        return sg.nn.Sequential(
            sg.nn.Conv2d(1, 8, 4, 2, 1), sg.nn.LeakyReLU(0.2),
            sg.nn.Conv2d(8, 16, 4, 2, 1), sg.nn.BatchNorm2d(16), sg.nn.LeakyReLU(0.2),
            sg.nn.ConvTranspose2d(16, 8, 4, 2, 1), sg.nn.BatchNorm2d(8), sg.nn.ReLU(),
            sg.nn.ConvTranspose2d(8, 1, 4, 2, 1), sg.nn.Tanh())

    x = numpy.random.default_rng(0).standard_normal((4, 1, 16, 16)).astype(numpy.float32)
    cpu_model, gpu_model = build(), build().to("cuda")
    (cpu_model(sg.Tensor(x)) ** 2).mean().backward()
    (gpu_model(sg.Tensor(x).to("cuda")) ** 2).mean().backward()
    cpu_grads = [p.grad.numpy() for p in cpu_model.parameters()]
    scale = max(numpy.abs(g).max() for g in cpu_grads)
    for cpu_grad, param in zip(cpu_grads, gpu_model.parameters()):
        assert param.grad.device == "cuda" and param.grad.dtype == numpy.float32
        numpy.testing.assert_allclose(param.grad.numpy(), cpu_grad, rtol=1e-4, atol=1e-6 * scale)


def test_a_second_derivative_on_the_device_matches_the_cpu(fake_gpu):
    """WGAN-GP's double backward through a conv critic, on the device."""
    from scratchgan.gan import penalties

    def critic():
        sg.manual_seed(1)
        return sg.nn.Sequential(sg.nn.Conv2d(1, 4, 3, 2, 1), sg.nn.LeakyReLU(0.2), sg.nn.Flatten(),
                                sg.nn.Linear(4 * 4 * 4, 1))

    rng = numpy.random.default_rng(2)
    real, fake = (rng.standard_normal((3, 1, 8, 8)).astype(numpy.float32) for _ in range(2))
    alpha = rng.random((3, 1, 1, 1)).astype(numpy.float32)
    results = []
    for device in ("cpu", "cuda"):
        model = critic().to(device)
        penalty = penalties.gradient_penalty(model, sg.Tensor(real).to(device), sg.Tensor(fake).to(device),
                                             alpha=sg.Tensor(alpha).to(device))
        penalty.backward()
        # the last bias does not move D's input gradient, so it gets no gradient from the penalty
        results.append([penalty.numpy()] + [p.grad.numpy() for p in model.parameters() if p.grad is not None])
    assert len(results[0]) == len(results[1]) > 2
    for cpu, gpu in zip(*results):
        numpy.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-6)


def test_optimizer_state_lives_with_the_parameters_and_a_checkpoint_crosses_devices(fake_gpu, tmp_path):
    sg.manual_seed(0)
    model = sg.nn.Linear(3, 2).to("cuda")
    optimizer = sg.optim.Adam(model.parameters(), lr=1e-2)
    x = sg.Tensor(numpy.ones((4, 3), numpy.float32)).to("cuda")
    (model(x) ** 2).sum().backward()
    optimizer.step()
    state = optimizer.state_dict()
    moments = [value for entry in state["state"].values() for value in entry.values() if hasattr(value, "shape")]
    assert moments and all(type(m).__module__ == "cupy" for m in moments if m.ndim)
    # to the CPU and back
    host = sg.nn.Linear(3, 2)
    host.load_state_dict(model.state_dict())
    numpy.testing.assert_array_equal(host.weight.numpy(), model.weight.numpy())
    assert host.weight.device == "cpu"
    again = sg.nn.Linear(3, 2).to("cuda")
    again.load_state_dict(host.state_dict())
    assert again.weight.device == "cuda"
    numpy.testing.assert_array_equal(again.weight.numpy(), model.weight.numpy())


# -- training on the device --------------------------------------------------------------------------
IMAGE_MODELS = ["dcgan", "cgan", "acgan", "infogan", "mlp"]


def small_config(model, **options):
    from scratchgan.gan.trainer import TrainConfig

    if model == "toy":
        return TrainConfig(data="ring8", steps=4, batch_size=16, **options)
    size = {} if model == "mlp" else {"width": 8}
    if model == "dcgan":  # the plain DCGAN, not the main job's recipe (its fc layer's biases before BN
        # have exact gradient 0, whose rounding noise Adam turns into steps of either sign)
        options = {"fc_hidden": 0, "latent_dim": 100, "lr_g": 2e-4, "ema": 0.0, **options}
    return TrainConfig(data="mnist", model=model, steps=4, batch_size=8, **size, **options)


@pytest.mark.parametrize("model", ["toy"] + IMAGE_MODELS)
def test_every_model_trains_on_the_device_without_reading_back(fake_gpu, model):
    from scratchgan.gan.trainer import Trainer

    trainer = Trainer(small_config(model))
    assert trainer.device == "cuda"
    assert all(p.device == "cuda" for p in trainer.generator.parameters())
    trainer.step()  # the first step allocates optimizer state
    fake_cupy.reset_counters()
    logs = trainer.step()
    if not REAL_GPU:
        assert fake_cupy.synchronizations == 0, "a training step read a device value back to the host"
    assert all(numpy.isfinite(float(value)) for key, value in logs.items() if key != "step")
    assert trainer.sample(4).shape[0] == 4


@pytest.mark.parametrize("options", [{"penalty": "gradient_penalty", "loss": "wasserstein"},
                                     {"penalty": "spectral_norm", "loss": "hinge"},
                                     {"penalty": "dragan"}, {"instance_noise": 0.1, "label_smoothing": 0.9},
                                     {"ema": 0.99, "replay_size": 16}])
def test_penalties_and_tricks_train_on_the_device(fake_gpu, options):
    from scratchgan.gan.trainer import Trainer

    trainer = Trainer(small_config("dcgan", **options))
    for _ in range(2):
        logs = trainer.step()
    assert all(numpy.isfinite(float(value)) for key, value in logs.items() if key != "step")


def test_a_training_step_on_the_device_equals_the_cpu_given_the_same_draws(fake_gpu, monkeypatch):
    """Same config, same latents and batches: the losses and parameters after a D and G step
    agree to float32 rounding (the draws differ by device, so they are shared here)."""
    from scratchgan.gan.trainer import Trainer

    rng = numpy.random.default_rng(0)
    latents = [rng.standard_normal((8, 100)).astype(numpy.float32) for _ in range(4)]
    results = {}
    for device in ("cpu", "cuda"):
        trainer = Trainer(small_config("dcgan"), device=device)
        draws = iter(latents)
        monkeypatch.setattr(trainer.game, "latent_batch", lambda n=None, t=trainer: sg.Tensor(next(draws)).to(t.device))
        logs = {**{f"first {k}": v for k, v in trainer.step().items()}, **trainer.step()}
        results[device] = ({key: float(value) for key, value in logs.items()},
                           [p.numpy() for p in trainer.generator.parameters()])
    assert results["cuda"][0] == pytest.approx(results["cpu"][0], rel=1e-4)
    # Adam's first step moves each parameter by about lr g / |g|: where g is rounding noise
    # (biases before batch norm have exact gradient 0) its sign is arbitrary on either device
    lr = trainer.config.lr_g
    for cpu, gpu in zip(results["cpu"][1], results["cuda"][1]):
        numpy.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=2 * lr)


def test_a_checkpoint_written_on_the_device_resumes_on_the_cpu(fake_gpu):
    from scratchgan.gan.trainer import Trainer

    on_gpu = Trainer(small_config("dcgan"))
    on_gpu.step()
    arrays = on_gpu.state_arrays()
    assert all(type(value).__module__ == "numpy" for value in arrays.values()), "checkpoints hold host arrays"
    on_cpu = Trainer(small_config("dcgan"), device="cpu")
    on_cpu.load_state_arrays(arrays)
    for a, b in zip(on_cpu.generator.parameters(), on_gpu.generator.parameters()):
        assert a.device == "cpu"
        numpy.testing.assert_array_equal(a.numpy(), b.numpy())
    back = Trainer(small_config("dcgan"))
    back.load_state_arrays(on_cpu.state_arrays())
    assert next(back.optimizer_g.param_groups[0]["params"].__iter__()).device == "cuda"
    back.step()


@emulator_only
def test_cupy_without_a_reachable_gpu_is_one_clear_error(monkeypatch):
    """cupy imports on machines without a GPU; selecting it then says so instead of failing later."""
    previous = fake_cupy.install()
    sys.modules.pop("scratchgan.kernels.cupy_gpu", None)

    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    monkeypatch.setattr(fake_cupy.cuda.runtime, "getDeviceCount", no_driver)
    try:
        with pytest.raises(backend.BackendUnavailableError,
                           match=r"cupy is installed but cannot reach a GPU \(RuntimeError: cudaError"):
            sg.set_backend("cupy")
        assert sg.get_backend() == "numpy"
    finally:
        sys.modules.pop("scratchgan.kernels.cupy_gpu", None)
        fake_cupy.uninstall(previous)


@pytest.mark.parametrize("name", ["W1", "W4"])
def test_the_benchmark_steps_run_on_the_device(fake_gpu, name):
    """``python -m benchmarks --device cuda`` times these steps; here they run on the device
    (W4: WGAN-GP's double backward through the DCGAN critic) at a small batch."""
    from benchmarks import workloads as wl

    workload = wl.WORKLOADS[name]
    gan = wl.ScratchganGAN(workload, device="cuda")
    batch = wl.make_batches(workload, count=1, batch=4)[0]
    d_loss, g_loss = gan.step(**gan.tensors(batch))
    assert numpy.isfinite(d_loss) and numpy.isfinite(g_loss)
    assert all(p.device == "cuda" for p in gan.generator.parameters())


@emulator_only
def test_a_random_state_saved_before_the_device_stream_still_restores():
    """Checkpoints written before the GPU backend hold only the host generator's state."""
    sg.manual_seed(5)
    old_format = sg.random.get_state()
    del old_format["device"]
    expected = sg.randn(3).numpy()
    sg.randn(10)
    sg.random.set_state(old_format)
    numpy.testing.assert_array_equal(sg.randn(3).numpy(), expected)

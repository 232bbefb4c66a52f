"""Shared test configuration.

* Hypothesis profiles: ``ci`` (default; fast, fixed seed so CI is reproducible),
  ``dev`` and ``nightly`` (thorough). Choose with HYPOTHESIS_PROFILE=nightly.
* ``kernel_backend``: the gradient and parity modules run every test on each CPU kernel
  set (numpy and numba), so an accelerated kernel is held to the same properties.
* Parity tests (marker ``parity``) compare against PyTorch. Locally they skip when torch
  is missing; under CI (the ``CI`` environment variable set) a skipped parity test is
  turned into a failure, so a broken install can never pass silently.
"""

import os
import shutil

import filelock
import numpy
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=12, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    "dev", max_examples=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    "nightly", max_examples=300, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """Test-sized matrices are fastest on one BLAS thread (see scratchgan.backend.blas_threads)."""
    from scratchgan.backend import blas_threads

    with blas_threads(1):
        yield


def _cpu_backends():
    from scratchgan.backend import available_backends

    return [name for name in available_backends() if name != "cupy"]


@pytest.fixture(params=_cpu_backends())
def kernel_backend(request):
    """Runs a test once per CPU kernel set (numpy, and numba where installed). The gradient
    and parity modules use it for every test (``pytestmark``), so the whole property and
    parity suites run on each backend."""
    import scratchgan

    scratchgan.set_backend(request.param)
    try:
        yield request.param
    finally:
        scratchgan.set_backend("numpy")


@pytest.fixture
def restore_backend():
    """For a test that selects a kernel set (or runs a command that does): the previous one
    is active again afterwards."""
    from scratchgan import backend

    previous = backend.get_backend()
    try:
        yield
    finally:
        backend.set_backend(previous)


@pytest.fixture
def torch():
    """PyTorch in float64-by-default mode; skips locally if missing (fails under CI, see below)."""
    module = pytest.importorskip("torch")
    previous = module.get_default_dtype()
    module.set_default_dtype(module.float64)
    module.manual_seed(0)
    yield module
    module.set_default_dtype(previous)


@pytest.fixture(scope="session")
def once_per_session(tmp_path_factory):
    """``once_per_session(name, make)``: the folder that ``make(folder)`` filled, made once for
    the whole test run even across xdist workers (the first to ask makes it under a file lock
    in the folder the workers share; the others wait and reuse it). Tests must not change it:
    copy it first. A ``make`` that fails or skips leaves nothing behind, so the next asker
    tries again (and fails or skips the same way)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # pytest-of-USER/pytest-N: one per test run, shared by its workers

    def made(name, make):
        folder, done = root / name, root / f"{name}.done"
        with filelock.FileLock(str(root / f"{name}.lock")):
            if not done.exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                make(folder)
                done.touch()
        return folder

    return made


@pytest.fixture
def rng():
    return numpy.random.default_rng(12345)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("parity") is not None:
        report.outcome = "failed"
        report.longrepr = f"parity test skipped under CI (a skip is a failure here): {report.longrepr}"


def pytest_collection_modifyitems(items):
    for item in items:
        if "torch" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.parity)

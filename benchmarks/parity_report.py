"""Largest parity error against PyTorch, per layer, in float64 and float32.

    python benchmarks/parity_report.py

Runs the layer cases of ``tests/test_parity_layers.py`` (same builders, inputs and seeds as
the tests) and prints, per layer, the largest error over the output, the input gradient and
every parameter gradient (batch norm: also running statistics after 3 training steps, then
evaluation-mode outputs and gradients). The error of one quantity is
max |scratchgan - torch| / max |torch|; the tests hold it to 1e-10 (float64) and 1e-5 (float32).
"""

from __future__ import annotations

import pathlib
import platform
import sys

import numpy

TESTS = pathlib.Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

import parity  # noqa: E402
import test_parity_layers as cases  # noqa: E402  (the tests' case table, so the figures are the tested ones)


def worst(pairs):
    """(largest relative error, the quantity where it occurs) over (quantity, ours, theirs)."""
    errors = [(parity.relative_error(parity.to_numpy(ours), parity.to_numpy(theirs)), what)
              for what, ours, theirs in pairs]
    return max(errors)


def batchnorm_rows(torch):
    """Running statistics after 3 steps and evaluation mode, per shape and momentum."""
    rows = []
    for kind, shape in cases.BATCHNORM_SHAPES:
        for momentum in (0.1, None):
            label = f"{kind} {shape} momentum={momentum}: 3 steps + eval"
            figures = []
            for dtype in cases.DTYPES:
                torch_bn, sg_bn, step_pairs = cases.train_batchnorm_twins(torch, kind, shape, momentum, dtype)
                pairs = [(f"step {i}: {what}", ours, theirs)
                         for i, step in enumerate(step_pairs) for what, ours, theirs in step]
                pairs += [("running_mean", sg_bn.running_mean, torch_bn.running_mean),
                          ("running_var", sg_bn.running_var, torch_bn.running_var)]
                torch_bn.eval()
                sg_bn.eval()
                rng = numpy.random.default_rng(3)
                x = (2.0 * rng.standard_normal(shape)).astype(dtype)
                cotangent = rng.standard_normal(shape).astype(dtype)
                pairs += [(f"eval: {what}", ours, theirs) for what, ours, theirs in
                          cases.forward_backward_pairs(torch, torch_bn, sg_bn, x, cotangent)]
                figures.append(worst(pairs))
            rows.append((label, figures))
    return rows


def main():
    import torch

    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    rows = []
    for case in cases.LAYER_CASES:
        rows.append((case.name, [worst(cases.layer_parity_pairs(torch, case, dtype)) for dtype in cases.DTYPES]))
    rows += batchnorm_rows(torch)

    width = max(len(name) for name, _ in rows)
    print(f"scratchgan vs torch {torch.__version__} (CPU), numpy {numpy.__version__}, "
          f"{platform.machine()}; error = max|ours - torch| / max|torch|, worst quantity")
    print(f"{'layer':<{width}}  {'float64':>9}  {'float32':>9}  worst quantity (float64 | float32)")
    for name, ((e64, q64), (e32, q32)) in rows:
        print(f"{name:<{width}}  {e64:9.2e}  {e32:9.2e}  {q64} | {q32}")
    all64 = max(e for _, ((e, _), _) in rows)
    all32 = max(e for _, (_, (e, _)) in rows)
    print(f"{'largest':<{width}}  {all64:9.2e}  {all32:9.2e}  (tolerances: 1e-10 | 1e-5)")


if __name__ == "__main__":
    main()

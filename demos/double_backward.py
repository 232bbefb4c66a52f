"""Second derivatives through a small critic: the WGAN-GP gradient penalty, by hand.

    penalty = E_x (||grad_x D(x)||_2 - 1)^2,  the norm over every non-batch axis

The penalty is a function of a gradient, so training the critic on it needs the
gradient of a gradient. With scratchgan, `grad(..., create_graph=True)` returns a
gradient that is itself part of the graph; one more `backward()` reaches the critic's
weights. The script checks the result against finite differences and prints both.

    python demos/double_backward.py
"""

import numpy as np

import scratchgan as sg


def critic(dtype):
    sg.manual_seed(0)
    return sg.nn.Sequential(
        sg.nn.Conv2d(1, 4, 3, stride=2, padding=1, dtype=dtype), sg.nn.LeakyReLU(0.2),
        sg.nn.Flatten(), sg.nn.Linear(4 * 4 * 4, 1, dtype=dtype),
    )


def gradient_penalty(model, x):
    x = x.detach().requires_grad_()
    (gradient,) = sg.grad(model(x).sum(), x, create_graph=True)
    norms = (gradient * gradient).sum(axis=(1, 2, 3)).sqrt()  # whole sample, not one axis
    return ((norms - 1.0) ** 2).mean()


def main():
    model = critic(np.float64)
    x = sg.Tensor(np.random.default_rng(1).standard_normal((5, 1, 8, 8)))
    penalty = gradient_penalty(model, x)
    penalty.backward()
    weight = model[0].weight
    analytic = weight.grad.numpy()[0, 0, 1, 1]

    eps = 1e-6
    original = weight.data[0, 0, 1, 1]
    values = []
    for shift in (eps, -eps):
        weight.data[0, 0, 1, 1] = original + shift
        values.append(gradient_penalty(model, x).item())
    weight.data[0, 0, 1, 1] = original
    numeric = (values[0] - values[1]) / (2 * eps)
    print(f"penalty = {penalty.item():.6f}")
    print(f"d penalty / d w[0,0,1,1]: double backward {analytic:.10f}, finite difference {numeric:.10f}")
    assert abs(analytic - numeric) < 1e-6 * max(1.0, abs(numeric))


if __name__ == "__main__":
    main()

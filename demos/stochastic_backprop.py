"""Stochastic backpropagation: reparameterisation versus score-function gradients of E|X - 3|.

Seed 001 ('Stochastic Backpropagation', its 'Simple Example') minimises E|X - 3| over
mu with X ~ N(mu, 1). Since X - 3 ~ N(mu - 3, 1), the exact derivative is

    d/dmu E|X - 3| = 2 Phi(mu - 3) - 1.

Two unbiased estimators, both computed by backward() through scratchgan graphs:

    reparameterisation   X = mu + eps, eps ~ N(0, 1):  d/dmu |mu + eps - 3| = sign(X - 3)
    score function       surrogate |X - 3|.detach() * log p(X; mu):  |X - 3| (X - mu)

(seed 001: 'tag on the score function ... instead of taking its gradient'). The script
repeats each estimator many times at several mu, prints means, variances and standard
errors, and asserts both are unbiased within 4 standard errors and that the
reparameterised one has the smaller variance. Then, as in the seed, Adam minimises
E|X - 3| from mu = 0 with reparameterised gradients; the script asserts mu ends near 3.

    python demos/stochastic_backprop.py [--quick] [--out demos/out]
"""


import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

import scratchgan as sg  # noqa: E402

import _demo  # demos/_demo.py: arguments and figure saving shared by the demos

TARGET = 3.0


def exact_gradient(mu):
    return 2 * stats.norm.cdf(mu - TARGET) - 1


def reparameterised(mu, repetitions, samples):
    """One estimate per row: d/dmu of mean_j |mu + eps_j - 3|, by backward through the sample."""
    mus = sg.Tensor(np.full((repetitions, 1), mu), requires_grad=True)  # (R, 1) float64
    eps = sg.Tensor(sg.random.generator().standard_normal((repetitions, samples)))
    x = mus + eps                                                          # (R, S)
    (x - TARGET).abs().mean(axis=1).sum().backward()
    return mus.grad.numpy()[:, 0]


def score_function(mu, repetitions, samples):
    """One estimate per row: d/dmu of mean_j |X_j - 3| log p(X_j; mu) with |X_j - 3| held fixed."""
    mus = sg.Tensor(np.full((repetitions, 1), mu), requires_grad=True)
    x = sg.Tensor(mu + sg.random.generator().standard_normal((repetitions, samples)))  # no path to mu
    log_density = -0.5 * (x - mus) ** 2                                    # log N(x; mu, 1) + const
    ((x - TARGET).abs().detach() * log_density).mean(axis=1).sum().backward()
    return mus.grad.numpy()[:, 0]


def minimise(mu_start, steps, samples, lr):
    """Seed 001's loop: sample X by reparameterisation, loss = mean |X - 3|, Adam on mu."""
    mu = sg.Tensor(np.array([mu_start]), requires_grad=True)
    optimizer = sg.optim.Adam([mu], lr=lr)
    trajectory = [mu_start]
    for _ in range(steps):
        x = mu + sg.Tensor(sg.random.generator().standard_normal(samples))
        loss = (x - TARGET).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        trajectory.append(mu.item())
    return np.array(trajectory)


def figure(mu, reparam, score, trajectory, out_dir):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    bins = np.linspace(min(reparam.min(), score.min()), max(reparam.max(), score.max()), 60)
    left.hist(score, bins=bins, alpha=0.6, color="tab:orange",
              label=f"score function (var {score.var():.3f})")
    left.hist(reparam, bins=bins, alpha=0.6, color="tab:blue",
              label=f"reparameterisation (var {reparam.var():.3f})")
    left.axvline(exact_gradient(mu), color="k", ls="--",
                 label=f"exact 2 Phi(mu - 3) - 1 = {exact_gradient(mu):.3f}")
    left.set_xlabel(f"estimate of d/dmu E|X - 3| at mu = {mu}")
    left.set_title("Gradient estimators")
    left.legend(fontsize=8)
    right.plot(trajectory, color="tab:blue")
    right.axhline(TARGET, color="k", ls="--", label="argmin = 3")
    right.set_xlabel("Adam step")
    right.set_ylabel("mu")
    right.set_title("Adam on E|X - 3|, X ~ N(mu, 1)")
    right.legend(fontsize=8)
    return _demo.save_figure(fig, out_dir, "stochastic_backprop.png", dpi=120)


def main(argv=None):
    args, out_dir = _demo.arguments(__doc__, argv)
    repetitions, samples = (2000, 4) if args.quick else (20000, 4)
    # The seed runs 10000 single-sample Adam steps at PyTorch's default lr = 1e-3.
    steps, adam_samples, lr = (300, 8, 0.05) if args.quick else (10000, 1, 1e-3)
    sg.manual_seed(0)

    print(f"{repetitions} repetitions of each estimator; each estimate averages {samples} samples")
    print(f"{'mu':>5} {'exact':>9} {'reparam mean':>13} {'var':>8} {'score mean':>11} {'var':>8}")
    histograms = {}
    for mu in (0.0, 1.5, 3.0, 4.5):
        exact = exact_gradient(mu)
        reparam, score = reparameterised(mu, repetitions, samples), score_function(mu, repetitions, samples)
        histograms[mu] = (reparam, score)
        print(f"{mu:>5} {exact:>9.4f} {reparam.mean():>13.4f} {reparam.var():>8.4f} "
              f"{score.mean():>11.4f} {score.var():>8.4f}")
        for name, estimates in (("reparameterisation", reparam), ("score function", score)):
            standard_error = estimates.std() / np.sqrt(repetitions)
            # 4 standard errors: a 6e-5 chance per check of a false alarm for an unbiased estimator
            assert abs(estimates.mean() - exact) < 4 * standard_error + 1e-12, f"{name} biased at mu={mu}"
        assert reparam.var() < score.var(), f"reparameterisation should have the smaller variance at mu={mu}"

    trajectory = minimise(0.0, steps, adam_samples, lr)
    final = trajectory[-max(1, steps // 10):].mean()
    path = figure(1.5, *histograms[1.5], trajectory, out_dir)
    print(f"Adam, lr {lr}, {steps} steps of {adam_samples} sample(s): mu 0 -> {trajectory[-1]:.3f} "
          f"(mean of the last 10% of steps {final:.3f})")
    print(f"figure: {path}")
    assert abs(final - TARGET) < 0.15, f"mu should end near {TARGET}, got {final:.3f}"


if __name__ == "__main__":
    main()

"""Three generator costs as functions of D(G(z)), and their gradients, by autodiff.

Seed 000 ('Vanishing Gradient Problem with Generator', 'Heuristic Non Saturating Game',
'Comparison of Generator Losses') writes the generator's cost as a function of the
discriminator's verdict D = D(G(z)) in (0, 1):

    minimax (saturating)   J_G = 1/2 E log(1 - D)
    non-saturating         J_G = -1/2 E log D
    maximum likelihood     J_G = -1/2 E exp(sigma^-1(D))

This script evaluates sg.gan.losses ('minimax', 'nonsaturating', 'maximum_likelihood')
on a batch of logits v = sigma^-1(D) and differentiates them with scratchgan's autodiff.
The library's losses, and so the curves plotted, drop the seed's factor 1/2 (each
curve is twice the seed's). With respect to the logit the slopes are

    d/dv log(1 - sigma(v)) = -D,   d/dv -log sigma(v) = -(1 - D),   d/dv -exp(v) = -D / (1 - D)

so the saturating cost is flat where a confident discriminator rejects the sample
(D -> 0), the non-saturating one keeps slope -1 there, and the maximum-likelihood cost
only moves once D is fooled (D -> 1). The script prints and asserts these limits and
that the autodiff slopes equal the closed forms.

    python demos/generator_costs.py [--quick] [--out demos/out]
"""


import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import scratchgan as sg  # noqa: E402

import _demo  # demos/_demo.py: arguments and figure saving shared by the demos

COSTS = {  # library loss name -> (label, closed-form cost, closed-form d cost / d logit), both of D
    "minimax": ("saturating  log(1 - D)", lambda d: np.log1p(-d), lambda d: -d),
    "nonsaturating": ("non-saturating  -log D", lambda d: -np.log(d), lambda d: -(1 - d)),
    "maximum_likelihood": ("maximum likelihood  -exp(sigma^-1(D))", lambda d: -d / (1 - d),
                           lambda d: -d / (1 - d)),
}


def costs_and_slopes(name, logits):
    """Per-sample cost and d cost / d logit for every entry of ``logits`` (a 1-d array).

    The loss is a batch mean, so batch size x the mean's gradient is each sample's own slope;
    each sample's cost is the loss evaluated on that sample alone."""
    loss = sg.gan.losses.get(name)
    batch = sg.Tensor(logits, requires_grad=True)  # (N,) float64
    (slope,) = sg.grad(loss.generator(batch) * len(logits), batch)
    with sg.no_grad():
        cost = np.array([loss.generator(batch[i:i + 1]).item() for i in range(len(logits))])
    return cost, slope.numpy()


def figure(d, results, out_dir):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, (cost, slope) in results.items():
        label = COSTS[name][0]
        left.plot(d, cost, label=label)
        right.plot(d, slope, label=label)
    left.set_ylim(-10, 6)
    left.set_xlabel("D(G(z))")
    left.set_ylabel("generator cost (library form: the paper's x 2)")
    left.set_title("Generator costs (Goodfellow 2016, arXiv:1701.00160)")
    right.set_ylim(-10, 1)
    right.set_xlabel("D(G(z))")
    right.set_ylabel("d cost / d logit  (scratchgan autodiff)")
    right.set_title("Their gradients with respect to the logit")
    for ax in (left, right):
        ax.axhline(0, color="0.7", lw=0.8)
        ax.legend(fontsize=8)
    return _demo.save_figure(fig, out_dir, "generator_costs.png", dpi=120)


def main(argv=None):
    args, out_dir = _demo.arguments(__doc__, argv)

    points = 61 if args.quick else 401
    logits = np.linspace(-9.0, 9.0, points)  # D from 1.2e-4 to 0.99988
    d = 1 / (1 + np.exp(-logits))
    results = {name: costs_and_slopes(name, logits) for name in COSTS}
    path = figure(d, results, out_dir)

    low, high = f"slope at D={d[0]:.5f}", f"slope at D={d[-1]:.5f}"
    print(f"{'cost':<40} {low:>20} {'slope at D=0.5':>16} {high:>20}")
    middle = points // 2
    for name, (cost, slope) in results.items():
        print(f"{COSTS[name][0]:<40} {slope[0]:>20.5f} {slope[middle]:>16.5f} {slope[-1]:>20.2f}")
        _, closed_cost, closed_slope = COSTS[name]
        assert np.allclose(cost, closed_cost(d), rtol=1e-9, atol=1e-12), f"{name}: cost != closed form"
        assert np.allclose(slope, closed_slope(d), rtol=1e-9, atol=1e-12), f"{name}: autodiff != closed form"
    print(f"figure: {path}")

    saturating, nonsaturating, likelihood = (results[n][1] for n in COSTS)
    assert abs(saturating[0]) < 1e-3, "saturating cost should be flat when D rejects the sample"
    assert abs(nonsaturating[0] + 1) < 1e-3, "non-saturating slope should stay near -1 at D -> 0"
    assert abs(likelihood[0]) < 1e-3 and abs(likelihood[-1]) > 1e3, \
        "maximum-likelihood slope should be ~0 at D -> 0 and huge at D -> 1"


if __name__ == "__main__":
    main()

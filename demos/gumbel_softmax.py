"""The Concrete (Gumbel-softmax) relaxation, and a GAN that learns a categorical distribution through it.

Seed 001 ('Bonus: Reparametrization of Categorical Variables', 'The Gumbel-Softmax aka
Concrete Distribution'): with G_k ~ Gumbel(0, 1) i.i.d.,

    X_k = exp(lambda^-1 (log alpha_k + G_k)) / sum_j exp(lambda^-1 (log alpha_j + G_j)),

and as lambda -> 0 the samples approach one-hot vectors distributed as the softmax
(categorical) distribution alpha / sum(alpha). Part 1 samples Concrete(alpha, lambda)
with ``sg.nn.functional.gumbel_softmax`` at several temperatures; it prints and asserts
that the largest coordinate approaches 1 as lambda falls and that the argmax frequencies
pass a chi-square test against alpha / sum(alpha) (argmax_k (log alpha_k + G_k) is an
exact categorical sample at every lambda: the Gumbel-max trick).

Part 2 is a tiny GAN over K = 5 symbols. The generator is a vector of logits w; a sample
is the Gumbel-softmax relaxation of Categorical(softmax(w)) used straight-through (Jang
et al. 2017, cited in seed 001; ``gumbel_softmax(..., hard=True)``): the forward value is
the one-hot argmax, the gradient is the relaxed sample's. The discriminator (an MLP,
logits out) sees one-hot vectors from the target and from the generator, and both players
minimise the non-saturating losses of sg.gan.losses. (Fed the soft samples instead, D
tells them from the exact one-hot real data by their softness alone, and the generator
collapses toward one symbol.) The script prints and asserts that the learned distribution
softmax(w) comes within a small total variation of the target.

    python demos/gumbel_softmax.py [--quick] [--out demos/out]
"""


import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

import scratchgan as sg  # noqa: E402
from scratchgan.nn import functional as F  # noqa: E402

import _demo  # demos/_demo.py: arguments and figure saving shared by the demos

ALPHA = np.array([0.5, 1.0, 3.0, 1.5, 2.0])
TEMPERATURES = (2.0, 1.0, 0.5, 0.1, 0.02)
TARGET = np.array([0.40, 0.25, 0.15, 0.12, 0.08])
K = len(TARGET)


def concrete(log_alpha, temperature, n):
    """n samples of Concrete(alpha, lambda): softmax((log alpha + G) / lambda), last axis (seed 001)."""
    return F.gumbel_softmax(log_alpha.broadcast_to((n, log_alpha.shape[-1])), tau=temperature)  # (n, K)


def straight_through(logits, temperature, n):
    """n one-hot samples of Categorical(softmax(logits)) whose gradient is the relaxed sample's."""
    return F.gumbel_softmax(logits.broadcast_to((n, logits.shape[-1])), tau=temperature, hard=True)  # (n, K)


def softmax(w):
    e = np.exp(w - w.max())
    return e / e.sum()


def total_variation(p, q):
    return 0.5 * np.abs(p - q).sum()


def temperature_sweep(samples):
    """Concrete samples at each temperature: a few to show, the mean largest coordinate, argmax counts."""
    log_alpha = sg.Tensor(np.log(ALPHA))
    shown, max_coordinate, counts = {}, {}, {}
    with sg.no_grad():
        for temperature in TEMPERATURES:
            x = concrete(log_alpha, temperature, samples).numpy()
            shown[temperature] = x[:12]
            max_coordinate[temperature] = x.max(axis=1).mean()
            counts[temperature] = np.bincount(x.argmax(axis=1), minlength=len(ALPHA))
    return shown, max_coordinate, counts


def train_gan(steps, batch, temperature, rng):
    logits = sg.nn.Parameter(np.zeros(K))  # the generator: Categorical(softmax(logits)), uniform at first
    discriminator = sg.nn.Sequential(
        sg.nn.Linear(K, 32, dtype=np.float64), sg.nn.LeakyReLU(0.2), sg.nn.Linear(32, 1, dtype=np.float64),
    )
    loss = sg.gan.losses.get("nonsaturating")
    d_optimizer = sg.optim.Adam(discriminator.parameters(), lr=1e-2, betas=(0.5, 0.999))
    g_optimizer = sg.optim.Adam([logits], lr=1e-2, betas=(0.5, 0.999))
    one_hot = np.eye(K)
    history = []
    for step in range(steps):
        if step == int(0.6 * steps):  # smaller steps at the end average over batches
            for optimizer in (d_optimizer, g_optimizer):
                optimizer.param_groups[0]["lr"] /= 5
        real = sg.Tensor(one_hot[rng.choice(K, size=batch, p=TARGET)])  # (B, K)
        fake = straight_through(logits, temperature, batch)
        d_loss = loss.discriminator(discriminator(real), discriminator(fake.detach()))
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()
        g_loss = loss.generator(discriminator(fake))
        g_optimizer.zero_grad()
        g_loss.backward()
        g_optimizer.step()
        history.append(total_variation(softmax(logits.numpy()), TARGET))
    return softmax(logits.numpy()), np.array(history), logits


def figure(shown, counts, learned, sampled, history, out_dir):
    fig = plt.figure(figsize=(13, 7.5))
    grid = fig.add_gridspec(2, len(TEMPERATURES) + 2, width_ratios=[1] * len(TEMPERATURES) + [0.12, 2.2])
    for column, temperature in enumerate(TEMPERATURES):
        ax = fig.add_subplot(grid[0, column])
        image = ax.imshow(shown[temperature], vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_title(f"temperature {temperature}", fontsize=11)
        ax.set_xlabel("category k", fontsize=10)
        ax.set_xticks(range(len(ALPHA)))
        ax.set_yticks([])
    ax.figure.colorbar(image, cax=fig.add_subplot(grid[0, len(TEMPERATURES)]), label="sample value")
    ax = fig.add_subplot(grid[0, -1])
    ax.bar(np.arange(len(ALPHA)) - 0.2, ALPHA / ALPHA.sum(), 0.4, label="alpha / sum(alpha)")
    lowest = TEMPERATURES[-1]
    ax.bar(np.arange(len(ALPHA)) + 0.2, counts[lowest] / counts[lowest].sum(), 0.4,
           label="argmax frequency")
    ax.set_title(f"Which category wins\n(temperature {lowest})", fontsize=11)
    ax.set_xlabel("category k", fontsize=10)
    ax.set_ylim(0, 1.35 * max(ALPHA / ALPHA.sum()))  # room for the legend above the bars
    ax.legend(fontsize=9, loc="upper left")
    ax = fig.add_subplot(grid[1, :3])
    positions = np.arange(K)
    ax.bar(positions - 0.27, TARGET, 0.27, label="target")
    ax.bar(positions, learned, 0.27, label="learned softmax(w)")
    ax.bar(positions + 0.27, sampled, 0.27, label="generated one-hot frequencies")
    ax.set_xlabel("symbol", fontsize=10)
    ax.set_ylabel("probability", fontsize=10)
    ax.set_ylim(0, 1.3 * max(TARGET))
    ax.set_title("Gumbel-softmax GAN: learned vs target categorical", fontsize=11)
    ax.legend(fontsize=9, loc="upper right")
    ax = fig.add_subplot(grid[1, 3:])
    ax.plot(history)
    ax.set_xlabel("step", fontsize=10)
    ax.set_ylabel("TV(softmax(w), target)", fontsize=10)
    ax.set_yscale("log")
    ax.set_title("Distance to the target over training", fontsize=11)
    fig.suptitle("Concrete samples, 12 per temperature (rows), and a GAN trained through them", fontsize=13)
    return _demo.save_figure(fig, out_dir, "gumbel_softmax.png", dpi=110)


def main(argv=None):
    args, out_dir = _demo.arguments(__doc__, argv)
    samples, steps = (5000, 200) if args.quick else (100_000, 2000)
    sg.manual_seed(0)
    rng = np.random.default_rng(0)

    shown, max_coordinate, counts = temperature_sweep(samples)
    print(f"Concrete(alpha = {ALPHA.tolist()}, lambda), {samples} samples per temperature")
    print(f"{'lambda':>7} {'mean max_k X_k':>15} {'chi-square p (argmax vs alpha/sum)':>36}")
    p_values = {}
    for temperature in TEMPERATURES:
        expected = ALPHA / ALPHA.sum() * samples
        p_values[temperature] = stats.chisquare(counts[temperature], expected).pvalue
        print(f"{temperature:>7} {max_coordinate[temperature]:>15.4f} {p_values[temperature]:>36.3f}")

    learned, history, logits = train_gan(steps, batch=128, temperature=0.5, rng=rng)
    with sg.no_grad():
        generated = straight_through(logits, 0.5, 50_000).numpy()
    sampled = generated.mean(axis=0)
    # TV threshold: uniform is 0.25 from the target. A real batch of 128 one-hots estimates
    # each p_k to +-sqrt(p_k (1 - p_k) / 128) ~ 0.04; Adam's running averages over many
    # batches shrink that several-fold, so an unbiased learner lands within ~0.02 (0.05 quick).
    threshold = 0.05 if args.quick else 0.03
    print(f"GAN, {steps} steps: target   {np.round(TARGET, 3).tolist()}")
    learned_tv, sampled_tv = total_variation(learned, TARGET), total_variation(sampled, TARGET)
    print(f"               learned  {np.round(learned, 3).tolist()}  TV {learned_tv:.4f} "
          f"(threshold {threshold}; uniform start {total_variation(np.full(K, 1 / K), TARGET):.2f})")
    print(f"               sampled  {np.round(sampled, 3).tolist()}  TV {sampled_tv:.4f} "
          f"(50000 one-hot samples)")
    path = figure(shown, counts, learned, sampled, history, out_dir)
    print(f"figure: {path}")

    ordered = [max_coordinate[t] for t in TEMPERATURES]  # temperatures in decreasing order
    assert all(a < b for a, b in zip(ordered, ordered[1:])), "samples should sharpen as lambda falls"
    # 1 - max_k X_k shrinks like O(lambda) (Maddison et al. 2017): below lambda itself here
    assert all(1 - max_coordinate[t] < t for t in TEMPERATURES if t <= 0.1), "samples should approach one-hot"
    assert np.all(np.abs((generated.sum(axis=1) - 1)) < 1e-9) and set(np.unique(generated)) <= {0.0, 1.0}
    # A 1e-3 level per test: a fixed seed makes the outcome deterministic, the level keeps it meaningful.
    assert min(p_values.values()) > 1e-3, "argmax frequencies should follow alpha / sum(alpha)"
    assert learned_tv < threshold
    assert sampled_tv < threshold + 0.01  # + sampling noise of 50000 draws


if __name__ == "__main__":
    main()

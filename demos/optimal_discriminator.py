"""The optimal discriminator and the Jensen-Shannon value of the GAN game, by training one.

Seed 000 ('Mini-max Game Approach', 'Nash Equilibrium / Saddle Point') and seed 002
('Given G, maximize D') state that for a fixed generator the discriminator maximising

    V(G, D) = E_{x ~ p_data} log D(x) + E_{x ~ p_g} log(1 - D(x))

is D*(x) = p_data(x) / (p_data(x) + p_g(x)), and that its value is

    max_D V(G, D) = -2 log 2 + 2 JSD(p_data || p_g).

Here p_data = N(0, 1) and the generator is frozen at p_g = N(1.5, 0.7^2). A small MLP
discriminator (logits out) is trained with scratchgan's autodiff and Adam on the
minimax discriminator loss, which in logits is exactly -V (sg.gan.losses, no factor
1/2). The script prints and asserts that sigmoid(logit) matches D* on the grid where
both densities are at least 0.05, and that the trained D's Monte Carlo value of V
matches -2 log 2 + 2 JSD computed by numerical integration (scipy.integrate.quad).

    python demos/optimal_discriminator.py [--quick] [--out demos/out]
"""

import math
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import integrate, stats  # noqa: E402

import scratchgan as sg  # noqa: E402

import _demo  # demos/_demo.py: arguments and figure saving shared by the demos

DATA = stats.norm(0.0, 1.0)       # p_data
GENERATOR = stats.norm(1.5, 0.7)  # p_g, the frozen generator's distribution
DENSITY_FLOOR = 0.05              # compare D with D* where both densities exceed this


def optimal_discriminator(x):
    """D*(x) = p_data / (p_data + p_g)  (seed 000, 'Nash Equilibrium')."""
    return DATA.pdf(x) / (DATA.pdf(x) + GENERATOR.pdf(x))


def jensen_shannon(p, q, low=-12.0, high=12.0):
    """JSD(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q)/2, by quadrature (nats)."""
    def integrand(x):
        a, b = p.pdf(x), q.pdf(x)
        m = 0.5 * (a + b)
        return 0.5 * (a * math.log(a / m) if a > 0 else 0.0) + 0.5 * (b * math.log(b / m) if b > 0 else 0.0)
    value, _ = integrate.quad(integrand, low, high, points=[0.0, 1.5], limit=200)
    return value


def discriminator():
    return sg.nn.Sequential(
        sg.nn.Linear(1, 16, dtype=np.float64), sg.nn.Tanh(),
        sg.nn.Linear(16, 16, dtype=np.float64), sg.nn.Tanh(),
        sg.nn.Linear(16, 1, dtype=np.float64),
    )


def sample(distribution, n, rng):
    return sg.Tensor(distribution.rvs(size=(n, 1), random_state=rng))  # (n, 1) float64


def train(model, steps, batch, rng):
    """Minimise the minimax discriminator loss E sp(-D(x)) + E sp(D(G(z))) = -V on fresh batches."""
    loss = sg.gan.losses.get("minimax")
    optimizer = sg.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        if step in (steps // 2, 3 * steps // 4):  # smaller steps later average out batch noise
            optimizer.param_groups[0]["lr"] /= 4
        d_loss = loss.discriminator(model(sample(DATA, batch, rng)), model(sample(GENERATOR, batch, rng)))
        optimizer.zero_grad()
        d_loss.backward()
        optimizer.step()


def value_monte_carlo(model, n, rng):
    """V(D) = E log D(x) + E log(1 - D(x_g)) = -(minimax discriminator loss), sampled;
    returns the estimate and its standard error."""
    real, fake = sample(DATA, n, rng), sample(GENERATOR, n, rng)
    with sg.no_grad():
        real_logits, fake_logits = model(real), model(fake)
        value = -sg.gan.losses.get("minimax").discriminator(real_logits, fake_logits).item()
        log_d_real = real_logits.log_sigmoid().numpy()         # log D(x)
        log_1m_d_fake = (-fake_logits).log_sigmoid().numpy()   # log(1 - D(x_g))
    standard_error = math.sqrt((log_d_real.var() + log_1m_d_fake.var()) / n)
    return value, standard_error


def figure(grid, trained, out_dir):
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(grid, DATA.pdf(grid), color="tab:blue", label="$p_{data} = N(0, 1)$")
    ax.plot(grid, GENERATOR.pdf(grid), color="tab:red", label="$p_g = N(1.5, 0.7^2)$")
    ax.plot(grid, optimal_discriminator(grid), "k--", label="$D^*(x) = p_{data}/(p_{data}+p_g)$")
    ax.plot(grid, trained, color="tab:green", label="trained $D(x)$ = sigmoid(logit)")
    both = (DATA.pdf(grid) >= DENSITY_FLOOR) & (GENERATOR.pdf(grid) >= DENSITY_FLOOR)
    ax.axvspan(grid[both][0], grid[both][-1], color="0.9", label="compared region")
    ax.set_xlabel("x")
    ax.set_title("Optimal discriminator for a fixed generator")
    ax.legend(fontsize=8)
    return _demo.save_figure(fig, out_dir, "optimal_discriminator.png", dpi=120)


def main(argv=None):
    args, out_dir = _demo.arguments(__doc__, argv)
    steps, batch, mc_samples = (300, 128, 20_000) if args.quick else (4000, 256, 200_000)
    # D tolerance: Adam on fresh batches of B samples leaves the logit fluctuating by
    # roughly 1/sqrt(B) ~ 0.06-0.09, i.e. up to ~0.02 in D = sigmoid(logit) near 1/2;
    # the quick run stops earlier and gets more slack.
    d_tolerance = 0.05 if args.quick else 0.035

    sg.manual_seed(0)
    rng = np.random.default_rng(0)
    model = discriminator()
    start = time.perf_counter()
    train(model, steps, batch, rng)
    seconds = time.perf_counter() - start

    grid = np.linspace(-3.5, 4.0, 301)
    with sg.no_grad():
        trained = model(sg.Tensor(grid[:, None])).sigmoid().numpy()[:, 0]
    both = (DATA.pdf(grid) >= DENSITY_FLOOR) & (GENERATOR.pdf(grid) >= DENSITY_FLOOR)
    d_error = np.max(np.abs(trained[both] - optimal_discriminator(grid[both])))

    jsd = jensen_shannon(DATA, GENERATOR)
    value_theory = -2 * math.log(2) + 2 * jsd
    value_trained, standard_error = value_monte_carlo(model, mc_samples, rng)
    # V tolerance: 4 Monte Carlo standard errors, plus the trained D's shortfall from the
    # maximum, which is second order in D - D* (about (D - D*)^2 / (D (1 - D)) ~ 0.003).
    value_tolerance = 4 * standard_error + 0.005
    path = figure(grid, trained, out_dir)

    print(f"trained D for {steps} steps of batch {batch} in {seconds:.1f} s")
    print(f"max |D(x) - D*(x)| on x in [{grid[both][0]:.2f}, {grid[both][-1]:.2f}]: {d_error:.4f} "
          f"(tolerance {d_tolerance})")
    print(f"JSD(p_data || p_g) = {jsd:.5f} nats (quadrature)")
    print(f"max_D V = -2 log 2 + 2 JSD = {value_theory:.5f};  V(trained D), {mc_samples} samples "
          f"each = {value_trained:.5f} +- {standard_error:.5f};  difference "
          f"{value_trained - value_theory:+.5f} (tolerance {value_tolerance:.4f})")
    print(f"figure: {path}")
    assert d_error < d_tolerance, f"trained D is {d_error:.4f} away from D*"
    assert abs(value_trained - value_theory) < value_tolerance


if __name__ == "__main__":
    main()

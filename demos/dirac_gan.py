"""The Dirac-GAN: unregularised GAN training circles its equilibrium; R1 and instance noise converge.

Mescheder, Geiger and Nowozin (2018), "Which Training Methods for GANs do actually Converge?",
arXiv:1801.04406, Sections 2 and 3. The data are a Dirac at 0, the generator a Dirac at theta
and the discriminator D_psi(x) = psi x; the GAN objective

    L(theta, psi) = E f(D_psi(G_theta(z))) + E_{x ~ p_D} f(-D_psi(x)) = f(psi theta) + f(0),
    f(t) = -log(1 + exp(-t)),    f'(t) = 1 / (1 + exp(t)),    f'(0) = 1/2,  f''(0) = -1/4,

is minimised by the generator and maximised by the discriminator; (0, 0) is its only
equilibrium. Here theta is a (1, 1) tensor (a batch of one sample) and D an
sg.nn.Linear(1, 1, bias=False) with psi its weight; every gradient comes from scratchgan's
autodiff and every step from sg.optim.SGD (each player minimises its own loss).

Analysis: the gradient vector field is v = (-dL/dtheta, dL/dpsi) = (-psi f'(psi theta), theta f'(psi theta)).

- Unregularised. Its Jacobian at (0, 0) is J = [[0, -f'(0)], [f'(0), 0]], eigenvalues
  +-i f'(0): purely imaginary. The flow conserves theta^2 + psi^2 exactly
  (d/dt (theta^2 + psi^2) = -2 theta psi f' + 2 psi theta f' = 0), so it circles the
  equilibrium. Simultaneous steps of size h give exactly
  theta'^2 + psi'^2 = (theta^2 + psi^2)(1 + h^2 f'(psi theta)^2): the distance grows at every
  step, by O(h^2) per step, i.e. O(h) per unit time t = h * step, and 0 in the limit h -> 0.
  Alternating steps (generator first, then the discriminator answers the moved generator,
  as in the paper's code) have a linearised map of determinant 1 with eigenvalues on the
  unit circle (h f'(0) < 2): the iterates orbit, neither converging nor diverging.
- Instance noise (their Section 3): N(0, sigma^2) added to real and fake inputs,
  L_sigma = E f(psi (theta + e)) + E f(-psi e'). At psi = 0, d2 L_sigma / dpsi^2 =
  E (theta + e)^2 f''(0) + E e'^2 f''(0) = 2 sigma^2 f''(0) at theta = 0, so
  J = [[0, -f'(0)], [f'(0), 2 sigma^2 f''(0)]] and
  lambda = f''(0) sigma^2 +- sqrt(f''(0)^2 sigma^4 - f'(0)^2), Re lambda = -sigma^2 / 4
  while sigma^2 < 2.
- The zero-centred gradient penalty R1 (their Sections 3 and 4):
  R1(psi) = gamma/2 E_{p_D} ||grad_x D_psi(x)||^2 = gamma/2 psi^2; the discriminator
  maximises L - R1, so v_psi gains -gamma psi,
  J = [[0, -f'(0)], [f'(0), -gamma]] and lambda = -gamma/2 +- sqrt(gamma^2/4 - f'(0)^2),
  Re lambda = -gamma / 2 while gamma < 2 f'(0) = 1. sg.gan.penalties' r1 gives
  E ||grad D||^2 without the 1/2, so the discriminator's loss adds gamma/2 times it.
- WGAN with clipping (their Section 3): f(t) = t, L = psi theta, psi clipped to [-c, c]
  after each discriminator step. Inside the clipping box it is the bilinear game: the
  iterates fall onto an orbit of radius about c and stay there.

Near (0, 0), with J's eigenvalues a +- ib, the distance behaves as exp(a t) (times an
oscillation bounded because J is diagonalisable), so the slope of log(distance) per step is
h a in the continuous-time limit; the discrete iteration's own slope is log|mu|, mu the
eigenvalues of its linearised map (I + h J for simultaneous steps). The script measures the
slope where the distance is below FIT_BELOW, prints both predictions and asserts the measured
slope within RATE_TOLERANCE (10%) of h Re lambda and within DISCRETE_TOLERANCE (3%, for the
Monte Carlo noise of instance noise; R1 agrees to 0.1%) of log|mu|.

Instance noise is drawn in antithetic pairs (e and -e, fresh each step): each sample is
N(0, sigma^2), the gradient estimate stays unbiased, and its noise vanishes at the
equilibrium, so the log-distance can be followed down without a noise floor.

    python demos/dirac_gan.py [--quick] [--out demos/out]
"""

import time
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import scratchgan as sg  # noqa: E402
from scratchgan.gan import penalties  # noqa: E402

import _demo  # demos/_demo.py: arguments and figure saving shared by the demos

F_PRIME_0 = 0.5     # f'(0) = 1 / (1 + e^0)
F_SECOND_0 = -0.25  # f''(0) = -sigmoid(0) sigmoid(-0)
START = (1.0, 0.0)  # (theta, psi)
LR = 0.05
CONTINUOUS_LR = 1e-3
FIT_BELOW = 0.2       # fit the contraction slope where the distance is below this (linear regime)
RATE_TOLERANCE = 0.10  # measured slope against h Re(lambda), relative
DISCRETE_TOLERANCE = 0.03  # measured slope against log|mu| of the linearised iteration, relative
NOISE_SAMPLES = 64    # instance-noise draws per step and per batch (32 antithetic pairs)
SEED = 0


def f(t):
    """f(t) = -log(1 + exp(-t)), the original GAN's (their eq. 1 with Goodfellow et al.'s choice)."""
    return sg.log_sigmoid(t)


@dataclass(frozen=True)
class Game:
    """One variant: the objective (GAN or WGAN), its regulariser and how the players step."""

    name: str
    alternating: bool = False
    gamma: float = 0.0        # R1 weight
    sigma: float = 0.0        # instance-noise standard deviation
    clip: float | None = None  # WGAN weight clipping of psi
    lr: float = LR

    @property
    def wgan(self):
        return self.clip is not None

    def jacobian(self):
        """J of the gradient vector field at (0, 0), from the analysis (module docstring)."""
        slope = 1.0 if self.wgan else F_PRIME_0  # f(t) = t for WGAN
        damping = 2 * self.sigma ** 2 * F_SECOND_0 - self.gamma + 0.0  # + 0.0: no -0.0 printed
        return np.array([[0.0, -slope], [slope, damping]])

    def eigenvalues(self):
        return np.linalg.eigvals(self.jacobian())

    def step_map(self):
        """The linearised one-step map of the iteration at (0, 0)."""
        h, jacobian = self.lr, self.jacobian()
        if not self.alternating:
            return np.eye(2) + h * jacobian
        generator_step = np.eye(2) + h * np.diag([1.0, 0.0]) @ jacobian       # theta moves
        discriminator_step = np.eye(2) + h * np.diag([0.0, 1.0]) @ jacobian   # then psi, at the new theta
        return discriminator_step @ generator_step

    def predicted_slope(self):
        """h Re(lambda): the continuous-time rate of log(distance), per step."""
        return self.lr * self.eigenvalues().real.max() + 0.0  # + 0.0: no -0.0 in the table

    def discrete_slope(self):
        """log |mu|, mu the eigenvalues of the linearised step map: the iteration's own rate."""
        return np.log(np.abs(np.linalg.eigvals(self.step_map())).max())

    def draw_noise(self, rng, samples=NOISE_SAMPLES):
        """(fake_noise, real_noise), each (samples, 1) in antithetic pairs, or zeros (1, 1)."""
        if not self.sigma:
            return np.zeros((1, 1)), np.zeros((1, 1))
        half = self.sigma * rng.standard_normal((2, samples // 2, 1))
        return tuple(np.concatenate([draw, -draw]) for draw in half)

    def losses(self, players, noise):
        """(generator_loss, discriminator_loss): L for G to minimise, -L + gamma/2 R1 for D."""
        fake_noise, real_noise = noise
        fake = players.theta + sg.Tensor(fake_noise)  # (N, 1): G's Dirac at theta, noised
        real = sg.Tensor(real_noise)                   # the data, a Dirac at 0, noised
        fake_out, real_out = players.discriminator(fake), players.discriminator(real)
        if self.wgan:
            value = fake_out.mean() - real_out.mean()  # f(t) = t: L = psi theta
        else:
            value = f(fake_out).mean() + f(-real_out).mean()
        discriminator_loss = -value
        if self.gamma:
            r1 = penalties.get("r1")(players.discriminator, real)  # E ||grad_x D(x)||^2 on the data
            discriminator_loss = discriminator_loss + self.gamma / 2 * r1
        return value, discriminator_loss


class Players:
    """The generator's location theta, a (1, 1) tensor, and D(x) = psi x with psi its weight."""

    def __init__(self, theta, psi, lr):
        self.theta = sg.Tensor(np.full((1, 1), float(theta)), requires_grad=True)
        self.discriminator = sg.nn.Linear(1, 1, bias=False, dtype=np.float64)
        self.discriminator.weight.data = np.full((1, 1), float(psi))
        self.generator_optimizer = sg.optim.SGD([self.theta], lr=lr)
        self.discriminator_optimizer = sg.optim.SGD([self.psi], lr=lr)

    @property
    def psi(self):
        return self.discriminator.weight

    def point(self):
        return self.theta.item(), self.psi.item()


def field(game, players, noise, create_graph=False):
    """v = (-dG_loss/dtheta, -dD_loss/dpsi) at the players' point: the direction each player moves."""
    generator_loss, discriminator_loss = game.losses(players, noise)
    (theta_gradient,) = sg.grad(generator_loss, [players.theta], retain_graph=True, create_graph=create_graph)
    (psi_gradient,) = sg.grad(discriminator_loss, [players.psi], create_graph=create_graph)
    return -theta_gradient, -psi_gradient


def jacobian_at(game, theta, psi, noise=None):
    """d v / d(theta, psi) by double backward (triple for R1, whose penalty is itself a gradient)."""
    players = Players(theta, psi, game.lr)
    noise = game.draw_noise(np.random.default_rng(SEED)) if noise is None else noise
    v_theta, v_psi = field(game, players, noise, create_graph=True)
    # retain_graph: both rows run back through the same forward (fake = theta + noise)
    # allow_unused: WGAN's v_theta = -psi does not depend on theta (an entry of 0)
    rows = [sg.grad(component.sum(), [players.theta, players.psi], retain_graph=True, allow_unused=True)
            for component in (v_theta, v_psi)]
    return np.array([[0.0 if entry is None else entry.item() for entry in row] for row in rows])


def generator_step(game, players, rng):
    (players.theta.grad,) = sg.grad(game.losses(players, game.draw_noise(rng))[0], [players.theta])
    players.generator_optimizer.step()


def discriminator_step(game, players, rng):
    (players.psi.grad,) = sg.grad(game.losses(players, game.draw_noise(rng))[1], [players.psi])
    players.discriminator_optimizer.step()
    if game.wgan:
        penalties.clip_weights(players.discriminator, game.clip)


def simultaneous_step(game, players, rng):
    """Both players' gradients at the same point and the same noise, then both steps."""
    noise = game.draw_noise(rng)
    generator_loss, discriminator_loss = game.losses(players, noise)
    (players.theta.grad,) = sg.grad(generator_loss, [players.theta], retain_graph=True)
    (players.psi.grad,) = sg.grad(discriminator_loss, [players.psi])
    players.generator_optimizer.step()
    players.discriminator_optimizer.step()
    if game.wgan:
        penalties.clip_weights(players.discriminator, game.clip)


def train(game, steps, start=START, seed=SEED):
    """The path (steps + 1, 2) of (theta, psi)."""
    rng = np.random.default_rng(seed)
    players = Players(*start, game.lr)
    path = [players.point()]
    for _ in range(steps):
        if game.alternating:
            generator_step(game, players, rng)
            discriminator_step(game, players, rng)
        else:
            simultaneous_step(game, players, rng)
        path.append(players.point())
    return np.array(path)


def half_turn(game):
    """Steps per half turn of the iteration near (0, 0): pi / |arg mu| (about pi / (h |Im lambda|))."""
    return np.pi / np.abs(np.angle(np.linalg.eigvals(game.step_map()))).max()


def measured_slope(game, distance):
    """The slope of log(distance) per step over whole half turns, from the first step below
    FIT_BELOW (the linear regime) or, in a run that never gets there, from its middle (past
    WGAN's transient): a spiral that is not a circle oscillates in distance with the half turn's
    period, and differencing log(distance) a whole number of half turns apart cancels it. A
    window shorter than a half turn (the continuous-limit run) is measured end to end from 0."""
    below = np.flatnonzero(distance < FIT_BELOW)
    first = int(below[0]) if below.size else (distance.size - 1) // 2
    period = half_turn(game)
    turns = int((distance.size - 1 - first) // period)
    if not turns:
        first = 0
        turns = int((distance.size - 1) // period)
    last = first + int(round(turns * period)) if turns else distance.size - 1
    return (np.log(distance[last]) - np.log(distance[first])) / (last - first)


# -- the runs ------------------------------------------------------------------------------------
GAMES = {
    "simultaneous": Game("GAN, simultaneous"),
    "alternating": Game("GAN, alternating", alternating=True),
    "continuous": Game(f"GAN, simultaneous, lr {CONTINUOUS_LR:g}", lr=CONTINUOUS_LR),
    "r1": Game("GAN + R1 (gamma 0.3), simultaneous", gamma=0.3),
    "noise": Game("GAN + instance noise (sigma 1), simultaneous", sigma=1.0),
    "wgan_clip": Game("WGAN, clip 0.3, alternating", alternating=True, clip=0.3),
}


def step_counts(quick):
    """Steps per game; the continuous-limit run covers the time t = lr * steps of `horizon` steps at LR."""
    steps = 400 if quick else 2000
    converging = 500 if quick else 2000  # enough half turns below FIT_BELOW
    horizon = 10 if quick else 200       # steps at LR the continuous-limit run matches in time
    counts = {name: steps for name in GAMES}
    counts.update(r1=converging, noise=converging, continuous=int(round(horizon * LR / CONTINUOUS_LR)))
    return counts, horizon


def run_all(quick):
    counts, horizon = step_counts(quick)
    paths, seconds = {}, {}
    for name, game in GAMES.items():
        began = time.perf_counter()
        paths[name] = train(game, counts[name])
        seconds[name] = time.perf_counter() - began
    return paths, seconds, horizon


def table(paths, seconds):
    header = (f"{'variant':46s} {'lr':>6s} {'steps':>6s} {'start':>7s} {'end':>10s} {'measured':>10s} "
              f"{'h Re(lam)':>10s} {'log|mu|':>10s} {'time':>6s}")
    rows = [header, "-" * len(header)]
    slopes = {}
    for name, game in GAMES.items():
        distance = np.hypot(*paths[name].T)
        slopes[name] = measured_slope(game, distance)
        rows.append(f"{game.name:46s} {game.lr:6g} {distance.size - 1:6d} {distance[0]:7.3f} {distance[-1]:10.3e} "
                    f"{slopes[name]:+10.2e} {game.predicted_slope():+10.2e} {game.discrete_slope():+10.2e} "
                    f"{seconds[name]:5.1f}s")
    return "\n".join(rows), slopes


# -- the claims ----------------------------------------------------------------------------------
def check_simultaneous_growth(path, lr):
    """Simultaneous steps: theta'^2 + psi'^2 = (theta^2 + psi^2)(1 + h^2 f'(psi theta)^2), exactly."""
    theta, psi = path.T
    squared = theta * theta + psi * psi
    f_prime = 1.0 / (1.0 + np.exp(psi * theta))
    np.testing.assert_allclose(squared[1:], squared[:-1] * (1 + (lr * f_prime[:-1]) ** 2), rtol=1e-12, atol=0)
    assert np.all(np.diff(squared) > 0), "simultaneous steps should move away from (0, 0) at every step"


def check_claims(paths, slopes, horizon):
    distance = {name: np.hypot(*path.T) for name, path in paths.items()}
    check_simultaneous_growth(paths["simultaneous"], LR)
    check_simultaneous_growth(paths["continuous"], CONTINUOUS_LR)
    # alternating: the linear analysis bounds the orbit's radius within r0 (1 +- h f'(0) / 4) to
    # first order; f'(psi theta) varies along the orbit, so the band asserted is twice that
    band = distance["alternating"] / distance["alternating"][0] - 1
    assert np.abs(band).max() < LR / 4, f"alternating steps left the band: {band.min():+.4f}, {band.max():+.4f}"
    # the same time t = lr * steps at two step sizes: log growth per unit time is proportional to lr
    small, large = np.log(distance["continuous"][-1]), np.log(distance["simultaneous"][horizon])
    ratio = (small / CONTINUOUS_LR) / (large / LR)
    assert abs(ratio - 1) < RATE_TOLERANCE, f"growth per unit time / lr differs by {ratio - 1:+.1%}"
    assert small < 0.5 * CONTINUOUS_LR * horizon * LR  # <= 1/2 h t, since f' < 1
    for name in ("r1", "noise"):
        game, measured = GAMES[name], slopes[name]
        assert distance[name][-1] < 0.1 * distance[name][0], f"{game.name} should converge"
        assert abs(measured / game.predicted_slope() - 1) < RATE_TOLERANCE, (
            f"{game.name}: slope {measured:.3e}, analysis h Re(lambda) = {game.predicted_slope():.3e}")
        assert abs(measured / game.discrete_slope() - 1) < DISCRETE_TOLERANCE, (
            f"{game.name}: slope {measured:.3e}, linearised iteration log|mu| = {game.discrete_slope():.3e}")
    clip = GAMES["wgan_clip"].clip
    late = distance["wgan_clip"][distance["wgan_clip"].size // 2:]
    assert late.min() > clip / 2, "WGAN with clipping should keep circling (0, 0), not converge"
    return ratio


# -- the figure ----------------------------------------------------------------------------------
FIELD_NOISE_SAMPLES = 4096  # instance-noise draws for the drawn field and the printed Jacobian
PANELS = (  # (title, games drawn, the field beneath)
    ("(a) GAN, simultaneous steps", ("simultaneous", "continuous"), "simultaneous"),
    ("(b) GAN, alternating steps", ("alternating",), "alternating"),
    (r"(c) GAN + R1, $\gamma = 0.3$", ("r1",), "r1"),
    (r"(d) GAN + instance noise, $\sigma = 1$", ("noise",), "noise"),
    (r"(e) WGAN, $\psi$ clipped to $[-0.3, 0.3]$", ("wgan_clip",), "wgan_clip"),
)
LABELS = {"simultaneous": "GAN, simultaneous", "alternating": "GAN, alternating", "r1": r"R1, $\gamma = 0.3$",
          "noise": r"instance noise, $\sigma = 1$", "wgan_clip": "WGAN, clip 0.3"}
COLORS = {"simultaneous": "tab:red", "continuous": "black", "alternating": "tab:blue", "r1": "tab:green",
          "noise": "tab:purple", "wgan_clip": "tab:orange"}


def field_on_grid(game, limit, points):
    """v at points x points grid nodes in [-limit, limit]^2 (instance noise: its mean over a fixed draw)."""
    axis = np.linspace(-limit, limit, points)
    noise = game.draw_noise(np.random.default_rng(SEED + 1), FIELD_NOISE_SAMPLES)  # one draw for the grid
    v = np.zeros((2, points, points))
    for i, psi in enumerate(axis):
        for j, theta in enumerate(axis):
            players = Players(theta, psi, game.lr)
            v_theta, v_psi = field(game, players, noise)
            v[:, i, j] = v_theta.item(), v_psi.item()
    return axis, v


def draw_panel(ax, title, names, field_name, paths, limit, points):
    axis, (v_theta, v_psi) = field_on_grid(GAMES[field_name], limit, points)
    length = np.hypot(v_theta, v_psi)
    length[length == 0] = 1.0
    ax.quiver(*np.meshgrid(axis, axis), v_theta / length, v_psi / length, color="0.65", angles="xy",
              scale=points * 1.15, width=0.004)
    for name in names:
        theta, psi = paths[name].T
        style = dict(lw=1.0, ls="--") if name == "continuous" else dict(lw=1.4)
        ax.plot(theta, psi, color=COLORS[name], label=f"lr {GAMES[name].lr:g}, {theta.size - 1} steps", **style)
        ax.plot(theta[0], psi[0], "o", color=COLORS[name], ms=5)
    if GAMES[field_name].wgan:
        clip = GAMES[field_name].clip
        ax.axhspan(clip, limit, color="tab:orange", alpha=0.08)
        ax.axhspan(-limit, -clip, color="tab:orange", alpha=0.08)
    ax.plot(0, 0, "k*", ms=11, label="equilibrium (0, 0)")
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal", title=title,
           xlabel=r"$\theta$ (generator)", ylabel=r"$\psi$ (discriminator)")
    ax.legend(fontsize=9.5, loc="lower left")


def draw_distances(ax, paths):
    for name in ("simultaneous", "alternating", "r1", "noise", "wgan_clip"):
        game, distance = GAMES[name], np.hypot(*paths[name].T)
        steps = np.arange(distance.size)
        ax.semilogy(steps, distance, color=COLORS[name], lw=1.4, label=LABELS[name])
        if name == "wgan_clip":  # its analysis is about the clipping box, not a rate
            continue
        below = np.flatnonzero(distance < FIT_BELOW)
        slope = game.predicted_slope()
        if below.size:  # converging: the line of that slope through the middle of the spiral's wobble
            window = steps[int(below[0]):]
            offset = np.mean(np.log(distance[window]) - slope * window)
        else:  # the flow's prediction from the start: the distance stays at its first value
            window, offset = steps, np.log(distance[0])
        ax.semilogy(window, np.exp(offset + slope * window), color=COLORS[name], ls="--", lw=1.0)
    ax.set(xlabel=f"step (lr {LR:g})", ylabel="distance to (0, 0)",
           title=r"(f) distance; dashed: slope $h\,\mathrm{Re}\,\lambda$")
    ax.legend(fontsize=9.5, loc="lower left")


def figure(paths, out_dir, quick):
    reach = max(np.abs(paths[name]).max() for _, names, _ in PANELS for name in names)
    limit = max(1.25, 1.1 * reach)
    points = 11 if quick else 13
    with plt.rc_context({"font.size": 12, "axes.titlesize": 13}):  # legible at page width
        fig, axes = plt.subplots(2, 3, figsize=(14, 9.4))
        for ax, (title, names, field_name) in zip(axes.flat, PANELS):
            draw_panel(ax, title, names, field_name, paths, limit, points)
        draw_distances(axes.flat[-1], paths)
        fig.suptitle(r"Dirac-GAN (Mescheder et al. 2018): data at 0, generator at $\theta$, $D(x) = \psi x$; "
                     "grey arrows: direction of the gradient vector field", fontsize=14)
    return _demo.save_figure(fig, out_dir, "dirac_gan.png", dpi=100)


def print_jacobians():
    print("Jacobian of the gradient vector field at (0, 0) by double backward | analysis | eigenvalues")
    for name in ("simultaneous", "r1", "noise", "wgan_clip"):
        game = GAMES[name]
        noise = game.draw_noise(np.random.default_rng(SEED + 1), FIELD_NOISE_SAMPLES)
        computed = jacobian_at(game, 0.0, 0.0, noise=noise) + 0.0  # + 0.0: no -0.0 printed
        eigenvalues = ", ".join(f"{value.real:+.4f}{value.imag:+.4f}i" for value in game.eigenvalues())
        print(f"  {game.name:46s} {np.round(computed, 4).tolist()} | {game.jacobian().tolist()} | {eigenvalues}")
        if game.sigma:  # the draw's own second moments in place of sigma^2
            own = F_SECOND_0 * sum(float(np.mean(draw * draw)) for draw in noise)
            print(f"  {'':46s} (psi-psi for these {noise[0].shape[0]} draws: f''(0) (mean e^2 + mean e'^2) "
                  f"= {own:.4f}; computed - that = {computed[1, 1] - own:.1e})")


def main(argv=None):
    args, out_dir = _demo.arguments(__doc__, argv)
    began = time.perf_counter()
    paths, seconds, horizon = run_all(args.quick)
    text, slopes = table(paths, seconds)
    print(f"start (theta, psi) = {START}; slopes are of log(distance to (0, 0)) per step, measured from the "
          f"first step below {FIT_BELOW} over whole half turns")
    print(text)
    print_jacobians()
    ratio = check_claims(paths, slopes, horizon)
    print(f"continuous limit: over t = {horizon * LR:g}, log-distance growth / lr at lr {CONTINUOUS_LR:g} "
          f"is {ratio:.3f} x that at lr {LR:g} (growth per unit time proportional to lr, 0 for the flow)")
    print(f"figure: {figure(paths, out_dir, args.quick)}  ({time.perf_counter() - began:.1f} s in all)")


if __name__ == "__main__":
    main()

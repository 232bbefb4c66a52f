"""Gradient play on the bilinear game V(x, y) = x y: simultaneous steps spiral out, alternating ones orbit.

The GAN objective is a saddle-point problem (seed 000 'Nash Equilibrium / Saddle Point';
seed 001: 'This is a saddle point optimization problem'), and min_x max_y x y is its
smallest example: the only equilibrium is (0, 0). Both players follow scratchgan's
autodiff gradients with sg.optim.SGD (x minimises, y maximises, maximize=True):

    simultaneous   x' = x - lr y,   y' = y + lr x      radius x (1 + lr^2)^(1/2) every step
    alternating    x' = x - lr y,   y' = y + lr x'     keeps x^2 + y^2 - lr x y fixed

so simultaneous play moves away from the equilibrium at every step, and alternating
play (the usual GAN loop: D step, then G step against the updated D) circles it on an
ellipse whose radius stays between sqrt(Q / (1 + lr/2)) and sqrt(Q / (1 - lr/2)). The
script prints and asserts both.

    python demos/bilinear_game.py [--quick] [--out demos/out]
"""


import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import scratchgan as sg  # noqa: E402

import _demo  # demos/_demo.py: arguments and figure saving shared by the demos

START = (1.0, 0.0)


def players(lr):
    x = sg.Tensor(np.array(START[0]), requires_grad=True)  # float64 scalars
    y = sg.Tensor(np.array(START[1]), requires_grad=True)
    return x, y, sg.optim.SGD([x], lr=lr), sg.optim.SGD([y], lr=lr, maximize=True)


def simultaneous(lr, steps):
    """Both players step on gradients taken at the same point."""
    x, y, x_opt, y_opt = players(lr)
    path = [START]
    for _ in range(steps):
        x_opt.zero_grad()
        y_opt.zero_grad()
        (x * y).backward()
        x_opt.step()
        y_opt.step()
        path.append((x.item(), y.item()))
    return np.array(path)


def alternating(lr, steps):
    """x steps first; y then answers the updated x, as a GAN's G answers the updated D."""
    x, y, x_opt, y_opt = players(lr)
    path = [START]
    for _ in range(steps):
        x_opt.zero_grad()
        (x * y).backward()
        x_opt.step()
        y_opt.zero_grad()
        (x * y).backward()
        y_opt.step()
        path.append((x.item(), y.item()))
    return np.array(path)


def figure(simultaneous_path, alternating_path, out_dir):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    left.plot(*simultaneous_path.T, lw=0.8, color="tab:red", label="simultaneous")
    left.plot(*alternating_path.T, lw=1.2, color="tab:blue", label="alternating")
    left.plot(0, 0, "k*", ms=10, label="equilibrium (0, 0)")
    left.set_aspect("equal")
    left.set_xlabel("x (minimises x y)")
    left.set_ylabel("y (maximises x y)")
    left.set_title("Gradient play on V(x, y) = x y")
    left.legend(fontsize=8)
    steps = np.arange(len(simultaneous_path))
    right.semilogy(steps, np.hypot(*simultaneous_path.T), color="tab:red", label="simultaneous")
    right.semilogy(steps, np.hypot(*alternating_path.T), color="tab:blue", label="alternating")
    right.set_xlabel("step")
    right.set_ylabel("distance to (0, 0)")
    right.legend(fontsize=8)
    return _demo.save_figure(fig, out_dir, "bilinear_game.png", dpi=120)


def main(argv=None):
    args, out_dir = _demo.arguments(__doc__, argv)
    lr, steps = 0.1, (150 if args.quick else 600)

    simultaneous_path = simultaneous(lr, steps)
    alternating_path = alternating(lr, steps)
    simultaneous_radius = np.hypot(*simultaneous_path.T)
    alternating_radius = np.hypot(*alternating_path.T)
    x, y = alternating_path.T
    invariant = x * x + y * y - lr * x * y  # Q, conserved by alternating steps
    low, high = np.sqrt(invariant[0] / (1 + lr / 2)), np.sqrt(invariant[0] / (1 - lr / 2))
    path = figure(simultaneous_path, alternating_path, out_dir)

    print(f"lr = {lr}, {steps} steps from {START}")
    print(f"simultaneous: radius {simultaneous_radius[0]:.3f} -> {simultaneous_radius[-1]:.3f} "
          f"(theory (1 + lr^2)^(steps/2) = {(1 + lr * lr) ** (steps / 2):.3f})")
    print(f"alternating:  radius in [{alternating_radius.min():.4f}, {alternating_radius.max():.4f}], "
          f"band [{low:.4f}, {high:.4f}];  Q = x^2 + y^2 - lr x y drifts by "
          f"{np.ptp(invariant):.2e}")
    print(f"figure: {path}")
    assert np.all(np.diff(simultaneous_radius) > 0), "simultaneous play should move away at every step"
    assert np.isclose(simultaneous_radius[-1], (1 + lr * lr) ** (steps / 2), rtol=1e-9)
    assert np.ptp(invariant) < 1e-9, "alternating play should conserve x^2 + y^2 - lr x y"
    assert low - 1e-9 <= alternating_radius.min() and alternating_radius.max() <= high + 1e-9


if __name__ == "__main__":
    main()

"""Matplotlib figures written as PNG files.

Every figure is a ``matplotlib.figure.Figure`` made without pyplot, so writing a PNG needs no
screen and leaves pyplot's backend alone: a notebook that imports scratchgan keeps its inline
figures.
"""

from __future__ import annotations

import matplotlib
import numpy

from scratchgan import files

from matplotlib.figure import Figure


def _subplots(rows=1, columns=1, figsize=(6, 4), squeeze=True):
    """A pyplot-free ``plt.subplots``: a Figure and its axes."""
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(rows, columns, squeeze=squeeze)


def plot_curves(path, steps, curves: dict, title: str, ylabel: str = "loss", log_y: bool = True,
                references: dict | None = None):
    """One line per named curve against the training step; ``references`` adds dashed
    horizontal lines (label -> value), e.g. a loss's value at equilibrium."""
    figure, axes = _subplots(figsize=(6, 4))
    for name, values in curves.items():
        axes.plot(steps, values, label=name)
    for label, value in (references or {}).items():
        axes.axhline(value, color="gray", linestyle="--", linewidth=1)
        axes.annotate(label, (steps[0], value), textcoords="offset points", xytext=(2, 3), fontsize=8,
                      color="gray")
    if log_y:
        axes.set_yscale("log")
    elif references:
        low, high = axes.get_ylim()  # room above the top reference line for its label
        axes.set_ylim(low, high + 0.08 * (high - low))
    axes.set_xlabel("step")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    files.save_figure(figure, path, dpi=110)


def _inches(figure, left, bottom, width, height):
    """An axes rectangle given in inches from the figure's lower left corner, as the
    fractions ``add_axes`` takes. The toy figures are laid out this way rather than with
    ``tight_layout``, which draws the figure once more to measure it (half of a toy run's
    figure time); their labels are short, so fixed margins hold them."""
    figure_width, figure_height = figure.get_size_inches()
    return [left / figure_width, bottom / figure_height, width / figure_width, height / figure_height]


def _scatter_or_hist(axes, real, fake, bins=60, modes=None):
    if real.shape[1] == 1:
        edges = numpy.histogram_bin_edges(numpy.concatenate([real[:, 0], fake[:, 0]]), bins=bins)
        axes.hist(real[:, 0], bins=edges, density=True, alpha=0.5, color="tab:blue", label="data")
        axes.hist(fake[:, 0], bins=edges, density=True, alpha=0.5, color="tab:orange", label="generated")
        if modes is not None:
            for centre in numpy.asarray(modes)[:, 0]:
                axes.axvline(centre, color="black", linestyle=":", linewidth=0.8)
    else:
        axes.scatter(real[:, 0], real[:, 1], s=3, alpha=0.3, color="tab:blue", label="data")
        axes.scatter(fake[:, 0], fake[:, 1], s=3, alpha=0.5, color="tab:orange", label="generated")
        if modes is not None:
            modes = numpy.asarray(modes)
            axes.scatter(modes[:, 0], modes[:, 1], s=40, marker="+", linewidths=1.2, color="black",
                         label="mode centres")


def _square_extent(points, pad=0.12):
    """The square (low, high) around the middle 99% of ``points`` (N, 2), padded: toy panels
    keep equal axis scales, and the contour fills the whole panel."""
    points = numpy.asarray(points, dtype=numpy.float64)
    points = points[numpy.isfinite(points).all(axis=1)]  # a diverged run's NaN samples draw nothing
    if len(points) == 0:
        return numpy.array([-1.0, -1.0]), numpy.array([1.0, 1.0])
    low, high = numpy.percentile(points, 0.5, axis=0), numpy.percentile(points, 99.5, axis=0)
    middle, half = (low + high) / 2, max(float(numpy.max(high - low)) / 2, 1e-3) * (1 + pad)
    return middle - half, middle + half


def plot_toy_samples(path, real, fake, discriminator_fn=None, title="", output_kind="logit", modes=None):
    """Generated samples over the data, with the data's mode centres when ``modes`` is given;
    for 2-D data the discriminator's decision surface as a contour over the whole panel
    (D(x) = sigmoid(logit) for probability losses, the raw score otherwise) with its colour
    bar; for 1-D data histograms with D's curve."""
    figure = Figure(figsize=(6, 5))
    # a square panel for 2-D data (its colour bar to the right), a wide one for 1-D (D's axis to the right)
    axes = figure.add_axes(_inches(figure, 0.75, 0.55, 4.1, 4.1) if real.shape[1] == 2 else
                           _inches(figure, 0.75, 0.55, 4.45, 4.1))
    both = numpy.concatenate([real, fake])
    if real.shape[1] == 2:
        low, high = _square_extent(both if modes is None else numpy.concatenate([both, modes]))
    else:
        low, high = numpy.percentile(both, 0.5, axis=0), numpy.percentile(both, 99.5, axis=0)
        pad = 0.15 * (high - low) + 1e-3
        low, high = low - pad, high + pad
    label = {"logit": "D(x)", "energy": "energy D(x)"}.get(output_kind, "critic f(x)")
    if discriminator_fn is not None and real.shape[1] == 2:
        xs, ys = numpy.linspace(low[0], high[0], 160), numpy.linspace(low[1], high[1], 160)
        grid_x, grid_y = numpy.meshgrid(xs, ys)
        values = discriminator_fn(numpy.stack([grid_x.ravel(), grid_y.ravel()], axis=1))
        if output_kind == "logit":
            values = 1 / (1 + numpy.exp(-numpy.clip(values, -50, 50)))
        contour = axes.contourf(grid_x, grid_y, values.reshape(grid_x.shape), levels=20, cmap="Greys", alpha=0.6)
        figure.colorbar(contour, cax=figure.add_axes(_inches(figure, 5.0, 0.55, 0.2, 4.1)), label=label)
    _scatter_or_hist(axes, real, fake, modes=modes)
    if real.shape[1] == 2:
        axes.set_xlim(low[0], high[0])
        axes.set_ylim(low[1], high[1])
        axes.set_aspect("equal", adjustable="box")
        axes.set_xlabel("$x_1$")
        axes.set_ylabel("$x_2$")
    else:
        axes.set_xlabel("$x$")
        axes.set_ylabel("density")
    if discriminator_fn is not None and real.shape[1] == 1:
        xs = numpy.linspace(low[0], high[0], 300)[:, None]
        values = discriminator_fn(xs)
        if output_kind == "logit":
            values = 1 / (1 + numpy.exp(-numpy.clip(values, -50, 50)))
        twin = axes.twinx()
        twin.plot(xs[:, 0], values, color="black", label=label)
        twin.set_ylabel(label)
    axes.set_title(title, fontsize=10)
    axes.legend(loc="upper right", markerscale=3, fontsize=8, framealpha=0.9)
    files.save_figure(figure, path, dpi=110)


def plot_snapshots(path, snapshots, real, title="samples over training", modes=None):
    """A strip of panels: generated samples (fixed latents) at several training steps, on one
    shared square extent, with the mode centres when ``modes`` is given."""
    count = len(snapshots)
    figure = Figure(figsize=(0.15 + 2.6 * count, 3.4))
    # square panels of 2.1 inches, 0.5 inches apart (room for the tick labels of the next one)
    panels = [figure.add_axes(_inches(figure, 0.6 + 2.6 * index, 0.55, 2.1, 2.1)) for index in range(count)]
    if real.shape[1] == 2:
        low, high = _square_extent(real if modes is None else numpy.concatenate([real, modes]), pad=0.3)
    for panel, (step, fake) in zip(panels, snapshots):
        _scatter_or_hist(panel, real, fake, bins=40, modes=modes)
        panel.set_title(f"step {step}", fontsize=10)
        if real.shape[1] == 2:
            panel.set_xlim(low[0], high[0])
            panel.set_ylim(low[1], high[1])
            panel.set_aspect("equal", adjustable="box")
            panel.set_xlabel("$x_1$", fontsize=9)
        panel.tick_params(labelsize=7)
    if real.shape[1] == 2:
        panels[0].set_ylabel("$x_2$", fontsize=9)
    figure.suptitle(title, y=0.97)
    files.save_figure(figure, path, dpi=100)


# -- images ------------------------------------------------------------------------------------
def image_tiles(images, rows, columns, pad=1):
    """Images (N, C, H, W) in [-1, 1] tiled row by row into one picture in [0, 1] (grey for
    one channel (R, Cl), colour (R, Cl, 3) for three), ``pad`` pixels of white between tiles;
    missing tiles stay white."""
    images = numpy.asarray(images, dtype=numpy.float64)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"image_tiles: expected images (N, 1 or 3, H, W), got shape {images.shape}")
    count, channels, height, width = images.shape
    pixels = numpy.clip((images + 1.0) / 2.0, 0.0, 1.0).transpose(0, 2, 3, 1)  # (N, H, W, C)
    canvas = numpy.ones((rows * (height + pad) + pad, columns * (width + pad) + pad, channels))
    for index in range(min(count, rows * columns)):
        row, column = divmod(index, columns)
        top, left = pad + row * (height + pad), pad + column * (width + pad)
        canvas[top:top + height, left:left + width] = pixels[index]
    return canvas[..., 0] if channels == 1 else canvas


def plot_image_grid(path, images, rows, columns, title="", row_labels=None, column_labels=None):
    """A grid of generated images (N, C, H, W) in [-1, 1], row by row; optional labels on the
    left of each row (e.g. the class a conditional GAN was asked for) and under each column."""
    images = numpy.asarray(images)
    height, width = images.shape[2:]
    canvas = image_tiles(images, rows, columns)
    figure, axes = _subplots(figsize=(0.55 * columns + 1.2, 0.55 * rows + 0.8))
    axes.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    axes.set_xticks([1 + column * (width + 1) + width / 2 for column in range(columns)] if column_labels else [])
    if column_labels:
        axes.set_xticklabels(column_labels, fontsize=7)
    axes.set_yticks([1 + row * (height + 1) + height / 2 for row in range(rows)] if row_labels else [])
    if row_labels:
        axes.set_yticklabels(row_labels, fontsize=7)
    axes.tick_params(length=0)
    for side in axes.spines.values():
        side.set_visible(False)
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    files.save_figure(figure, path, dpi=110)


def plot_image_snapshots(path, snapshots, title="fixed latents over training"):
    """One row per training step: the same fixed latents' images at that step;
    ``snapshots`` is a list of (step, images (M, C, H, W))."""
    columns = max(len(images) for _, images in snapshots)
    stacked = numpy.concatenate([numpy.asarray(images)[:columns] for _, images in snapshots])
    plot_image_grid(path, stacked, len(snapshots), columns, title,
                    row_labels=[f"step {step}" for step, _ in snapshots])


def plot_metric_curves(path, steps, curves: dict, title: str, log_names=()):
    """One panel per metric against the training step (log scale for the names in ``log_names``)."""
    names = [name for name, values in curves.items() if any(v is not None for v in values)]
    if not names:
        return
    figure, axes = _subplots(1, len(names), figsize=(3.4 * len(names), 3.0), squeeze=False)
    for panel, name in zip(axes[0], names):
        pairs = [(s, v) for s, v in zip(steps, curves[name]) if v is not None]
        panel.plot([s for s, _ in pairs], [v for _, v in pairs], marker=".")
        if name in log_names:
            panel.set_yscale("log")
        panel.set_xlabel("step")
        panel.set_title(name, fontsize=9)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    files.save_figure(figure, path, dpi=110)


def plot_codes(path, codes, labels, density_fn, title: str):
    """2-D codes (N, 2) as points coloured by their class, over the filled contours of a
    density p(z) (``density_fn``: points (M, 2) -> (M,)); a legend names the classes."""
    figure, axes = _subplots(figsize=(6, 5.5))
    reach = max(float(numpy.percentile(numpy.abs(codes), 99.5)), 3.0) * 1.15
    xs = numpy.linspace(-reach, reach, 160)
    grid_x, grid_y = numpy.meshgrid(xs, xs)
    density = density_fn(numpy.stack([grid_x.ravel(), grid_y.ravel()], axis=1)).reshape(grid_x.shape)
    axes.contourf(grid_x, grid_y, density, levels=12, cmap="Greys", alpha=0.6)
    colours = matplotlib.colormaps["tab10"]
    for label in numpy.unique(labels):
        chosen = labels == label
        axes.scatter(codes[chosen, 0], codes[chosen, 1], s=5, alpha=0.7, color=colours(int(label) % 10),
                     label=str(label))
    axes.set_xlim(-reach, reach)
    axes.set_ylim(-reach, reach)
    axes.set_aspect("equal")
    axes.set_xlabel("z1")
    axes.set_ylabel("z2")
    axes.set_title(title, fontsize=9)
    axes.legend(title="class", fontsize=7, markerscale=2.5, loc="upper right", ncol=2)
    figure.tight_layout()
    files.save_figure(figure, path, dpi=110)

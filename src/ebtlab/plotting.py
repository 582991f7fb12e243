"""PNG line plots for reports, drawn with matplotlib's non-interactive Agg backend."""

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt  # noqa: E402  (the backend must be chosen first)


@dataclass
class Panel:
    """One set of axes: a line per named series of (x, y) points."""

    title: str
    x_label: str
    y_label: str
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    x_log: bool = False


def save_line_plots(path: Path, panels: list[Panel]) -> None:
    """Draw the panels side by side and write them to `path` as a PNG."""
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for panel, ax in zip(panels, axes[0]):
        for name, (xs, ys) in panel.series.items():
            ax.plot(xs, ys, marker="o", label=name)
        if panel.x_log:
            ax.set_xscale("log")
        ax.set_title(panel.title)
        ax.set_xlabel(panel.x_label)
        ax.set_ylabel(panel.y_label)
        ax.grid(True, alpha=0.3)
        ax.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def save_scatter_plot(path: Path, title: str, x_label: str, y_label: str, series: dict[str, tuple[list[float], list[float]]]) -> None:
    """Draw one scatter plot with a point cloud per named series and write it to `path` as a PNG."""
    figure, ax = plt.subplots(figsize=(6.5, 5))
    for name, (xs, ys) in series.items():
        ax.scatter(xs, ys, s=4, alpha=0.35, label=name)
    ax.set_title(title)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(True, alpha=0.3)
    ax.legend(markerscale=4)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)

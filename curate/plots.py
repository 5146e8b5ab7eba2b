"""Plot helpers shared by stages; headless (Agg) so they work on servers and in CI."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def new_figure(width: float = 6.0, height: float = 4.0, ncols: int = 1):
    """(figure, axes): one Axes if ncols is 1, else a 1-D array of `ncols` Axes side by side."""
    return plt.subplots(1, ncols, figsize=(width, height))

"""Reading back what a figure drew: the cells of a spectrogram mesh."""

from __future__ import annotations

import numpy as np
from matplotlib.collections import QuadMesh


def mesh_of(ax) -> QuadMesh:
    return next(c for c in ax.collections if isinstance(c, QuadMesh))


def mesh_centres(ax) -> tuple[np.ndarray, np.ndarray]:
    """(x centres, y centres) of a pcolormesh drawn with shading='nearest' (edges halfway between)."""
    edges = mesh_of(ax).get_coordinates()
    x, y = edges[0, :, 0], edges[:, 0, 1]
    return (x[:-1] + x[1:]) / 2, (y[:-1] + y[1:]) / 2

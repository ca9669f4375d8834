r"""The 2-simplex of three classes, drawn flat: points, fields and decision regions (Tomasi §1).

A point :math:`\mathbf p = (p_1, p_2, p_3)` of the simplex is drawn at
:math:`p_1\mathbf c_1 + p_2\mathbf c_2 + p_3\mathbf c_3`, where the corners :math:`\mathbf c_k`
of an equilateral triangle of side 1 (:data:`SIMPLEX_CORNERS`) are the images of the vertices
:math:`\mathbf e_1` (top), :math:`\mathbf e_2` (bottom left) and :math:`\mathbf e_3` (bottom
right): :math:`\mathbf p` is the barycentric coordinates of its image.  The map is affine, so
segments stay segments and the decision regions :math:`P_k = \{\mathbf p: p_k \ge p_i\ \forall i\}`
are the three quadrilaterals cut off by the segments from the centre :math:`\mathbf 1/3` to the
midpoints of the edges.

Sizes: text is drawn at the current ``font.size`` and never below 10 pt; it stays readable on
the page if the figure is at most 6.9 in wide at 100 dpi (the book's column), e.g.
``plt.subplots(1, 3, figsize=(6.9, 2.6))``.
"""

from __future__ import annotations

import numbers

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes

from ._checks import as_float_array, as_labels

#: Where the vertices e_1, e_2, e_3 are drawn: rows are the 2-D corners c_1 (top), c_2, c_3.
SIMPLEX_CORNERS = np.array([[0.5, np.sqrt(3) / 2], [0.0, 0.0], [1.0, 0.0]])
SIMPLEX_CORNERS.setflags(write=False)

#: Colours of classes 1, 2, 3 (Okabe & Ito's colour-blind-safe blue, vermilion, bluish green).
CLASS_COLORS = ("#0072B2", "#D55E00", "#009E73")


def _simplex_points(p, name: str = "p") -> np.ndarray:
    p = as_float_array(p, name, ndim=(1, 2))
    if p.shape[-1] != 3:
        raise ValueError(f"{name} must have 3 entries per point (the 2-simplex), got {p.shape}")
    if np.any(p < -1e-12) or not np.allclose(p.sum(axis=-1), 1.0, atol=1e-9):
        raise ValueError(f"{name} must be points of the simplex (entries >= 0 summing to 1)")
    return p


def _fontsize(fontsize) -> float:
    if fontsize is None:
        return max(10.0, float(mpl.rcParams["font.size"]))
    if isinstance(fontsize, bool) or not isinstance(fontsize, numbers.Real) or fontsize < 10:
        raise ValueError(f"fontsize must be a number of points >= 10, got {fontsize!r}")
    return float(fontsize)


def _axes(ax):
    if not isinstance(ax, Axes) or ax.name != "rectilinear":
        raise ValueError(f"ax must be a 2-D matplotlib Axes, got {type(ax).__name__}")
    return ax


def simplex_xy(p) -> np.ndarray:
    r"""The plane image :math:`\sum_k p_k\mathbf c_k` of points of the 2-simplex: ``(3,)`` → ``(2,)``, ``(N, 3)`` → ``(N, 2)``."""
    return _simplex_points(p) @ SIMPLEX_CORNERS


def simplex_grid(n: int, *, margin: float = 0.0) -> np.ndarray:
    r"""A triangular grid of the 2-simplex: the :math:`n(n+1)/2` points :math:`(i, j, k)/(n-1)`, :math:`i+j+k = n-1`.

    With ``margin`` :math:`\delta\in[0, 1/3)` every point is moved towards the centre,
    :math:`\mathbf p \mapsto (1-3\delta)\mathbf p + \delta\mathbf 1`, so that every entry is at
    least :math:`\delta` (for fields such as :math:`\log p_k` that are infinite on the edges).
    Shape ``(n(n+1)/2, 3)``, for ``ax.tricontourf(*simplex_xy(p).T, values)``.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (points per edge), got {n!r}")
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
        raise ValueError(f"margin must be a number in [0, 1/3), got {margin!r}")
    if not 0.0 <= margin < 1 / 3:
        raise ValueError(f"margin must lie in [0, 1/3), got {margin}")
    m = int(n) - 1
    ij = np.array([(i, j) for i in range(m + 1) for j in range(m + 1 - i)])
    p = np.column_stack([ij[:, 0], ij[:, 1], m - ij.sum(axis=1)]) / m
    return (1 - 3 * margin) * p + margin


def draw_simplex(ax, *, labels=None, boundaries: bool = True, fill: bool = True, fontsize=None):
    r"""Draw the 2-simplex on ``ax``: the triangle, its vertex labels and the decision boundaries.

    ``labels`` are the three vertex labels (default :math:`\mathbf e_1, \mathbf e_2, \mathbf e_3`);
    ``boundaries`` draws, dashed, the segments from :math:`\mathbf 1/3` to the midpoints of the
    edges, where the arg max changes; ``fill`` shades the triangle lightly.  The axes get an equal
    aspect and no frame.  Returns ``ax``.
    """
    ax = _axes(ax)
    if labels is None:
        labels = [rf"$\mathbf{{e}}_{k}$" for k in (1, 2, 3)]
    if isinstance(labels, str) or len(labels) != 3 or not all(isinstance(s, str) for s in labels):
        raise ValueError(f"labels must be three strings, got {labels!r}")
    size = _fontsize(fontsize)
    c = SIMPLEX_CORNERS
    if fill:
        ax.fill(*c.T, color="#f3d9a4", alpha=0.35, lw=0, zorder=0)
    ax.plot(*np.vstack([c, c[:1]]).T, color="0.2", lw=1.2, zorder=1)
    if boundaries:
        centre = c.mean(axis=0)
        for a in range(3):
            mid = (c[a] + c[(a + 1) % 3]) / 2
            ax.plot(*np.vstack([centre, mid]).T, color="0.3", lw=1.2, ls="--", zorder=1)
    for corner, text, dy, va in zip(c, labels, (6, -6, -6), ("bottom", "top", "top"), strict=True):
        ax.annotate(
            text,
            corner,
            xytext=(0, dy),
            textcoords="offset points",
            ha="center",
            va=va,
            fontsize=size,
        )
    ax.set_xlim(-0.1, 1.1)  # room for the vertex labels inside the axes, clear of a title
    ax.set_ylim(-0.16, np.sqrt(3) / 2 + 0.16)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def scatter_simplex(ax, p, y=None, *, colors=CLASS_COLORS, s: float = 12, alpha: float = 0.6):
    r"""Scatter points ``p`` ``(N, 3)`` of the simplex on ``ax``, coloured by their class.

    ``y`` holds integer labels ``0, 1, 2`` (classes 1, 2, 3 of the book, so the legend reads
    "class 1" for label 0); without ``y`` every point gets the first colour.  Returns the list
    of scatter artists (one per class present), labelled for ``ax.legend()``.
    """
    ax = _axes(ax)
    xy = simplex_xy(np.atleast_2d(p))
    if isinstance(colors, str) or len(colors) < 3:
        raise ValueError(f"colors must be a sequence of at least 3 colours, got {colors!r}")
    for name, value in (("s", s), ("alpha", alpha)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if alpha > 1:
        raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
    y = np.zeros(len(xy), dtype=int) if y is None else as_labels(y, "y", len(xy), 3)
    artists = []
    for k in range(3):
        pts = xy[y == k]
        if len(pts):
            kw = {"s": s, "color": colors[k], "alpha": alpha, "lw": 0, "zorder": 2}
            artists.append(ax.scatter(*pts.T, label=f"class {k + 1}", **kw))
    return artists

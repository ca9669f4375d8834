"""Tests of relunet.plotting: the barycentric map (vertices, centre, affinity, decision
boundaries), the grid of the simplex, figures that build without warnings under Agg with text of
at least 10 pt, and the ValueErrors."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from relunet import softmax  # noqa: E402
from relunet.plotting import (  # noqa: E402
    CLASS_COLORS,
    SIMPLEX_CORNERS,
    draw_simplex,
    scatter_simplex,
    simplex_grid,
    simplex_xy,
)


@pytest.fixture
def ax():
    fig, ax = plt.subplots(figsize=(3.4, 3.0))
    yield ax
    plt.close(fig)


# --------------------------------------------------------------------------- the map


def test_vertices_go_to_the_corners_of_an_equilateral_triangle():
    np.testing.assert_array_equal(simplex_xy(np.eye(3)), SIMPLEX_CORNERS)
    sides = [np.linalg.norm(SIMPLEX_CORNERS[i] - SIMPLEX_CORNERS[(i + 1) % 3]) for i in range(3)]
    np.testing.assert_allclose(sides, 1.0, rtol=1e-15)
    assert SIMPLEX_CORNERS[0, 1] > 0 == SIMPLEX_CORNERS[1, 1] == SIMPLEX_CORNERS[2, 1]  # e_1 on top


def test_map_is_affine_and_inverts(rng):
    p, r = softmax(rng.standard_normal((50, 3))), softmax(rng.standard_normal((50, 3)))
    lam = rng.uniform(size=(50, 1))
    np.testing.assert_allclose(
        simplex_xy(lam * p + (1 - lam) * r), lam * simplex_xy(p) + (1 - lam) * simplex_xy(r)
    )
    # barycentric coordinates are recovered from the image: [c_k; 1] is invertible
    M = np.vstack([SIMPLEX_CORNERS.T, np.ones(3)])
    back = np.linalg.solve(M, np.vstack([simplex_xy(p).T, np.ones(50)])).T
    np.testing.assert_allclose(back, p, atol=1e-14)
    assert simplex_xy(p[0]).shape == (2,)


def test_centre_and_decision_boundaries(rng):
    """1/3 maps to the centroid; points with p_1 = p_2 >= p_3 lie on the segment to the midpoint."""
    np.testing.assert_allclose(simplex_xy(np.full(3, 1 / 3)), SIMPLEX_CORNERS.mean(axis=0))
    t = rng.uniform(1 / 3, 1 / 2, size=20)
    on_boundary = np.column_stack([t, t, 1 - 2 * t])
    xy = simplex_xy(on_boundary)
    centre, mid = SIMPLEX_CORNERS.mean(axis=0), SIMPLEX_CORNERS[:2].mean(axis=0)
    d, v = xy - centre, mid - centre
    np.testing.assert_allclose(d[:, 0] * v[1] - d[:, 1] * v[0], 0.0, atol=1e-15)  # collinear


# --------------------------------------------------------------------------- the grid


@pytest.mark.parametrize("n", [2, 3, 11])
def test_simplex_grid_covers_the_simplex(n):
    p = simplex_grid(n)
    assert p.shape == (n * (n + 1) // 2, 3)
    assert np.all(p >= 0) and np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    steps = np.round(p * (n - 1))
    np.testing.assert_allclose(p * (n - 1), steps, atol=1e-12)  # on the lattice
    assert len({tuple(s) for s in steps.astype(int)}) == len(p)  # no point twice
    assert all(any(np.array_equal(row, e) for row in p) for e in np.eye(3))  # the vertices


def test_simplex_grid_margin():
    p = simplex_grid(21, margin=0.01)
    assert p.min() == pytest.approx(0.01, abs=1e-15) and np.allclose(p.sum(axis=1), 1.0)


# --------------------------------------------------------------------------- figures


def test_figure_builds_without_warnings_and_text_is_readable(ax, rng):
    p = softmax(2.0 * rng.standard_normal((60, 3)))
    y = rng.integers(0, 3, 60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draw_simplex(ax, labels=["true class 1", "class 2", "class 3"])
        artists = scatter_simplex(ax, p, y)
        ax.legend()
        ax.figure.canvas.draw()
    assert [a.get_label() for a in artists] == ["class 1", "class 2", "class 3"]
    sizes = [t.get_fontsize() for t in ax.texts]
    assert len(sizes) == 3 and min(sizes) >= 10
    assert [t.get_text() for t in ax.texts] == ["true class 1", "class 2", "class 3"]
    for k, a in enumerate(artists):
        np.testing.assert_allclose(a.get_offsets(), simplex_xy(p[y == k]))
        assert matplotlib.colors.same_color(a.get_facecolor()[0][:3], CLASS_COLORS[k])


def test_draw_simplex_options(ax):
    draw_simplex(ax, boundaries=False, fill=False, fontsize=14)
    assert len(ax.lines) == 1 and not ax.patches  # only the outline
    assert [t.get_fontsize() for t in ax.texts] == [14, 14, 14]
    assert ax.texts[0].get_text() == r"$\mathbf{e}_1$"
    ax.clear()
    draw_simplex(ax)
    assert len(ax.lines) == 4 and len(ax.patches) == 1  # outline, three boundaries, the fill


def test_small_rc_font_is_raised_to_10_pt(ax):
    with matplotlib.rc_context({"font.size": 7}):
        draw_simplex(ax)
    assert min(t.get_fontsize() for t in ax.texts) == 10


def test_scatter_without_labels_uses_one_colour(ax):
    artists = scatter_simplex(ax, np.array([0.2, 0.3, 0.5]))
    assert len(artists) == 1 and artists[0].get_label() == "class 1"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda ax: simplex_xy(np.array([0.5, 0.5])), "3 entries per point"),
        (lambda ax: simplex_xy(np.array([0.5, 0.6, 0.1])), "points of the simplex"),
        (lambda ax: simplex_xy(np.array([1.5, -0.5, 0.0])), "points of the simplex"),
        (lambda ax: simplex_xy(np.array([np.nan, 0.5, 0.5])), "p contains NaN"),
        (lambda ax: simplex_grid(1), "n must be an integer >= 2"),
        (lambda ax: simplex_grid(5.0), "n must be an integer >= 2"),
        (lambda ax: simplex_grid(5, margin=0.4), "margin must lie in"),
        (lambda ax: simplex_grid(5, margin=-0.1), "margin must lie in"),
        (lambda ax: simplex_grid(5, margin=np.nan), "margin must lie in"),
        (lambda ax: draw_simplex("ax"), "ax must be a 2-D matplotlib Axes"),
        (lambda ax: draw_simplex(ax, labels=["a", "b"]), "labels must be three strings"),
        (lambda ax: draw_simplex(ax, fontsize=8), "fontsize must be a number of points >= 10"),
        (lambda ax: scatter_simplex(ax, np.eye(3), [0, 1, 3]), "y must lie in"),
        (lambda ax: scatter_simplex(ax, np.eye(3), np.array([0, 1])), "y must have shape"),
        (lambda ax: scatter_simplex(ax, np.eye(3), colors=["r"]), "colors must be a sequence"),
        (lambda ax: scatter_simplex(ax, np.eye(3), s=0), "s must be a positive number"),
        (lambda ax: scatter_simplex(ax, np.eye(3), alpha=2.0), "alpha must lie in"),
    ],
)
def test_bad_input_is_rejected(ax, call, match):
    with pytest.raises(ValueError, match=match):
        call(ax)

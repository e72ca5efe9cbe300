"""Exact binary labelling of a small graph by minimum s-t cut (SciPy's max flow), for superpixel MRFs.

Energy: ``sum_i cost_fg[i] * [x_i = fg] + cost_bg[i] * [x_i = bg] + sum_(i,j) w_ij * [x_i != x_j]`` with
non-negative costs. The graph has a node per superpixel (a thousand or so), so a cut takes milliseconds;
SciPy's solver wants integer capacities, so costs are scaled to a fixed integer range first.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

_RANGE = 1_000_000  # integer resolution of the capacities (int32 holds sums of a few thousand of these)


def min_cut(
    cost_fg: np.ndarray,
    cost_bg: np.ndarray,
    edges: np.ndarray,
    weights: np.ndarray,
    *,
    hard_fg: np.ndarray | None = None,
    hard_bg: np.ndarray | None = None,
) -> np.ndarray:
    """The minimum-energy labelling, True for foreground.

    ``cost_fg`` / ``cost_bg`` (N,) are the costs of labelling each node foreground / background;
    ``edges`` (E, 2) node pairs with ``weights`` (E,) the cost of cutting them. ``hard_fg`` / ``hard_bg``
    (N,) bool pin nodes (background wins a conflict).
    """
    n = len(cost_fg)
    if n == 0:
        return np.zeros(0, dtype=bool)
    # Only the difference of the two unary costs matters: move it all to one side.
    diff = np.asarray(cost_bg, dtype=np.float64) - np.asarray(cost_fg, dtype=np.float64)  # > 0 favours fg
    w = np.maximum(np.asarray(weights, dtype=np.float64), 0.0)
    scale_ref = max(float(np.abs(diff).max(initial=0.0)), float(w.max(initial=0.0)), 1e-12)
    unit = (_RANGE / 100.0) / scale_ref  # ordinary capacities stay below _RANGE / 100
    src_cap = np.maximum(diff, 0.0) * unit
    snk_cap = np.maximum(-diff, 0.0) * unit
    inf = float(_RANGE)
    if hard_fg is not None:
        src_cap = np.where(hard_fg, inf, src_cap)
        snk_cap = np.where(hard_fg, 0.0, snk_cap)
    if hard_bg is not None:
        snk_cap = np.where(hard_bg, inf, snk_cap)
        src_cap = np.where(hard_bg, 0.0, src_cap)
    s, t = n, n + 1
    nodes = np.arange(n)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    we = np.round(w * unit).astype(np.int64)
    rows = np.concatenate([np.full(n, s), nodes, e[:, 0], e[:, 1]])
    cols = np.concatenate([nodes, np.full(n, t), e[:, 1], e[:, 0]])
    caps = np.concatenate([np.round(src_cap), np.round(snk_cap), we, we]).astype(np.int64)
    keep = caps > 0
    graph = coo_matrix((caps[keep], (rows[keep], cols[keep])), shape=(n + 2, n + 2)).tocsr()
    graph.sum_duplicates()
    graph.data = np.minimum(graph.data, np.iinfo(np.int32).max).astype(np.int32)
    flow = maximum_flow(graph, s, t).flow
    residual = csr_matrix(graph - flow)
    residual.data = np.where(residual.data > 0, 1, 0).astype(np.int32)
    residual.eliminate_zeros()
    reached = breadth_first_order(residual, s, directed=True, return_predecessors=False)
    fg = np.zeros(n + 2, dtype=bool)
    fg[reached] = True
    return fg[:n]

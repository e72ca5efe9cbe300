"""The soft star-convexity term of the ``auto`` method is the directed penalty it claims to be."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.assist import AssistSession
from seglab.assist.combined import AutoParams, _star
from seglab.assist.superpixels import session_graph
from tests.assist.scenes import make_scene

_GRAPH = session_graph(AssistSession(make_scene(3).image))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), clicks=st.integers(1, 3))
def test_star_term_equals_the_directed_penalty(seed: int, clicks: int) -> None:
    rng = np.random.default_rng(seed)
    graph = _GRAPH
    params = AutoParams(star=2.0)
    pts = rng.uniform(0, 1, (clicks, 2)) * graph.centroid.max(0)
    pair, fg_cost = _star(graph, pts, params)
    labels = rng.random(graph.count) < rng.random()
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    undirected = float((pair * (labels[i] != labels[j])).sum() + fg_cost[labels].sum())
    # Rebuild the directed penalty: far end foreground, near end (towards the click) background.
    d = np.linalg.norm(graph.centroid[:, None, :] - pts[None, :, :], axis=2)
    nearest = pts[np.argmin(d[i] + d[j], axis=1)]
    di = np.linalg.norm(graph.centroid[i] - nearest, axis=1)
    dj = np.linalg.norm(graph.centroid[j] - nearest, axis=1)
    far, near = np.where(di >= dj, i, j), np.where(di >= dj, j, i)
    directed = float((2 * pair * (labels[far] & ~labels[near])).sum())
    assert np.isclose(undirected, directed)
    assert (pair >= 0).all()

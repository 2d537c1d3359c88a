"""Weight sharing: per-channel k-means on the int8 weights, centroids on the int8 grid.

Each output channel's weights are replaced by the nearest of at most 2^b int8 values. The clustering runs on the
channel's histogram over the 255 int8 levels (exactly the same as on the raw values, and fast); centroids start at
evenly spaced quantiles and are rounded to integers after every update, so the result needs no random draws and
is the same on every run. A channel with at most 2^b distinct values is kept exactly.
"""

from __future__ import annotations

import numpy as np

LEVELS = np.arange(-128, 128, dtype=np.int64)
MAX_ITERATIONS = 100


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _nearest(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (sorted ascending) for each value; an exact tie goes to the smaller one."""
    distance = np.abs(values[:, None] - centroids[None, :])
    return np.argmin(distance, axis=1)


def cluster_channel(values: np.ndarray, bits: int) -> np.ndarray:
    """Sorted int8 centroids (at most 2^bits) for one channel's int8 values: weighted Lloyd iterations."""
    k = 1 << bits
    counts = np.bincount(values.astype(np.int64).ravel() + 128, minlength=256)
    present = LEVELS[counts > 0]
    if present.size <= k:
        return present.astype(np.int64)
    weights = counts[counts > 0].astype(np.float64)
    cumulative = np.cumsum(weights) / weights.sum()
    targets = (np.arange(k) + 0.5) / k
    centroids = np.unique(present[np.searchsorted(cumulative, targets)])
    for _ in range(MAX_ITERATIONS):
        assign = _nearest(present, centroids)
        sums = np.bincount(assign, weights=weights * present, minlength=centroids.size)
        totals = np.bincount(assign, weights=weights, minlength=centroids.size)
        used = totals > 0
        updated = np.unique(_round_half_away(sums[used] / totals[used]).astype(np.int64))
        if updated.size == centroids.size and np.array_equal(updated, centroids):
            break
        centroids = updated
    return np.clip(centroids, -128, 127)


def cluster_weights(values: np.ndarray, axis: int | None, bits: int) -> np.ndarray:
    """The int8 tensor with each slice along `axis` (an output channel) taking at most 2^bits values; with
    axis None the whole tensor shares one set of 2^bits values."""
    if axis is None:
        flat = values.astype(np.int64).ravel()
        centroids = cluster_channel(flat, bits)
        return centroids[_nearest(flat, centroids)].reshape(values.shape).astype(np.int8)
    moved = np.moveaxis(values, axis, 0)
    clustered = np.empty_like(moved)
    for channel in range(moved.shape[0]):
        flat = moved[channel].astype(np.int64).ravel()
        centroids = cluster_channel(flat, bits)
        clustered[channel] = centroids[_nearest(flat, centroids)].reshape(moved.shape[1:])
    return np.moveaxis(clustered, 0, axis).astype(np.int8)

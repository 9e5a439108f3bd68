"""
What two papers predict about a RoPE model's context from its base (rope_theta), head size and training length.

Men et al. 2024, "Base of RoPE Bounds Context Length" (arXiv:2405.14591): a query attends more to a token similar
to itself than to a random one, at relative distance m, while B(m) = sum_i cos(m * theta_i) >= 0, theta_i =
base^(-2i/d) for i = 0 ... d/2 - 1 (d the head size). The lower bound of the base for a context length L is the
smallest base for which B(m) >= 0 at every m = 0 ... L. The set of bases that pass is not an interval (narrow
islands of passing bases lie below the first wide one), so the bound is found on a geometric grid of bases and
refined by bisection next to the first grid point that passes; `passes` is the check for one base.

Liu et al. 2023, "Scaling Laws of RoPE-based Extrapolation" (arXiv:2310.05209): the critical dimension
d_extra = 2 * ceil((d / 2) * log_base(L_train / (2 pi))) counts the dimensions whose period 2 pi * base^(2i/d) fits
in the training length; the first one whose period does not is only seen in part during training, and its period,
T_extra = 2 pi * base^(d_extra / d), is where the paper predicts the loss to turn up.

The invariant the tests check: the bound and the pass/fail agree with a brute-force evaluation of B(m) over m
(and a denser scan of bases), and the critical dimension and limit agree with the paper's worked example.
"""

import math

import numpy as np

GRID_POINTS_PER_DECADE = 200  # the bases tried: ~1.2% apart


def similarity_margin(base, head_size, context_length, stride=1):
    """min over m = 0, stride, 2 * stride ... <= context_length of B(m) = sum_i cos(m * base^(-2i/d)), for each
    base (an array)."""
    bases = np.atleast_1d(np.asarray(base, dtype=np.float64))
    inv_freq = bases[:, None] ** (-2.0 * np.arange(head_size // 2) / head_size)  # (bases, pairs)
    distances = np.arange(0, context_length + 1, stride, dtype=np.float64)
    margins = np.full(bases.shape, np.inf)
    for start in range(0, len(distances), 256):  # in chunks: memory bounded at long contexts
        m = distances[start : start + 256]
        similarity = np.cos(m[None, :, None] * inv_freq[:, None, :]).sum(axis=2)  # (bases, distances)
        margins = np.minimum(margins, similarity.min(axis=1))
    return margins


def first_passing(bases, head_size, context_length):
    """The index of the first of the bases that passes, or None. Most fail already at some of every 16th
    distance, which is checked first; only the bases that survive it are checked at every distance."""
    survivors = np.flatnonzero(similarity_margin(bases, head_size, context_length, stride=16) >= 0)
    for index in survivors:
        if passes(bases[index], head_size, context_length):
            return int(index)
    return None


def passes(base, head_size, context_length):
    """Men et al.'s condition for one base: B(m) >= 0 for every distance m up to context_length."""
    return bool(similarity_margin(base, head_size, context_length)[0] >= 0)


def base_lower_bound(head_size, context_length, lowest=2.0, highest=1e15):
    """The smallest base that passes for this context length (Men et al.), to about 0.1%; None if none up to
    `highest`."""
    decades = math.log10(highest / lowest)
    grid = lowest * 10 ** (np.arange(int(decades * GRID_POINTS_PER_DECADE) + 1) / GRID_POINTS_PER_DECADE)
    first = None
    for start in range(0, len(grid), 64):  # from the smallest base up, in batches: stop at the first that passes
        found = first_passing(grid[start : start + 64], head_size, context_length)
        if found is not None:
            first = start + found
            break
    if first is None:
        return None
    if first == 0:
        return float(grid[0])
    failing, passing_base = grid[first - 1], grid[first]
    while passing_base / failing > 1.001:  # bisect between the last failing and the first passing grid point
        middle = math.sqrt(failing * passing_base)
        if passes(middle, head_size, context_length):
            passing_base = middle
        else:
            failing = middle
    return float(passing_base)


def critical_dimension(base, head_size, training_length):
    """Liu et al.'s d_extra: twice the number of rotary pairs whose period fits within the training length."""
    pairs = math.ceil(head_size / 2 * math.log(training_length / (2 * math.pi), base))
    return 2 * min(max(pairs, 0), head_size // 2)


def extrapolation_limit(base, head_size, training_length):
    """Liu et al.'s T_extra = 2 pi * base^(d_extra / d): the period of the first pair not seen in full during
    training; None when every pair's period fits in the training length (no such pair, no predicted limit)."""
    d_extra = critical_dimension(base, head_size, training_length)
    if d_extra >= head_size:
        return None
    return 2 * math.pi * base ** (d_extra / head_size)

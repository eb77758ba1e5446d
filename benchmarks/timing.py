"""What the benchmarks share: the best of a few timed calls (the least disturbed by other work)."""

import time

import numpy as np


def best_of(fn, repeat=3):
    """``(seconds, result)``: the fastest of ``repeat`` calls of ``fn`` and the last call's result."""
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out

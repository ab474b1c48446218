"""Thread count for the PyTorch peer: PEFTKIT_PEER_THREADS when set, else whichever of 1 or all cores runs a small
calibration (decode-sized and prefill-sized products) faster right now. On a loaded machine torch's OpenMP threads
spin-wait for each other and 2 threads can run several times slower than 1; a fixed count would make the peer
unfair in one direction or the other.
"""
import os
import time

import torch


def _calibration_seconds(threads):
    torch.set_num_threads(threads)
    small = (torch.randn(8, 288), torch.randn(288, 768))
    large = (torch.randn(512, 512), torch.randn(512, 512))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(40):
            small[0] @ small[1]
        for _ in range(4):
            large[0] @ large[1]
        best = min(best, time.perf_counter() - start)
    return best


def configure_threads():
    """Sets torch's intra-op threads and returns (threads, how they were chosen)."""
    forced = os.environ.get("PEFTKIT_PEER_THREADS")
    if forced:
        torch.set_num_threads(int(forced))
        return int(forced), "PEFTKIT_PEER_THREADS"
    cores = os.cpu_count() or 1
    options = sorted({1, cores})
    timings = {n: _calibration_seconds(n) for n in options}
    chosen = min(options, key=lambda n: timings[n])
    torch.set_num_threads(chosen)
    return chosen, "calibrated " + ", ".join(f"{n}: {t * 1000:.1f} ms" for n, t in timings.items())

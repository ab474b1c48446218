"""Which BLAS the installed torch really calls, and how fast: prints one JSON line.

Debian's python3-torch links the generic libblas.so.3 (the alternatives system picks reference BLAS or OpenBLAS),
so torch.__config__ alone does not tell: after a product, the shared objects mapped into this process do.
"""
import json
import os
import time

import torch

from threads import configure_threads

THREADS, THREADS_CHOICE = configure_threads()


def loaded_blas():
    libs = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path).lower()
            if any(k in name for k in ("blas", "mkl", "blis", "atlas")):
                libs.add(os.path.realpath(path))
    return sorted(libs)


def classify(libs, config):
    text = " ".join(libs).lower() + " " + config.lower()
    if "openblas" in text:
        return "openblas"
    if "mkl" in text:
        return "mkl"
    if "blis" in text:
        return "blis"
    if "atlas" in text:
        return "atlas"
    if any("blas" in lib for lib in libs):
        return "reference"
    return "unknown"


def gflops(n=1024, reps=5):
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


rate = gflops()
libs = loaded_blas()
config = torch.__config__.show()
print(json.dumps({
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "threadsChoice": THREADS_CHOICE,
    "blas": classify(libs, config),
    "libraries": libs,
    "matmulGflops": rate,
}))

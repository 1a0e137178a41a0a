"""The platform fingerprint: what, besides software versions, decides a product's low bits.

The same libraries give other floating-point bits on another CPU because they pick
their code at run time: numpy's SIMD loops (``NPY_DISABLE_CPU_FEATURES`` can turn
some off), OpenBLAS's kernels (``OPENBLAS_CORETYPE`` can force one; Haswell and
SkylakeX kernels round differently, which moves PSF fits at their convergence
tolerance, ~1e-7 relative) and numba's target CPU (``NUMBA_CPU_NAME``). "Bit for
bit" holds only between equal software versions *and* equal fingerprints.

Computed once per process; numpy, threadpoolctl and llvmlite are imported only
when a record is built, so ``strun --help`` and ``calpipe list`` stay light.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from typing import Any


@functools.cache
def platform_fingerprint() -> dict[str, Any]:
    """machine, libc, numpy's SIMD targets in use, BLAS kernels, numba's target CPU (all plain strings)."""
    import numpy as np
    from threadpoolctl import threadpool_info

    simd = np.show_config(mode="dicts")["SIMD Extensions"]
    # numpy's and scipy's OpenBLAS detect the CPU alike; distinct (library, kernel) pairs keep the
    # fingerprint independent of whether scipy's copy happened to be loaded yet
    blas = sorted({f"{lib['internal_api']} {lib.get('architecture', '?')}"
                   for lib in threadpool_info() if lib.get("user_api") == "blas"})
    fingerprint = {
        "machine": platform.machine(),
        "libc": _libc(),
        "numpy_simd": [*simd["baseline"], *simd["found"]],
        "blas": blas,
        "numba_cpu": _numba_cpu(),
    }
    return {k: v for k, v in fingerprint.items() if v}  # ASDF drops nulls: leave unknowns out


def platform_id(fingerprint: dict[str, Any]) -> str:
    """A short, stable name of a fingerprint (the key of a release lock's per-platform entry)."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:12]


def differences(then: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """Readable fields that differ between two fingerprints; ["not recorded"] if ``then`` is missing."""
    if not then:
        return ["not recorded in the product (made before calpipe recorded platforms)"]
    return [f"{k} {_text(then.get(k))} -> {_text(now.get(k))}" for k in sorted(set(then) | set(now))
            if then.get(k) != now.get(k)]


def _text(value: Any) -> str:
    return "none" if value is None else " ".join(value) if isinstance(value, list) else str(value)


def _libc() -> str:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):  # not glibc, or not POSIX
        return ""


def _numba_cpu() -> str:
    """The CPU numba compiles for: NUMBA_CPU_NAME if set, else the host's (as numba itself decides)."""
    name = os.environ.get("NUMBA_CPU_NAME")
    if name:
        return name
    try:
        import llvmlite.binding as llvm
    except ImportError:
        return ""
    return llvm.get_host_cpu_name()

"""Say, once per process, that numba kernels are being compiled (the first run's silent ~10 s).

numba compiles a kernel on its first call and caches the machine code on disk
(``cache=True``); later processes load it in milliseconds. Whether a kernel is
cached is read from numba's index file for it, before the call.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType

log = logging.getLogger("calpipe")
_announced: set[str] = set()


def _cached(kernel: object) -> bool:
    index = getattr(getattr(getattr(kernel, "_cache", None), "_cache_file", None), "_index_path", None)
    return index is None or os.path.exists(index)  # unknown layout: stay quiet


def announce_compiling(what: str, module: ModuleType) -> None:
    """Log once if any numba kernel of ``module`` has no on-disk cache yet."""
    from numba.core.dispatcher import Dispatcher

    if what in _announced:
        return
    _announced.add(what)
    kernels = [k for k in vars(module).values() if isinstance(k, Dispatcher)]
    if any(not _cached(k) for k in kernels):
        log.info("compiling the %s kernels (first run only, cached for next time: ~5-10 s)", what)

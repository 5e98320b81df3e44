"""Keeping a process's freed memory for its next use instead of giving it back at once.

glibc's malloc returns the top of its heap to the system as soon as more than a small,
adaptive amount of it is free, and takes it back page by page (a fault, a zeroed page) at
the next allocation. A process that builds and drops a chunk of rows after another
(an import) then spends a good part of its system time giving back and taking again the
same few megabytes. `keep_freed` raises the amount kept for the rest of the process's life:
for a short-lived process, such as a forked import, whose peak it does not raise.
"""

from __future__ import annotations

import ctypes

# mallopt's parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2


def keep_freed(trim_threshold: int = 256 * 2**20, top_pad: int = 16 * 2**20) -> bool:
    """Keep up to `trim_threshold` bytes of free heap, and grow it `top_pad` bytes at a
    time; whether the C library took the settings (glibc's does, others may not)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold)) and bool(mallopt(_M_TOP_PAD, top_pad))

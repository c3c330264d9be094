"""Child processes that never outlive pgx.

pgx starts worker processes (the PDF pool of :func:`pgx.pipeline.render_batch_reports`)
and Snakemake (``pgx batch``). If pgx itself is killed (SIGKILL, an OOM kill, a closed
terminal), they must die too: a pool worker whose parent is gone waits forever on a queue
that nobody feeds, holding its memory, and an orphaned Snakemake keeps writing results
that nobody asked for.

On Linux the kernel does it: ``prctl(PR_SET_PDEATHSIG)`` sends the child a signal when its
parent dies. Elsewhere a daemon thread checks once a second whether the parent is still
the one that started the child, and ends the process when it is not.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1

#: how often the fallback watcher checks the parent (seconds)
POLL_SECONDS = 1.0


def _set_parent_death_signal(sig: int) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Make this (child) process end when ``parent_pid``, its parent, dies.

    For a process pool's ``initializer``: the worker gets ``sig`` (SIGKILL: it holds
    nothing that needs cleaning up) from the kernel, or, where that is not available, a
    watcher thread exits it. A parent that died before this ran is caught too."""
    armed = _set_parent_death_signal(sig)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="pgx-watch-parent", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    os._exit(1)


def terminate_with_parent() -> None:
    """``preexec_fn`` for a subprocess (Snakemake) that should get SIGTERM, and so clean up
    its jobs and locks, when pgx dies. Linux only; elsewhere a no-op."""
    _set_parent_death_signal(signal.SIGTERM)

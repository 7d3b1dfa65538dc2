r"""Resource limits: refuse a computation that cannot fit in memory or would run for hours.

Every public function that allocates in proportion to its arguments (``simulate``, the
finite-width predictor, ``recommend``, the figures' ``--dpi``, training) estimates the bytes
of the arrays it will allocate and the operations it will do, and calls
:func:`check_resources` *before* allocating anything. A request over a limit raises one
``ValueError`` naming the parameters and what is allowed; the command line prints it as one
line and exits with status 2.

The limits
----------
memory
    Half of the machine's memory: ``os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')``,
    or the cgroup (container) limit when that is smaller. Half, because an estimate counts
    the large arrays only (NumPy temporaries, the interpreter and other programs need the
    rest). The environment variable ``EOCTHEORY_MAX_MEMORY`` overrides it (bytes, or with a
    suffix: ``500M``, ``16G``).
time
    The estimated operation count (floating-point operations; one Gaussian draw counts as
    :data:`NORMAL_COST` operations) divided by :data:`NOMINAL_RATE`, an optimistic speed
    (a fast multi-core machine), so the estimate is a lower bound and only runs that would
    take hours even there are refused: the default limit is :data:`MAX_SECONDS` (4 hours).
    ``EOCTHEORY_MAX_SECONDS`` overrides it (``0`` or ``inf``: no time limit).

Examples
--------
>>> from eoctheory.limits import check_resources, format_bytes
>>> format_bytes(3.5e9)
'3.5 GB'
>>> check_resources("demo", nbytes=1e3, operations=1e3, hint="")  # fits: returns None
"""

from __future__ import annotations

import math
import os

__all__ = [
    "MAX_SECONDS",
    "MEMORY_ENV",
    "NOMINAL_RATE",
    "NORMAL_COST",
    "SECONDS_ENV",
    "check_resources",
    "format_bytes",
    "format_seconds",
    "memory_limit",
    "physical_memory",
    "time_limit",
]

#: Environment variable overriding :func:`memory_limit` (bytes; suffixes K, M, G, T).
MEMORY_ENV = "EOCTHEORY_MAX_MEMORY"
#: Environment variable overriding :func:`time_limit` (seconds; 0 or inf: none).
SECONDS_ENV = "EOCTHEORY_MAX_SECONDS"
#: Default limit on the estimated run time, in seconds (4 hours).
MAX_SECONDS = 4 * 3600.0
#: Operations per second assumed for the time estimate: optimistic on purpose (BLAS on a
#: fast multi-core machine), so the estimated time is a lower bound.
NOMINAL_RATE = 2e10
#: Operations charged per Gaussian draw (NumPy's generator: 5-20 ns, i.e. 100-400 flops).
NORMAL_COST = 100.0

_SUFFIX = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _parse_bytes(text: str) -> float:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in _SUFFIX and t[-1:] else ""
    try:
        value = float(t[:len(t) - len(unit)]) * _SUFFIX[unit]
    except ValueError:
        raise ValueError(f"${MEMORY_ENV} must be a number of bytes such as 8G or 500M "
                         f"(got {text!r})") from None
    if not value > 0:
        raise ValueError(f"${MEMORY_ENV} must be > 0 (got {text!r})")
    return value


def _cgroup_limit() -> float:
    """The container's memory limit (cgroup v2 or v1), or inf."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # "max" or a huge number: no limit
            return float(text)
    return math.inf


def physical_memory() -> float:
    """Bytes of physical memory (or the container's limit when smaller); inf if unknown."""
    try:
        phys = float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        phys = math.inf
    return min(phys, _cgroup_limit())


def memory_limit() -> float:
    """Largest estimated allocation allowed, in bytes: half of :func:`physical_memory`.

    ``$EOCTHEORY_MAX_MEMORY`` (e.g. ``16G``) overrides it.
    """
    env = os.environ.get(MEMORY_ENV)
    if env:
        return _parse_bytes(env)
    phys = physical_memory()
    return phys / 2 if math.isfinite(phys) else 8 * 2.0**30


def time_limit() -> float:
    """Largest estimated run time allowed, in seconds (:data:`MAX_SECONDS`; inf: none)."""
    env = os.environ.get(SECONDS_ENV)
    if not env:
        return MAX_SECONDS
    try:
        value = float(env)
    except ValueError:
        raise ValueError(f"${SECONDS_ENV} must be a number of seconds (got {env!r})") from None
    if value < 0 or math.isnan(value):
        raise ValueError(f"${SECONDS_ENV} must be >= 0 (got {env!r})")
    return math.inf if value == 0 else value


def format_bytes(n: float) -> str:
    """``3.5e9`` -> ``'3.5 GB'`` (powers of 1000)."""
    if not math.isfinite(n):
        return "unbounded"
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} bytes"


def format_seconds(s: float) -> str:
    """``7200`` -> ``'2 h'``."""
    if not math.isfinite(s):
        return "forever"
    for unit, scale in (("years", 3.15e7), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s:.3g} s"


def check_resources(what: str, *, nbytes: float, operations: float = 0.0,
                    hint: str = "") -> None:
    """Raise ``ValueError`` if ``nbytes`` or ``operations`` exceed the limits.

    Parameters
    ----------
    what : str
        The request, naming its parameters (e.g. ``"simulate(width=100000, depth=100)"``).
    nbytes : float
        Estimated bytes of the large arrays allocated at once.
    operations : float
        Estimated operations (see :data:`NOMINAL_RATE`, :data:`NORMAL_COST`).
    hint : str
        What to lower (e.g. ``"lower width or depth"``); appended to the message.
    """
    tail = f": {hint}" if hint else ""
    mem = memory_limit()
    if not nbytes <= mem:
        src = f"${MEMORY_ENV}" if os.environ.get(MEMORY_ENV) else \
            f"half the memory of this machine; set ${MEMORY_ENV} to change it"
        raise ValueError(f"{what} needs about {format_bytes(nbytes)} of memory, more than "
                         f"the limit of {format_bytes(mem)} ({src}){tail}")
    seconds = operations / NOMINAL_RATE
    tl = time_limit()
    if not seconds <= tl:
        raise ValueError(f"{what} would take at least {format_seconds(seconds)} (about "
                         f"{operations:.2g} operations), more than the limit of "
                         f"{format_seconds(tl)} (set ${SECONDS_ENV} to change it){tail}")

"""The run clock: seconds since the run started (monotonic). chaos restarts it when the load starts."""
import time

_T0 = time.monotonic()


def now():
    return time.monotonic() - _T0


def restart():
    global _T0
    _T0 = time.monotonic()

"""The MicroPython fixture itself: real interpreter, firmware path, heap lock, error surfacing."""

import pytest
from mpy import MicroPythonError


def test_runs_real_micropython(micropython):
    out = micropython.run("import sys; print(sys.implementation.name)")
    assert out.strip() == "micropython"


def test_heap_lock_is_enforced(micropython):
    out = micropython.run(
        """
        import micropython
        def alloc():
            return [1, 2, 3]
        def probe():
            micropython.heap_lock()
            try:
                alloc()
                r = 0
            except MemoryError:
                r = 1
            micropython.heap_unlock()
            return r
        print("refused" if probe() else "allocated")
        """
    )
    assert out.strip() == "refused"


def test_failures_surface_the_traceback(micropython):
    with pytest.raises(MicroPythonError, match="ZeroDivisionError"):
        micropython.run("1/0")

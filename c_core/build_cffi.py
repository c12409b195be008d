"""cffi API-mode build of the C core as `muwatch._core` (run by the package build).

The C declarations handed to cffi are read from the public headers between the
`MW_CDEF_BEGIN`/`MW_CDEF_END` markers when present, else the whole header minus
preprocessor lines, so the headers stay the one definition of the API.
"""

from __future__ import annotations

import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
INCLUDE = HERE / "include"
SRC = HERE / "src"


def _cdef_from_header(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    return "\n".join(lines)


def _headers() -> list[Path]:
    return sorted(INCLUDE.glob("*.h"))


def _cdef() -> str:
    return "\n".join(_cdef_from_header(h.read_text()) for h in _headers())


ffibuilder = FFI()
ffibuilder.cdef(_cdef())
ffibuilder.set_source(
    "muwatch._core",
    "\n".join(f'#include "{h.name}"' for h in _headers()),
    sources=[str(p.relative_to(HERE.parent)) for p in sorted(SRC.glob("*.c"))],
    include_dirs=[str(INCLUDE.relative_to(HERE.parent))],
    extra_compile_args=["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

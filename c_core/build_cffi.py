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


_INT_DEFINE = re.compile(r"^\s*#\s*define\s+\w+\s+-?\d+\s*$")


def _cdef_from_header(text: str) -> str:
    """Declarations of one header: comments and preprocessor lines dropped, except integer
    `#define NAME 123` constants, which cffi understands (and array sizes may use)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    if "MW_CDEF_BEGIN" in text:
        text = text.split("MW_CDEF_BEGIN", 1)[1].split("MW_CDEF_END", 1)[0]
    lines = [
        ln for ln in text.splitlines() if not ln.lstrip().startswith("#") or _INT_DEFINE.match(ln)
    ]
    return "\n".join(lines)


def _headers() -> list[Path]:
    """Every public header, each after the project headers it includes (cffi needs types
    declared before use)."""
    found = {h.name: h for h in sorted(INCLUDE.glob("*.h"))}
    ordered: list[Path] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name not in found or found[name] in ordered or name in stack:
            return
        for dep in re.findall(r'^\s*#\s*include\s+"([^"]+)"', found[name].read_text(), re.M):
            visit(dep, (*stack, name))
        ordered.append(found[name])

    for name in found:
        visit(name, ())
    return ordered


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

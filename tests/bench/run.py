"""`make bench`: run every tests/bench/bench_<area>.py (or the areas named on the command line).

Each module defines `run() -> dict[str, figure]`; this runner writes build/bench/<area>.json
and prints the figures. Ratios are always against a baseline measured in the same run.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from figures import write_area  # noqa: E402


def _areas(selected: list[str]) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if not selected:
        return found
    wanted = {f"bench_{a}.py" for a in selected}
    missing = wanted - {p.name for p in found}
    if missing:
        names = ", ".join(sorted(p.name[6:-3] for p in found))
        raise SystemExit(f"unknown bench area(s) {sorted(missing)}; known: {names}")
    return [p for p in found if p.name in wanted]


def main(argv: list[str]) -> int:
    failed = []
    for path in _areas([a for a in argv if a]):
        area = path.stem[len("bench_") :]
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        t0 = time.perf_counter()
        try:
            spec.loader.exec_module(module)
            figures = module.run()
        except Exception:
            traceback.print_exc()
            failed.append(area)
            continue
        write_area(area, figures)
        print(f"  ({time.perf_counter() - t0:.1f} s)")
    if failed:
        print(f"bench areas that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

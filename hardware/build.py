"""Regenerate the hardware outputs from the design, or check that they are up to date.

.venv/bin/python hardware/build.py          # write bom.csv, muwatch-sensor.net, wiring.svg
.venv/bin/python hardware/build.py --check  # exit 1 if any file differs or the ERC fails
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from muwatch_hw import outputs  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args()
    issues = outputs.erc()
    for issue in issues:
        print(f"ERC: {issue}", file=sys.stderr)
    stale = []
    for path, text in outputs.generate().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        elif not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print(f"stale: {', '.join(stale)}; run .venv/bin/python hardware/build.py", file=sys.stderr)
    return 1 if issues or stale else 0


if __name__ == "__main__":
    raise SystemExit(main())

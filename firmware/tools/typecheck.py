"""`make lint`'s firmware check: mypy over the firmware against MicroPython's own stubs.

micropython-esp32-stubs installs the port's modules (machine, micropython, time, gc, select,
bluetooth, ...) as top-level .pyi files in site-packages, and micropython-stdlib-stubs a
`stdlib/` tree meant as typeshed. mypy will not search site-packages through MYPYPATH, so
the port stubs are linked into build/mpy-stubs and the stdlib tree is given as
--custom-typeshed-dir. Never deployed (tools/ is not shipped).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "mpy-stubs"


def stub_dir() -> tuple[Path, Path]:
    pure = Path(sysconfig.get_paths()["purelib"])
    dist = next(pure.glob("micropython_esp32_stubs-*.dist-info"), None)
    if dist is None or not (pure / "stdlib").is_dir():
        raise SystemExit(
            "micropython-esp32-stubs not installed: pip install micropython-esp32-stubs"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    for line in (dist / "RECORD").read_text().splitlines():
        rel = line.split(",", 1)[0]
        top = rel.split("/", 1)[0]
        if top.endswith(".dist-info") or not (rel.endswith(".pyi") or rel.endswith("py.typed")):
            continue
        src, dst = pure / rel, OUT / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            os.symlink(src, dst)
    shed = pure / "_mpy_shed"
    if shed.is_dir() and not (OUT / "_mpy_shed").exists():
        os.symlink(shed, OUT / "_mpy_shed")
    return OUT, pure


def main() -> int:
    stubs, typeshed = stub_dir()
    env = dict(os.environ, MYPYPATH=f"{stubs}{os.pathsep}{ROOT / 'firmware'}")
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(ROOT / "firmware" / "mypy.ini"),
        "--custom-typeshed-dir",
        str(typeshed),
    ]
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())

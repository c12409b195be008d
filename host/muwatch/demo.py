"""`make demo`: the whole system end to end on the simulated sensor, with a known truth.

1. A simulated subject (muwatch.sim: an older person's abductor digiti minimi, fewer and larger
   motor units after reinnervation) does the quick guided protocol, recorded on the sensor's 8
   channels across the muscle: the protocol becomes the simulator's schedule, rendered to
   ADS1299 codes (a signal-source file) with the stimulator's trigger times. The scripted
   operator sets the fixed blocks of the statistical MUNE where a CMAP scan of the subject
   reaches 20 and 40 % of the CMAP.
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

import numpy as np

FS = 2000  # 8 ch x 24 bit x 2 kHz = 48 kB/s: the sensor's design point over BLE
CHANNELS = (1, 2, 3, 4, 5, 6, 7, 8)
FEEDBACK_COLUMN = 3  # EMG4, over the muscle's centre
GAIN = 24
SUBJECT = "demo01"
MUSCLE = "ADM"


def say(msg: str) -> None:
    print(msg, flush=True)


def make_subject(out: Path, seed: int, scan_stimuli: int) -> dict[str, Any]:
    """Simulate the participant doing the protocol; write the sensor's signal source."""
    from muwatch import sim
    from muwatch.guide import block_intensities, guided_protocol, to_sim_schedule

    proto = guided_protocol(
        stimulator=True,
        quick=True,
        scan_stimuli=scan_stimuli,
        scan_rate_hz=20.0,  # the simulated axons do not tire; MScanFit scans run at ~2 Hz
        block_rate_hz=5.0,
    )
    young = sim.make_pool(MUSCLE, seed=seed)
    pool = sim.age_pool(
        young, 0.75, seed=seed
    )  # ~ an 80-year-old: most units lost, survivors large
    # the operator reads the fixed blocks' intensities off a CMAP scan of this subject
    pre = sim.simulate_cmap_scan(pool, n_stimuli=scan_stimuli, seed=seed + 100)
    y = pre.amplitude_v * 1e6
    targets = [s.response_pct or 0.0 for s in proto.steps if s.kind == "block"]
    block_ma = block_intensities(pre.stim_ma, y, targets)
    rec = sim.simulate_session(
        pool,
        to_sim_schedule(proto, block_ma=block_ma),
        fs=FS,
        layout="array8",
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
        "channels": list(rec.channels),
        "cmap_amplitude_uv": [float(c["amplitude_v"]) * 1e6 for c in rec.truth["cmap"]["channels"]],
        "n_stimuli": len(rec.truth["stimuli"]),
        "seconds": rec.data.shape[1] / rec.fs,
        "block_ma": block_ma,
        "low_force": _low_force_truth(rec, pool),
        "one_unit_emg_pct": _one_unit_level(rec, pool),
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    program = [float(s["intensity_ma"]) for s in rec.truth["stimuli"]]
    return {"protocol": proto, "stem": stem, "truth": truth, "program": program}


def _low_force_truth(rec: Any, pool: Any) -> dict[str, Any]:
    """Per low-force phase: the units that fire in it (>= 10 discharges), their discharge
    times and their S-MUAP peak-to-peak on every channel (the truth the indices are held to)."""
    out: dict[str, Any] = {}
    tmpl = rec.truth["templates"]["units"]
    for ph in rec.truth["phases"]:
        lab = ph["label"]
        if not lab.startswith("steady"):
            continue
        a, b = ph["onset_s"], ph["onset_s"] + ph["duration_s"]
        units = []
        for k, u in enumerate(rec.truth["units"]):
            f = np.asarray(u["firings_s"])
            f = f[(f >= a) & (f < b)]
            if f.size >= 10:
                units.append(
                    {
                        "unit": k,
                        "firings_s": f.tolist(),
                        "p2p_uv": np.ptp(np.asarray(tmpl[k]), axis=-1).tolist(),
                    }
                )
        out[lab] = {"onset_s": a, "duration_s": ph["duration_s"], "units": units}
    return out


def _one_unit_level(rec: Any, pool: Any) -> float:
    """EMG level (% of the MVC EMG, feedback channel) of one median unit firing at its minimum
    rate: the granularity below which no bar can be linear in force (random summation: power
    adds, so one unit of N at 8 Hz vs all at their peak rate is ~√(8/(N·25)))."""
    tmpl = [np.asarray(t)[FEEDBACK_COLUMN] for t in rec.truth["templates"]["units"]]
    energy = np.array([float(np.sum(t * t)) for t in tmpl])  # µV²·sample per discharge
    mvc = float(np.sum(energy * pool.pfr_hz))
    return 100.0 * float(np.sqrt(pool.mfr_hz * np.median(energy) / mvc))


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
            feedback_column=FEEDBACK_COLUMN,
            uv_per_code=rec.meta.uv_per_code,
            stimulator_program=subject["program"],
            ui=ui,
        )
        result = await session.run()
        summary = await rec.stop(drain_timeout=30.0)
    finally:
        await dev.close()
        twin.close()
    say(
        "   live feedback (bar = EMG level, % of the MVC's, rest noise removed; the scripted "
        "participant holds exactly the target force):"
    )
    one = subject["truth"]["one_unit_emg_pct"]
    for s in result.steps:
        if s.kind == "steady" and s.achieved_pct is not None:
            low = s.target_pct is not None and s.target_pct < 10
            say(
                f"      {s.name:<16} bar {s.achieved_pct:5.1f} %  at force {s.target_pct:g} % MVC"
                + (f"  (below 10 %: one unit alone reads ~{one:.0f} %)" if low else "")
            )
    return {"summary": summary, "session": result, "store": store}


def match_train(
    t_found_s: np.ndarray, truth_units: list[dict[str, Any]], tol_s: float = 0.002
) -> tuple[int | None, float]:
    """The true unit a found discharge train belongs to and their agreement: matched / (found +
    true - matched) discharges within `tol_s`, after the best constant lag (a unit is timed at
    its MUAP's extremum, the truth at the discharge)."""
    best: tuple[int | None, float] = (None, 0.0)
    t = np.sort(np.asarray(t_found_s, dtype=float))
    for u in truth_units:
        tt = np.asarray(u["firings_s"], dtype=float)
        if t.size == 0 or tt.size == 0:
            continue
        d = (t[:, None] - tt[None, :]).ravel()
        d = d[np.abs(d) < 0.02]
        if d.size == 0:
            continue
        h, e = np.histogram(d, bins=np.arange(-0.02, 0.02 + 1e-9, 0.0005))
        lag = float(e[np.argmax(h)] + 0.00025)
        j = np.clip(np.searchsorted(tt, t - lag), 1, max(tt.size - 1, 1))
        near = np.minimum(
            np.abs(tt[j - 1] + lag - t), np.abs(tt[np.minimum(j, tt.size - 1)] + lag - t)
        )
        hit = int(np.sum(near <= tol_s))
        agree = hit / (t.size + tt.size - hit)
        if agree > best[1]:
            best = (int(u["unit"]), agree)
    return best


def index_truth(result: Any, truth: dict[str, Any], ref: int, fs: float) -> dict[str, Any]:
    """The surface indices against the simulation: units active in the low-force phases,
    counted units that are real units (agreement >= 0.5), mean S-MUAP (reference channel) of
    the active units and of the matched ones."""
    active: dict[int, float] = {}
    matched: dict[int, float] = {}
    found = 0
    for part in result.figures.get("surface_parts", []):
        ind = part["indices"]
        a = part["span"][0]
        ph = truth["low_force"].get(ind.force_label)
        if ph is None:
            continue
        for u in ph["units"]:
            active[u["unit"]] = u["p2p_uv"][ref]
        for su in ind.units:
            if not su.accepted:
                continue
            found += 1
            k, agree = match_train((ind.trains[su.unit] + a) / fs, ph["units"])
            if k is not None and agree >= 0.5:
                matched.setdefault(k, su.smuap_uv or 0.0)
    return {
        "active": len(active),
        "true_mean_smuap_uv": float(np.mean(list(active.values()))) if active else None,
        "found_in_phases": found,
        "matched": len(matched),
        "matched_true_mean_uv": float(np.mean([active[k] for k in matched])) if matched else None,
    }


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
    ap.add_argument(
        "--scan-stimuli", type=int, default=450, help="CMAP scan stimuli (MScanFit: ~450) [450]"
    )
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
    ref_name = d["recording"].get("surface_channel")
    ref = tr["channels"].index(ref_name) if ref_name in tr["channels"] else 0
    cmap_true = tr["cmap_amplitude_uv"][ref]
    if "cmap" in m:
        got = m["cmap"]["amplitude_uv"]
        rows.append(
            (
                f"CMAP amplitude (µV, {ref_name})",
                got,
                cmap_true,
                "±10 %",
                abs(got / cmap_true - 1) <= 0.10,
            )
        )
    else:
        rows.append(("CMAP amplitude (µV)", "none", cmap_true, "±10 %", False))
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
    r = m.get("poisson") or {}
    if r.get("mune") is not None:
        rng = r.get("mune_range")
        span = f" [{rng[0]:.0f}-{rng[1]:.0f}]" if rng else ""
        rows.append(
            (
                "statistical MUNE",
                f"{r['mune']:.0f}{span}",
                tr["n_units"],
                "±60 % (bench: 90th pct error 0.61)",
                abs(r["mune"] / tr["n_units"] - 1) <= 0.60,
            )
        )
        if r.get("mune_classic") is not None:
            rows.append(
                (
                    "  Daube's variance/mean",
                    f"{r['mune_classic']:.0f}",
                    tr["n_units"],
                    "upper bound: units always firing",
                    None,
                )
            )
    else:
        rows.append(("statistical MUNE", "not run", tr["n_units"], "±60 %", False))
    for key, name in (("incremental", "incremental MUNE"),):
        r = m.get(key) or {}
        if r.get("mune") is not None:
            rng = r.get("mune_range")
            span = f" [{rng[0]:.0f}-{rng[1]:.0f}]" if rng else ""
            rows.append(
                (name, f"{r['mune']:.0f}{span}", tr["n_units"], "reported (bench: error)", None)
            )
        else:
            rows.append((name, "not run", tr["n_units"], "reason below", None))
    if "munix" in m and m["munix"]["munix"] is not None:
        rows.append(
            ("MUNIX (index)", m["munix"]["munix"], tr["n_units"], "index, not a count (*)", None)
        )
        rows.append(("MUSIX (µV)", m["munix"]["musix_uv"], "–", "index", None))
    s = d["indices"].get("surface")
    if s:
        it = index_truth(result, tr, ref, recording.fs)
        rows.append(
            (
                "surface units counted (index)",
                s["muap_count_index"],
                it["active"],
                f"index, not MUNE; truth: units firing at {s['force_label']}",
                None,
            )
        )
        rows.append(
            (
                "  counted units that are true units",
                it["matched"],
                it["found_in_phases"],
                "agreement >= 0.5 (truth: counted per phase)",
                None,
            )
        )
        rows.append(
            (
                f"mean S-MUAP (µV, {ref_name}, STA)",
                s["mean_smuap_uv"] if s["mean_smuap_uv"] is not None else "none",
                it["true_mean_smuap_uv"] if it["true_mean_smuap_uv"] is not None else "–",
                "index; truth: mean of the firing units",
                None,
            )
        )
        if it["matched_true_mean_uv"] is not None:
            rows.append(
                (
                    "  true mean S-MUAP of the matched units",
                    "",
                    it["matched_true_mean_uv"],
                    "what the STA of those units should read",
                    None,
                )
            )
        if "sta_mune" in m:
            rows.append(
                (
                    "STA MUNE",
                    m["sta_mune"]["mune"],
                    tr["n_units"],
                    "reported, force-dependent",
                    None,
                )
            )
    ok = check(rows)
    if "munix" in m:
        say(f"   (*) {m['munix']['caveat']}")
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

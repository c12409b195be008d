"""The report of one analysed recording: what was measured, with figures, and what could not be.

Figures: raw and filtered snippets with the detected spikes, unit templates, firing trains, the
CMAP with its main phase, the MUNIX regression, the CMAP scan with its fitted model.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal as sps

from muwatch.analysis.normals import normal_range
from muwatch.analysis.pipeline import Analysis, Recording
from muwatch.errors import StorageError
from muwatch.report._html import esc, fig_png, fmt, page, plt, table


def _band(x: np.ndarray, fs: float, lo: float, hi: float) -> np.ndarray:
    hi = min(hi, 0.45 * fs)
    sos = sps.butter(2, [lo, hi], "bandpass", fs=fs, output="sos")
    return sps.sosfiltfilt(sos, x)


def _snippet_figure(
    rec: Recording,
    ch: int,
    a: int,
    b: int,
    times: np.ndarray,
    units: np.ndarray | None,
    band: tuple[float, float],
    title: str,
) -> str:
    fs = rec.fs
    n = min(b - a, int(0.6 * fs))
    mid = a + max(0, (b - a - n) // 2)
    raw = rec.data[ch, mid : mid + n]
    filt = _band(rec.data[ch, max(0, mid - int(0.2 * fs)) : mid + n + int(0.2 * fs)], fs, *band)
    off = mid - max(0, mid - int(0.2 * fs))
    filt = filt[off : off + n]
    t = np.arange(n) / fs * 1000.0
    fig, ax = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True)
    ax[0].plot(t, raw, lw=0.6, color="#555")
    ax[0].set_ylabel("raw µV")
    ax[1].plot(t, filt, lw=0.6, color="#1f4e79")
    ax[1].set_ylabel(f"{band[0]:g}-{min(band[1], 0.45 * fs):g} Hz µV")
    sel = (times >= mid) & (times < mid + n)
    if sel.any():
        ii = times[sel] - mid
        col = units[sel] if units is not None else np.zeros(ii.size, int)
        ax[1].scatter(
            ii / fs * 1000.0,
            filt[ii.astype(int)],
            c=col,
            cmap="tab10",
            s=14,
            zorder=3,
            vmin=0,
            vmax=9,
        )
    ax[1].set_xlabel("ms")
    ax[0].set_title(title, fontsize=10)
    return fig_png(fig)


def _templates_figure(tpls: list[np.ndarray], fs: float, labels: list[str], title: str) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for k, (tp, lab) in enumerate(zip(tpls, labels, strict=True)):
        t = np.arange(tp.size) / fs * 1000.0
        ax.plot(t, tp, lw=1.0, color=plt.cm.tab10(k % 10), label=lab)
    ax.set_xlabel("ms")
    ax.set_ylabel("µV")
    ax.set_title(title, fontsize=10)
    if labels:
        ax.legend(fontsize=7, ncol=4)
    return fig_png(fig)


def _trains_figure(trains: dict[int, np.ndarray], fs: float, title: str) -> str:
    fig, ax = plt.subplots(figsize=(9, 0.4 * max(3, len(trains)) + 0.8))
    for k, (_u, idx) in enumerate(sorted(trains.items())):
        ax.vlines(np.asarray(idx) / fs, k + 0.6, k + 1.4, color=plt.cm.tab10(k % 10), lw=0.8)
    ax.set_yticks(range(1, len(trains) + 1), [f"unit {u}" for u in sorted(trains)])
    ax.set_xlabel("s")
    ax.set_title(title, fontsize=10)
    return fig_png(fig)


def _cmap_figure(fig_data: dict[str, Any]) -> str:
    ep, pre, fs, m = fig_data["epoch"], fig_data["pre"], fig_data["fs"], fig_data["measures"]
    t = (np.arange(ep.size) - pre) / fs * 1000.0
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(t, ep - np.median(ep[:pre]), color="#222", lw=1)
    s, e = m.main_phase
    ax.axvspan(
        t[s], t[min(e, t.size - 1)], color="#ffd27f", alpha=0.5, label="main (negative) phase"
    )
    ax.set_xlabel("ms from stimulus")
    ax.set_ylabel("µV")
    ax.set_title(
        f"CMAP: {m.amplitude_uv:.0f} µV, main-phase area {m.area_mv_ms:.2f} mV·ms", fontsize=10
    )
    ax.legend(fontsize=8)
    return fig_png(fig)


def _munix_figure(r: Any) -> str:
    fig, ax = plt.subplots(figsize=(6, 4))
    acc = [e for e in r.epochs if e.accepted and e.icmuc > 0]
    rej = [e for e in r.epochs if not e.accepted and e.icmuc > 0 and e.sip_area_mv_ms > 0]
    if rej:
        ax.scatter(
            [e.sip_area_mv_ms for e in rej],
            [e.icmuc for e in rej],
            marker="x",
            color="#999",
            label="refused epochs",
        )
    ax.scatter(
        [e.sip_area_mv_ms for e in acc],
        [e.icmuc for e in acc],
        color="#1f4e79",
        s=16,
        label="accepted epochs",
    )
    if r.munix is not None and acc:
        xs = np.geomspace(
            min(min(e.sip_area_mv_ms for e in acc), 20.0) * 0.8,
            max(e.sip_area_mv_ms for e in acc) * 1.2,
            50,
        )
        ax.plot(
            xs,
            r.alpha * xs**r.slope,
            color="#b00020",
            label=f"fit: ICMUC = {r.alpha:.3g}·area^{r.slope:.2f}",
        )
        ax.scatter(
            [20.0],
            [r.munix],
            marker="*",
            s=140,
            color="#b00020",
            zorder=4,
            label=f"MUNIX {r.munix:.0f} at 20 mV·ms",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("SIP area (mV·ms per 500 ms)")
    ax.set_ylabel("ICMUC")
    ax.set_title("MUNIX regression", fontsize=10)
    ax.legend(fontsize=7)
    return fig_png(fig)


def _scan_figure(r: Any) -> str:
    s = np.array(r.stimuli_ma)
    y = np.array(r.responses_uv)
    mu = np.array(r.model_mean_uv)
    sd = np.array(r.model_sd_uv)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.fill_between(s, mu - 2 * sd, mu + 2 * sd, color="#ffd27f", alpha=0.6, label="model ± 2 SD")
    ax.plot(s, mu, color="#b00020", lw=1, label=f"model mean ({r.mune} units)")
    ax.scatter(s, y, s=5, color="#1f4e79", label="responses")
    for u in r.units:
        ax.axvline(u.threshold_ma, color="#888", lw=0.3)
    ax.set_xlabel("stimulus (mA)")
    ax.set_ylabel("response (µV)")
    ax.set_title(f"CMAP scan: MUNE {r.mune} (thin lines: unit thresholds)", fontsize=10)
    ax.legend(fontsize=7)
    return fig_png(fig)


def _range(r: Any) -> str:
    return f"; approx. 95 % range {r[0]:.0f}-{r[1]:.0f}" if r else ""


def _method_rows(d: dict[str, Any], muscle: str | None) -> list[list[Any]]:
    m = d["methods"]
    rows: list[list[Any]] = []
    if "munix" in m:
        r = m["munix"]
        nr = normal_range(muscle, "munix")
        rng = (
            f"{nr.low:.0f}-{nr.high:.0f} ({nr.source}, for orientation only: the absolute value "
            "depends on definitions; compare with the person's own baseline first)"
            if nr
            else "no table value for this muscle"
        )
        rows.append(
            [
                "MUNIX",
                r["munix"],
                "",
                r["kind"],
                f"normal {rng}; R² {fmt(r['r2'])}; {r['n_accepted']}/{r['n_epochs']} epochs",
            ]
        )
        nr2 = normal_range(muscle, "musix_uv")
        rows.append(
            [
                "MUSIX",
                r["musix_uv"],
                "µV",
                r["kind"],
                f"normal {nr2.low:.0f}-{nr2.high:.0f} µV" if nr2 else "",
            ]
        )
    if "cmap_scan" in m:
        r = m["cmap_scan"]
        rows.append(
            [
                "CMAP-scan MUNE",
                r["mune"],
                "units",
                r["kind"],
                f"preliminary (slope/variance) {fmt(r['preliminary_mune'])}; noise {fmt(r['noise_uv'])} µV",
            ]
        )
    if "poisson" in m and m["poisson"]["mune"] is not None:
        r = m["poisson"]
        used = [b for b in r["blocks"] if b["used"]]
        rows.append(
            [
                "statistical (Poisson) MUNE",
                r["mune"],
                "units",
                r["kind"],
                f"S-MUP {fmt(r['smup_uv'])} µV from {len(used)} fixed-intensity blocks"
                + _range(r.get("mune_range"))
                + (
                    f"; {r['estimator']}; Daube's variance/mean gives {fmt(r['mune_classic'])}"
                    " (an upper bound)"
                    if r.get("mune_classic") is not None and r.get("rel_spread_assumed")
                    else ""
                ),
            ]
        )
    if "incremental" in m and m["incremental"]["mune"] is not None:
        r = m["incremental"]
        rows.append(
            [
                "incremental MUNE",
                r["mune"],
                "units",
                r["kind"],
                f"{r['n_increments']} increments, S-MUP {fmt(r['smup_uv'])} µV"
                + _range(r.get("mune_range")),
            ]
        )
    if "sta_mune" in m:
        r = m["sta_mune"]
        rows.append(["STA MUNE", r["mune"], "units", r["kind"], r["force_label"]])
    if "cmap" in m:
        r = m["cmap"]
        rows.append(
            ["CMAP amplitude", r["amplitude_uv"], "µV", "measure", f"{r['n_stimuli']} stimuli"]
        )
    return rows


def write_report(analysis: Analysis, rec: Recording, path: str | Path) -> Path:
    """Write the HTML report of `analysis` (from `rec`) to `path`; returns the path."""
    d = analysis.to_dict()
    info = d["recording"]
    title = (
        f"muwatch analysis — {info.get('session_id') or Path(info.get('path') or 'recording').name}"
    )
    parts = [f"<h1>{esc(title)}</h1>"]
    parts.append(
        table(
            ["subject", "muscle", "duration", "rate", "channels", "missing samples", "stimuli"],
            [
                [
                    info.get("subject") or "–",
                    info.get("muscle") or "–",
                    f"{info['duration_s']:.1f} s",
                    f"{info['fs']:g} Hz",
                    ", ".join(
                        f"{c} ({k})" for c, k in zip(info["channels"], info["kinds"], strict=True)
                    ),
                    info["missing_samples"],
                    info["n_stimuli"],
                ]
            ],
        )
    )
    parts.append("<h2>Motor unit numbers and sizes</h2>")
    rows = _method_rows(d, info.get("muscle"))
    if rows:
        parts.append(table(["measure", "value", "unit", "kind", "notes"], rows))
    else:
        parts.append("<p>No MUNE or MUNIX could run on this recording (reasons below).</p>")
    if "munix" in d["methods"]:
        parts.append(
            f"<p class='note warn'><b>MUNIX:</b> {esc(d['methods']['munix']['caveat'])}</p>"
        )
    for key in ("munix", "cmap_scan", "poisson", "incremental"):
        for note in (d["methods"].get(key) or {}).get("notes", []):
            parts.append(f"<p class='note warn'>{esc(key)}: {esc(note)}</p>")
    if d["indices"].get("surface"):
        s = d["indices"]["surface"]
        parts.append("<h2>Stimulator-free indices (index, not MUNE)</h2>")
        parts.append(
            table(
                ["index", "value", "epoch"],
                [
                    ["MUAP count index", s["muap_count_index"], s["force_label"]],
                    ["MUAP rate (per s)", s["muap_rate_hz"], s["force_label"]],
                    ["mean surface-MUAP size (µV, STA)", s["mean_smuap_uv"], s["force_label"]],
                ],
                "idx",
            )
        )
        for note in s["notes"]:
            parts.append(f"<p class='note'>{esc(note)}</p>")
        ref = (
            "the rest phase's noise floor"
            if s.get("noise_reference") == "rest"
            else "the epoch's own MAD (no rest phase)"
        )
        parts.append(
            f"<p class='note'>{esc(s.get('method', ''))}; detection threshold from {esc(ref)}; "
            f"S-MUAP sizes on {esc(str(s.get('reference_channel_name', '')))}.</p>"
        )
        for ph in s.get("phases") or [s]:
            if ph.get("units"):
                parts.append(
                    table(
                        ["unit", "discharges", "rate (Hz)", "ISI CV", "S-MUAP (µV)", "counted"],
                        [
                            [
                                u["unit"],
                                u["n_discharges"],
                                u["rate_hz"],
                                u["isi_cv"],
                                u["smuap_uv"],
                                "yes" if u["accepted"] else f"no: {u['why_not']}",
                            ]
                            for u in ph["units"]
                        ],
                        "idx",
                    )
                )
                parts.append(f"<p class='note'>units at {esc(ph['force_label'])}</p>")
    if d["units"]:
        parts.append("<h2>Needle motor units (QEMG)</h2>")
        keys = [
            "unit",
            "n_discharges",
            "p2p_uv",
            "duration_ms",
            "phases",
            "turns",
            "area_uv_ms",
            "size_index",
            "rate_hz",
            "isi_cv",
            "firing_consistent",
            "jitter_us",
            "jiggle_cad_percent",
            "jiggle_ccc",
        ]
        parts.append(table(keys, [[u.get(k) for k in keys] for u in d["units"]]))
        qs = d.get("qemg_summary") or {}
        if qs:
            parts.append(
                "<p class='note'>Summary: "
                + esc(
                    ", ".join(
                        f"{k} {fmt(v['mean'])} ± {fmt(v['sd'])}"
                        for k, v in qs.items()
                        if isinstance(v, dict)
                    )
                )
                + (
                    f"; {qs['trains_mixing_units']} train(s) mix units (firing_consistent no:"
                    " more than 30 % of their intervals edited out; ISI CV not given)"
                    if qs.get("trains_mixing_units")
                    else ""
                )
                + "</p>"
            )
    # figures
    figs = analysis.figures
    parts.append("<h2>Figures</h2>")
    if "needle" in figs:
        n = figs["needle"]
        parts.append(
            _snippet_figure(
                rec,
                n["channel"],
                0,
                rec.n_samples,
                n["times"],
                n["labels"],
                (300.0, 3000.0),
                f"needle {rec.channels[n['channel']]}: raw and filtered, discharges by unit",
            )
        )
        if n["units"]:
            parts.append(
                _templates_figure(
                    [np.array(u.template_uv) for u in n["units"]],
                    rec.fs,
                    [f"unit {u.unit}" for u in n["units"]],
                    "unit templates (wide band, averaged)",
                )
            )
        parts.append(_trains_figure(n["trains"], rec.fs, "firing trains"))
    if "surface" in figs:
        sfig = figs["surface"]
        a, b = sfig["span"]
        ind = sfig["indices"]
        ok = {u.unit for u in ind.units if u.accepted}
        tr = {u: t for u, t in ind.trains.items() if u in ok} or dict(ind.trains)
        times = np.concatenate([t for t in tr.values()] or [np.zeros(0, np.int64)])
        labels = np.concatenate([np.full(t.size, k) for k, t in enumerate(tr.values())] or [[]])
        o = np.argsort(times)
        parts.append(
            _snippet_figure(
                rec,
                sfig["channel"],
                a,
                b,
                times[o].astype(np.int64) + a,
                labels[o].astype(int),
                (20.0, 450.0),
                f"surface {rec.channels[sfig['channel']]}: {ind.force_label}, discharges of the "
                f"accepted units ({ind.method})",
            )
        )
        if tr:
            parts.append(
                _trains_figure(
                    {u: t + 0 for u, t in tr.items()}, rec.fs, f"firing trains at {ind.force_label}"
                )
            )
    if "cmap" in figs:
        parts.append(_cmap_figure(figs["cmap"]))
    if "munix" in figs:
        parts.append(_munix_figure(figs["munix"]))
    if "cmap_scan" in figs:
        parts.append(_scan_figure(figs["cmap_scan"]))
    parts.append("<h2>Could not run</h2>")
    if d["not_run"]:
        parts.append(table(["method", "why"], [[n["method"], n["reason"]] for n in d["not_run"]]))
    else:
        parts.append("<p>Every method ran.</p>")
    parts.append(
        f"<p class='note'>muwatch, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Methods and their limits: docs/analysis.md.</p>"
    )
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(page(title, parts), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(out)
    except OSError as exc:
        raise StorageError(
            f"cannot write the report {out}: {exc.strerror}; choose another place with --report"
        ) from exc
    return out

"""`muwatch session DEVICE --subject ID --muscle NAME`: the guided home session.

Rest baseline, maximal contractions, a fixed low-force hold, graded contractions from slight to
maximal force with live feedback of the level against the target (the SIP epochs of MUNIX) and,
with --stimulator, supramaximal stimuli and a CMAP scan (the sensor's trigger input marks each
stimulus; the stimulator's program gives each one its intensity). Every step is annotated in the
recording; `muwatch analyze` reads them. --analyze runs the analysis at the end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from muwatch.cli._bridge import (
    DEVICE_HELP,
    ble_backend_option,
    data_dir_option,
    device_argument,
    open_device,
    run,
    store_of,
    timeout_option,
)
from muwatch.errors import UsageError


def _program(spec: str | None, path: Path | None, n_supra: int, n_scan: int) -> list[float] | None:
    """Stimulator intensities in order: a file (one mA value per line) or SUPRA:LOW (the
    supramaximal block at SUPRA, then the scan from SUPRA down to LOW, evenly)."""
    if path is not None:
        try:
            vals = [float(x) for x in path.read_text().split()]
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"--stim-program {path}: one intensity in mA per line ({exc})"
            ) from exc
        return vals
    if spec is None:
        return None
    try:
        hi, lo = (float(x) for x in spec.split(":"))
    except ValueError as exc:
        raise UsageError("--stim-range must be SUPRA:LOW in mA, e.g. 40:18") from exc
    if not 0 < lo < hi <= 100:
        raise UsageError("--stim-range needs 0 < LOW < SUPRA <= 100 mA")
    step = (hi - lo) / max(n_scan - 1, 1)
    return [hi] * n_supra + [hi - k * step for k in range(n_scan)]


def _bar(level: float | None, target: float | None, width: int = 40) -> str:
    if level is None:
        return ""
    pos = min(width, int(round(level / 100.0 * width)))
    bar = ["·"] * width
    for i in range(pos):
        bar[i] = "█"
    if target is not None:
        t = min(width - 1, int(round(target / 100.0 * width)))
        bar[t] = "|"
    return (
        "".join(bar)
        + f" {level:5.1f} % MVC"
        + (f"  target {target:g} %" if target is not None else "")
    )


@click.command(help=f"Run the guided home session and record it.\n{DEVICE_HELP}")
@device_argument
@click.option("--subject", required=True, help="Participant label (letters and digits).")
@click.option("--muscle", required=True, help="Muscle recorded, e.g. ADM, 'tibialis anterior'.")
@click.option("--stimulator", is_flag=True, help="Add the stimulator block (CMAP, CMAP scan).")
@click.option(
    "--stim-range",
    default=None,
    metavar="SUPRA:LOW",
    help="Stimulator program: supramaximal mA, then a scan down to LOW mA.",
)
@click.option(
    "--stim-program",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Stimulator program file: one intensity (mA) per stimulus, in order.",
)
@click.option("--scan-stimuli", type=click.IntRange(60, 1000), default=300, show_default=True)
@click.option(
    "--scan-rate",
    type=click.FloatRange(0.2, 20),
    default=2.0,
    show_default=True,
    help="Stimuli per second in the CMAP scan.",
)
@click.option("--quick", is_flag=True, help="Short holds (a trial run).")
@click.option(
    "--rate",
    type=click.Choice(["2000", "4000"]),
    default="4000",
    show_default=True,
    help="Sampling rate (Hz).",
)
@click.option(
    "--channel",
    type=click.IntRange(1, 8),
    default=1,
    show_default=True,
    help="Sensor channel over the muscle (feedback and analysis).",
)
@click.option("--yes", "-y", is_flag=True, help="Start without waiting for Enter (scripted use).")
@click.option(
    "--analyze/--no-analyze",
    "do_analyze",
    default=True,
    show_default=True,
    help="Analyse the session at the end.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the session result as JSON.")
@data_dir_option
@ble_backend_option
@timeout_option(15.0)
def command(
    device: str,
    subject: str,
    muscle: str,
    stimulator: bool,
    stim_range: str | None,
    stim_program: Path | None,
    scan_stimuli: int,
    scan_rate: float,
    quick: bool,
    rate: str,
    channel: int,
    yes: bool,
    do_analyze: bool,
    as_json: bool,
    data_dir: Path | None,
    ble_backend: str | None,
    timeout: float,
) -> None:
    from muwatch.guide import guided_protocol
    from muwatch.session.meta import check_label

    check_label("subject", subject)
    if (stim_range or stim_program) and not stimulator:
        raise UsageError("--stim-range/--stim-program need --stimulator")
    proto = guided_protocol(
        stimulator=stimulator, quick=quick, scan_stimuli=scan_stimuli, scan_rate_hz=scan_rate
    )
    program = _program(stim_range, stim_program, 5, scan_stimuli) if stimulator else None
    if stimulator and program is None:
        click.echo(
            "muwatch: warning: no --stim-range/--stim-program: stimuli are marked but their intensities unknown (no CMAP scan MUNE)",
            err=True,
        )
    click.echo(f"{proto.name}: {len(proto.steps)} steps, {proto.seconds:.0f} s", err=True)
    for note in proto.notes:
        click.echo(f"  note: {note}", err=True)
    if not yes:
        click.prompt(
            "Place the sensor over the muscle, sit relaxed, press Enter to start",
            default="",
            show_default=False,
            err=True,
        )
    result, sid = run(
        _session(
            device,
            subject,
            muscle,
            proto,
            program,
            int(rate),
            channel,
            data_dir,
            ble_backend,
            timeout,
            as_json,
        )
    )
    out: dict[str, Any] = {"session_id": sid, "guide": result.to_dict()}
    if do_analyze:
        from muwatch.analysis.pipeline import analyze, load_recording
        from muwatch.cli.analyze import store_results, summary_lines
        from muwatch.report import write_report

        rec = load_recording(sid, data_dir=data_dir)
        res = analyze(rec)
        d = res.to_dict()
        path = write_report(res, rec, Path(rec.path) / "report.html")
        store_results(d, sid, data_dir)
        out["analysis"] = {"report": str(path), "summary": summary_lines(d)}
        if not as_json:
            for line in summary_lines(d):
                click.echo(f"  {line}")
            click.echo(f"report: {path}")
    if as_json:
        click.echo(json.dumps(out, indent=2, default=str))


async def _session(
    spec: str,
    subject: str,
    muscle: str,
    proto: Any,
    program: list[float] | None,
    rate: int,
    channel: int,
    data_dir: Path | None,
    ble_backend: str | None,
    timeout: float,
    quiet: bool,
) -> tuple[Any, str]:
    from muwatch.device import StreamConfig
    from muwatch.guide import GuidedSession, StepState
    from muwatch.session.recorder import Recorder

    store = store_of(data_dir)
    store.ensure()
    dev = await open_device(spec, ble_backend=ble_backend, timeout=timeout)
    shown = [-1]

    def ui(st: StepState) -> None:
        if quiet:
            return
        if st.index != shown[0]:
            shown[0] = st.index
            click.echo(
                f"\n[{st.index + 1}/{st.n_steps}] {st.step.name}: {st.step.instruction}", err=True
            )
        if st.step.kind in ("steady", "mvc"):
            click.echo(
                "\r  " + _bar(st.level_pct, st.target_pct if st.step.kind == "steady" else None),
                nl=False,
                err=True,
            )

    rec = Recorder(
        dev,
        store,
        subject=subject,
        muscle=muscle,
        task="guided",
        on_warning=lambda m: click.echo(f"\nmuwatch: warning: {m}", err=True),
    )
    try:
        sid = await rec.start(StreamConfig(rate_hz=rate, channels=(channel,)))
        assert rec.meta is not None
        result = await GuidedSession(
            rec, proto, fs=rate, uv_per_code=rec.meta.uv_per_code, stimulator_program=program, ui=ui
        ).run()
        await rec.stop()
    except BaseException:
        if not rec._stopping and rec.folder is not None:
            await rec.abort("interrupted")
            click.echo(
                f"\nthe session was interrupted; finish it with `muwatch recover {rec.session_id}`",
                err=True,
            )
        raise
    finally:
        await dev.close()
    click.echo("", err=True)
    return result, sid

"""CMAP-scan MUNE: a stochastic motor-unit model fitted to a CMAP scan, in the spirit of
MScanFit (Bostock, Muscle Nerve 2016;53:889). This is a MUNE (it needs a stimulator).

The scan is the response size for each of a few hundred stimuli swept slowly across the whole
threshold range (from subthreshold to supramaximal). The model: units with amplitude a_i,
threshold θ_i and relative spread RS_i; unit i fires at stimulus s with probability
Φ((s − θ_i)/(θ_i·RS_i)), the response is the sum of the firing units' amplitudes plus baseline and
Gaussian noise.

What is implemented (docs/analysis.md says how it differs from MScanFit):
1. Preliminary model from the scan's slope and variance (MScanFit's first stage). With the mean
   curve m(s) (isotonic regression, smoothed over ~0.25 mA) and the excess variance v(s) of the
   responses about it, units of size a and spread σ near s give m'(s) = a·ρ(s) and
   v(s) = a²·σ·ρ(s)/√π (ρ: units per mA), so the local unit size is a(s) = √π·v/(σ·m') and the
   unit density ρ = m'/a. N = ∫ρ ds; units are placed at the quantiles of ρ with sizes a(θ),
   scaled so that they add up to the CMAP. σ = RS·s with RS = 2 % (human motor axons: 1-3 %).
2. Refinement of every unit's amplitude, threshold and spread by EM against the scan: the
   E-step is exact (all 2^m firing patterns of the m units in play at a stimulus) for m ≤ 12 and
   Gibbs sampling beyond; the M-step solves the amplitudes jointly (bounded least squares,
   amplitude ≥ 2 noise SD) and each unit's threshold and spread by probit regression with a weak
   prior on RS (log-normal around 2 %). The exact marginal log-likelihood is reported.
3. MUNE is the number of units of the model. Unlike MScanFit, the refinement does not add or
   remove units: in our tests a likelihood/BIC-driven search over the unit count split large
   units into spurious small ones (the likelihood surface is very rugged), while the
   slope/variance count was within ~12 % median on the Bostock degeneration series
   (tests/bench/bench_mune.py reports the error per N).

Known limits: the count inherits the assumed RS (a true RS of 1.65 % instead of 2 % makes it ~20 %
high) and the size variation within a threshold neighbourhood (it makes it low); very few large
units (N ≤ 5) are counted high by one or two.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

import numpy as np
from scipy.special import logsumexp, ndtr

from muwatch.analysis._fixed import as_float_array
from muwatch.errors import UsageError

METHOD = "CMAP-scan MUNE: stochastic unit model fitted in the spirit of MScanFit (Bostock 2016)"
MAX_ENUM = 12
MIN_STIMULI = 60
RS_PRIOR = (math.log(0.02), 0.5)
_SQRT2PI = math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class ScanUnit:
    amplitude_uv: float
    threshold_ma: float
    rel_spread: float


@dataclass(frozen=True)
class CmapScanResult:
    mune: int
    units: tuple[ScanUnit, ...]
    cmap_max_uv: float
    noise_uv: float
    preliminary_mune: float | None
    loglik: float
    bic: float
    stimuli_ma: tuple[float, ...] = field(repr=False)
    responses_uv: tuple[float, ...] = field(repr=False)
    model_mean_uv: tuple[float, ...] = field(repr=False)
    model_sd_uv: tuple[float, ...] = field(repr=False)
    notes: tuple[str, ...] = ()
    method: str = METHOD
    kind: str = "MUNE"

    def to_dict(self, *, curves: bool = False) -> dict[str, Any]:
        d = asdict(self)
        d["units"] = [asdict(u) for u in self.units]
        if not curves:
            for k in ("stimuli_ma", "responses_uv", "model_mean_uv", "model_sd_uv"):
                d.pop(k)
        return d


class _Model:
    """Unit parameters (arrays) plus baseline."""

    def __init__(self, a: np.ndarray, th: np.ndarray, sg: np.ndarray, b0: float) -> None:
        self.a, self.th, self.sg, self.b0 = a, th, sg, b0
        self.ll = -np.inf

    def copy(self) -> _Model:
        return _Model(self.a.copy(), self.th.copy(), self.sg.copy(), self.b0)

    @property
    def n(self) -> int:
        return int(self.a.size)

    def probs(self, s: np.ndarray) -> np.ndarray:
        if self.n == 0:
            return np.zeros((0, s.size))
        return ndtr((s[None, :] - self.th[:, None]) / self.sg[:, None])


@cache
def _configs(m: int) -> np.ndarray:
    return np.array(list(itertools.product((0.0, 1.0), repeat=m)), dtype=np.float64)


def _pava(y: np.ndarray) -> np.ndarray:
    """Isotonic (non-decreasing) least-squares fit, pool-adjacent-violators."""
    vals: list[float] = []
    wts: list[float] = []
    cnt: list[int] = []
    for v in y.tolist():
        vals.append(v)
        wts.append(1.0)
        cnt.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            v2, w2, c2 = vals.pop(), wts.pop(), cnt.pop()
            vals[-1] = (vals[-1] * wts[-1] + v2 * w2) / (wts[-1] + w2)
            wts[-1] += w2
            cnt[-1] += c2
    return np.repeat(vals, cnt)


def _core_sd(d: np.ndarray) -> float:
    """SD of the central Gaussian peak of d: iterated truncated second moment (cut at ±2.5 SD,
    corrected for the truncation), started from below (the 10th percentile of |d|) so that the
    wide components never set the start."""
    sd = max(float(np.percentile(np.abs(d), 10)) / 0.1257, 1e-12)
    corr = 1.0 - 5.0 * math.exp(-3.125) / _SQRT2PI / (2.0 * ndtr(2.5) - 1.0)
    for _ in range(50):
        kept = d[np.abs(d) < 2.5 * sd]
        if kept.size < 5:
            break
        new = math.sqrt(float(np.mean(kept**2)) / corr)
        done = abs(new - sd) < 1e-6 * sd
        sd = new
        if done:
            break
    return sd


def scan_noise_sd(s: np.ndarray, y: np.ndarray) -> float:
    """Noise SD of the responses from successive differences at the two ends of the sorted scan
    (the subthreshold and supramaximal plateaus a proper scan has: 8 % of the stimuli each), as
    the width of their central peak (pairs where no unit changed state differ by noise only,
    SD σ√2), pooled over both ends: units still toggling there fall outside the peak."""
    o = np.argsort(s, kind="stable")
    d = np.diff(y[o])
    w = max(12, d.size // 12)
    return max(_core_sd(np.r_[d[:w], d[-w:]]) / math.sqrt(2.0), 1e-9)


def preliminary_model(
    s: np.ndarray, y: np.ndarray, sig: float, rs: float = 0.02, n: int | None = None
) -> tuple[_Model, float]:
    """Stage 1 (slope and variance): the unit density and local unit size along the scan, the
    count N = ∫ρ ds, and a model of round(N) (or `n`) units placed at the quantiles of ρ."""
    from scipy.ndimage import gaussian_filter1d

    m = _pava(y)
    step = float(np.median(np.diff(s))) if s.size > 1 else 1.0
    bw = max(2.0, 0.25 / max(step, 1e-9))  # ~0.25 mA smoothing, at least 2 stimuli
    ms = gaussian_filter1d(m, bw)
    slope = np.maximum(np.gradient(ms, s), 0.0)
    v = np.maximum(gaussian_filter1d((y - ms) ** 2, bw) - sig**2, 0.0)
    a_loc = np.clip(math.sqrt(math.pi) * v / (rs * s * np.maximum(slope, 1e-12)), 2.0 * sig, None)
    dens = slope / a_loc
    cum = np.cumsum(dens * np.gradient(s))
    n_est = float(cum[-1])
    k = max(1, int(round(n_est))) if n is None else int(n)
    q = (np.arange(k) + 0.5) / k * cum[-1]
    th = np.interp(q, cum + np.arange(cum.size) * 1e-12, s)
    a = np.interp(th, s, a_loc)
    total = float(m[-1] - m[0])
    a = a * (total / a.sum()) if a.sum() > 0 else np.full(k, total / k)
    return _Model(a, th, rs * th, float(m[0])), n_est


def _estep(
    f: _Model,
    s: np.ndarray,
    y: np.ndarray,
    sig: float,
    *,
    want_map: bool = False,
    exact: bool = True,
    chains: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Posterior firing probabilities q, E[x xᵀ] (G) and E[x]·y (h) with x = [b; 1], per-stimulus
    log-likelihood and the most probable response. Exact for stimuli with at most MAX_ENUM units
    in play; beyond, Gibbs sampling (chains persist across EM iterations in `chains`) and, when
    `exact`, a grid DP for their log-likelihood."""
    n, k_all = f.n, s.size
    var = sig * sig
    p_all = f.probs(s)
    eps = 1e-5
    sure = p_all >= 1 - eps
    act = (p_all > eps) & ~sure
    m_k = act.sum(0)
    base = f.b0 + (f.a[:, None] * sure).sum(0) if n else np.full(k_all, f.b0)
    q = sure.astype(np.float64)
    llk = np.zeros(k_all)
    fit_map = base.copy()
    cov_blocks: list[tuple[np.ndarray, np.ndarray]] = []
    small = m_k <= MAX_ENUM
    for m in np.unique(m_k[small]):
        ks = np.flatnonzero(small & (m_k == m))
        if m == 0:
            llk[ks] = -0.5 * (y[ks] - base[ks]) ** 2 / var - math.log(_SQRT2PI * sig)
            continue
        c = _configs(int(m))
        ii = np.nonzero(act[:, ks].T)[1].reshape(ks.size, m)
        pk = p_all[ii, ks[:, None]]
        lw = np.log(pk) @ c.T + np.log1p(-pk) @ (1.0 - c).T
        mu = base[ks][:, None] + f.a[ii] @ c.T
        lw -= (y[ks][:, None] - mu) ** 2 / (2 * var)
        lz = logsumexp(lw, axis=1)
        w = np.exp(lw - lz[:, None])
        llk[ks] = lz - math.log(_SQRT2PI * sig)
        qa = w @ c
        q[ii, ks[:, None]] = qa
        if want_map:
            fit_map[ks] = mu[np.arange(ks.size), np.argmax(lw, axis=1)]
        e2 = np.einsum("kc,ci,cj->kij", w, c, c) - qa[:, :, None] * qa[:, None, :]
        cov_blocks.append((ii, e2))
    big = np.flatnonzero(~small)
    if big.size:
        _dense(f, s, y, sig, p_all, act, base, big, q, fit_map, llk, cov_blocks, chains, exact)
    x = np.vstack([q, np.ones(k_all)])
    g = x @ x.T
    h = x @ y
    for ii, e2 in cov_blocks:
        m = ii.shape[1]
        rows = np.repeat(ii, m, axis=1).ravel()
        cols = np.tile(ii, (1, m)).ravel()
        np.add.at(g, (rows, cols), e2.reshape(-1))
    return {"q": q, "G": g, "h": h, "llk": llk, "map": fit_map}


def _dense(
    f: _Model,
    s: np.ndarray,
    y: np.ndarray,
    sig: float,
    p_all: np.ndarray,
    act: np.ndarray,
    base: np.ndarray,
    big: np.ndarray,
    q: np.ndarray,
    fit_map: np.ndarray,
    llk: np.ndarray,
    cov_blocks: list[tuple[np.ndarray, np.ndarray]],
    chains: dict[str, Any] | None,
    exact: bool,
    sweeps: int = 30,
    burn: int = 8,
) -> None:
    """Stimuli with more than MAX_ENUM units in play: Gibbs sampling of the firing pattern,
    vectorised across stimuli (padded to the largest set), chains kept from the last call."""
    n, k_all = f.n, s.size
    var = sig * sig
    rng = chains["rng"] if chains is not None else np.random.default_rng(0)
    mmax = int(act[:, big].sum(0).max())
    kb = big.size
    ii = np.full((kb, mmax), n)
    for r, k in enumerate(big):
        a_ = np.flatnonzero(act[:, k])
        ii[r, : a_.size] = a_
    valid = ii < n
    ap = np.where(valid, np.r_[f.a, 0.0][ii], 0.0)
    pk = np.zeros((kb, mmax))
    pk[valid] = p_all[ii[valid], big[np.nonzero(valid)[0]]]
    lodds = np.log(np.clip(pk, 1e-300, 1.0)) - np.log(np.clip(1.0 - pk, 1e-300, 1.0))
    prev = chains.get("B") if chains is not None else None
    if prev is not None and prev.shape == (n, k_all):
        b = prev[np.minimum(ii, n - 1), big[:, None]].astype(np.float64) * valid
    else:
        b = ((rng.uniform(size=pk.shape) < pk) & valid).astype(np.float64)
    r_ = y[big] - base[big] - (ap * b).sum(1)
    acc = np.zeros((kb, mmax))
    acc2 = np.zeros((kb, mmax, mmax))
    ns = 0
    for sw in range(sweeps):
        for j in range(mmax):
            rj = r_ + ap[:, j] * b[:, j]
            d = lodds[:, j] + (rj**2 - (rj - ap[:, j]) ** 2) / (2 * var)
            bj = (rng.uniform(size=kb) * (1 + np.exp(-np.clip(d, -50, 50))) < 1) & valid[:, j]
            b[:, j] = bj
            r_ = rj - ap[:, j] * bj
        if sw >= burn:
            acc += b
            acc2 += b[:, :, None] * b[:, None, :]
            ns += 1
    qa = acc / ns
    for r, k in enumerate(big):
        v = valid[r]
        q[ii[r][v], k] = qa[r][v]
        fit_map[k] = base[k] + float(ap[r] @ (qa[r] > 0.5))
    cov = acc2 / ns - qa[:, :, None] * qa[:, None, :]
    for r in range(kb):
        v = valid[r]
        cov_blocks.append((ii[r][v][None, :], cov[r][np.ix_(v, v)][None, :, :]))
    if chains is not None:
        bb = chains.get("B")
        if bb is None or bb.shape != (n, k_all):
            bb = chains["B"] = np.zeros((n, k_all), dtype=bool)
        for r, k in enumerate(big):
            v = valid[r]
            bb[ii[r][v], k] = b[r][v] > 0.5
    for k in big:
        iact = np.flatnonzero(act[:, k])
        p = p_all[iact, k]
        aa = f.a[iact]
        if exact:
            llk[k] = _dp_loglik(aa, p, y[k] - base[k], sig)
        else:
            v_ = var + float((aa**2 * p * (1 - p)).sum())
            mu_ = base[k] + float(aa @ p)
            llk[k] = -0.5 * (y[k] - mu_) ** 2 / v_ - 0.5 * math.log(2 * math.pi * v_)


def _dp_loglik(a: np.ndarray, p: np.ndarray, y: float, sig: float) -> float:
    """Exact log density of y under Σ aᵢ·Bernoulli(pᵢ) + N(0, σ²), by a DP on a σ/4 grid."""
    hbin = sig / 4.0
    size = int(math.ceil(float(a.sum()) / hbin)) + 2
    dist = np.zeros(size)
    dist[0] = 1.0
    for ai, pi in zip(a, p, strict=True):
        sh = int(round(ai / hbin))
        nd = dist * (1 - pi)
        if sh:
            nd[sh:] += dist[: size - sh] * pi
        else:
            nd += dist * pi
        dist = nd
    j = np.flatnonzero(dist > 1e-14)
    dens = float(np.sum(dist[j] * np.exp(-((y - j * hbin) ** 2) / (2 * sig * sig)))) / (
        _SQRT2PI * sig
    )
    return math.log(max(dens, 1e-300))


def _mstep(
    f: _Model, s: np.ndarray, q: np.ndarray, g: np.ndarray, h: np.ndarray, amin: float, amax: float
) -> None:
    n = f.n
    if n == 0:
        f.b0 = float(h[0] / g[0, 0])
        return
    z = np.r_[f.a, f.b0]
    lo = np.r_[np.full(n, amin), -np.inf]
    hi = np.r_[np.full(n, amax), np.inf]
    dg = np.diag(g).copy()
    for _ in range(20):  # bounded least squares by coordinate descent on the normal equations
        for i in range(n + 1):
            if dg[i] > 1e-9:
                z[i] = min(hi[i], max(lo[i], z[i] + (h[i] - g[i] @ z) / dg[i]))
    f.a, f.b0 = z[:n], float(z[n])
    # probit (threshold, log spread) per unit: two Newton steps with a prior on log RS
    mu0, sd0 = RS_PRIOR
    th, ls = f.th.copy(), np.log(f.sg)
    for _ in range(2):
        sg = np.exp(ls)
        zz = (s[None, :] - th[:, None]) / sg[:, None]
        phi_c = np.clip(ndtr(zz), 1e-12, 1 - 1e-12)
        pdf = np.exp(-0.5 * zz**2) / _SQRT2PI
        gz = q * pdf / phi_c - (1 - q) * pdf / (1 - phi_c)
        gth = -gz.sum(1) / sg
        gls = -(gz * zz).sum(1) - (ls - np.log(th) - mu0) / sd0**2
        w = pdf**2 / (phi_c * (1 - phi_c))
        i_th = w.sum(1) / sg**2 + 1e-9
        i_ls = (w * zz**2).sum(1) + 1.0 / sd0**2
        i_c = (w * zz).sum(1) / sg
        det = np.maximum(i_th * i_ls - i_c**2, 1e-12)
        dth = (i_ls * gth - i_c * gls) / det
        dls = (-i_c * gth + i_th * gls) / det
        th = th + np.clip(dth, -0.3, 0.3)
        ls = ls + np.clip(dls, -0.3, 0.3)
    f.th, f.sg = th, np.exp(ls)


def _em(
    f: _Model,
    s: np.ndarray,
    y: np.ndarray,
    sig: float,
    iters: int,
    *,
    score: bool = True,
    amax: float = math.inf,
) -> _Model:
    amin = 2.0 * sig
    chains: dict[str, Any] = {"rng": np.random.default_rng(12345)}
    for _ in range(iters):
        post = _estep(f, s, y, sig, exact=False, chains=chains)
        _mstep(f, s, post["q"], post["G"], post["h"], amin, amax)
    if score:
        f.ll = float(_estep(f, s, y, sig, chains=chains)["llk"].sum())
    return f


def _bic(f: _Model, k: int) -> float:
    return f.ll - 0.5 * (3 * f.n + 1) * math.log(k)


def cmap_scan_mune(
    stimuli_ma: object,
    responses_uv: object,
    *,
    noise_uv: float | None = None,
    rs0: float = 0.02,
) -> CmapScanResult:
    """MUNE from a CMAP scan: stimulus intensities (mA, or any unit) and response sizes (µV).

    The scan must run from subthreshold to supramaximal (both plateaus are used: noise from
    their successive differences, the CMAP from the top). `noise_uv` overrides the estimate.
    """
    s = as_float_array(stimuli_ma, "stimulus intensities", min_len=MIN_STIMULI)
    y = as_float_array(responses_uv, "responses", min_len=MIN_STIMULI)
    if s.size != y.size:
        raise UsageError(f"{s.size} stimulus intensities but {y.size} responses")
    if np.any(s <= 0):
        raise UsageError("stimulus intensities must be positive")
    if not 0.001 <= rs0 <= 0.2:
        raise UsageError("rs0 (initial relative spread) must be within 0.001-0.2")
    o = np.argsort(s, kind="stable")
    s, y = s[o], y[o]
    sig = float(noise_uv) if noise_uv is not None else scan_noise_sd(s, y)
    if not sig > 0:
        raise UsageError("noise SD must be positive")
    notes: list[str] = []
    k_end = max(8, s.size // 20)
    low, top = float(np.median(y[:k_end])), float(np.median(y[-k_end:]))
    cmap_max = top - low
    if cmap_max < 10 * sig:
        raise UsageError(
            "the scan has no clear response (CMAP below 10 x noise): is the stimulator reaching "
            "the nerve?"
        )
    mono = _pava(y)
    if mono[-1] - mono[-k_end] > max(3 * sig, 0.02 * cmap_max):
        notes.append(
            "responses still rise at the top of the scan: the CMAP may not be supramaximal"
        )
    if mono[k_end] - mono[0] > max(3 * sig, 0.02 * cmap_max):
        notes.append(
            "responses already rise at the bottom of the scan: it may not start subthreshold"
        )
    f, prelim = preliminary_model(s, y, sig, rs0)
    f = _em(f, s, y, sig, 25)
    order = np.argsort(f.th)
    p = f.probs(s)
    mean = f.b0 + f.a @ p
    sd = np.sqrt(sig**2 + (f.a**2) @ (p * (1 - p)))
    units = tuple(ScanUnit(float(f.a[i]), float(f.th[i]), float(f.sg[i] / f.th[i])) for i in order)
    return CmapScanResult(
        mune=f.n,
        units=units,
        cmap_max_uv=cmap_max,
        noise_uv=sig,
        preliminary_mune=prelim,
        loglik=f.ll,
        bic=_bic(f, s.size),
        stimuli_ma=tuple(s.tolist()),
        responses_uv=tuple(y.tolist()),
        model_mean_uv=tuple(mean.tolist()),
        model_sd_uv=tuple(sd.tolist()),
        notes=tuple(notes),
    )

"""Motor-unit pool after Fuglevand, Winter & Patla (J Neurophysiol 1993;70:2470).

Units are indexed 0..N-1 in recruitment order (smallest first). Each unit carries what the
renderers need: Fuglevand's recruitment threshold, peak rate, twitch; fibre count and territory
position (for surface and needle MUAPs); distal motor latency (for CMAPs); electrical threshold
and relative spread after Bostock 2016 (for CMAP scans); NMJ jitter and impulse blocking
(for needle jitter and jiggle). Ageing and myopathy act on a pool and return a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from muwatch.errors import UsageError
from muwatch.sim.muscles import Muscle, muscle

Variability = Literal["physiological", "shared_shape", "identical"]

MFR_HZ = 8.0  # Fuglevand 1993 minimum firing rate
PFR1_HZ = 35.0  # peak rate of the first unit
PFRD_HZ = 10.0  # peak-rate difference first to last unit
R0_MM = 6.0  # surface attenuation scale: g(r) = 1 / (1 + (r/R0)^2)
MUAP_BIPHASIC = 0.9  # Hermite-Rodriguez HR1 weight of a typical belly-tendon S-MUP
# Per-unit spread of S-MUP width (log SD) and of distal latency beyond the axon-velocity
# gradient (terminal branches, end-plate position). Together they set the CMAP's phase
# cancellation (1 − CMAP / Σ S-MUP) to ≈ 25 %, see docs/simulator.md.
WIDTH_LOG_SD = 0.25
LATENCY_SD_S = 0.3e-3
# Electrical size (fibre count, hence S-MUP amplitude) across the pool: the S-MUP distribution of
# Bostock's MScanFit simulation (Muscle Nerve 2016;53:889: 25 µV + exponential of mean 37.5 µV,
# i.e. a minimum of 0.4 x the mean), laid out in recruitment order (size principle) with a
# log-normal scatter. Low-threshold units thus have S-MUPs of a few tens of µV, as
# spike-triggered averaging finds at threshold force (DE-STA MUNE ~ CMAP / S-MUP: TA 226 at
# threshold, 91 at 40 % MVC, i.e. threshold S-MUPs ~ 25 µV, ~2.5x smaller than at 40 % MVC).
# Making fibres proportional to Fuglevand's 100-fold twitch range instead gave the first units
# S-MUPs of 2-9 µV, below electrode noise, which no recording shows.
SMUP_MIN_FRACTION = 0.4
SIZE_LOG_SD = 0.25  # [check] scatter of S-MUP size around the recruitment-order trend
# Twitch force from the same fibre count (default, `twitch_range=None`): a unit's force and its
# S-MUP both grow with its innervation number (Enoka & Fuglevand, Muscle Nerve 2001;24:4), as
# Fuglevand 1993 assumed (MUAP amplitude ∝ twitch). Fuglevand's rank law (a 100-fold twitch
# range by recruitment rank) on top of S-MUPs that span only ~10-fold made each unit's MUAP
# energy grow like its force rather than its force squared, so the surface EMG amplitude rose
# like √force: 24 % of MVC EMG at 5 % MVC and 64 % at 40 % in healthy ADM, where hand muscles
# show a near-linear RMS-force relation (Lawrence & De Luca, J Appl Physiol 1983;54:1653). With
# force ∝ fibres it reads 12 % and 41 % (docs/simulator.md); below ~10 % MVC no pool is linear:
# one unit at its minimum rate is already a few % of the MVC EMG (random summation).


def surface_gain(r_mm: np.ndarray | float) -> np.ndarray:
    """Amplitude attenuation of a unit at distance r from a surface electrode (volume conductor)."""
    r = np.asarray(r_mm, dtype=float)
    return 1.0 / (1.0 + (r / R0_MM) ** 2)


def surface_width_factor(r_mm: np.ndarray | float) -> np.ndarray:
    """MUAP widening with distance: the tissue low-pass filters distant sources."""
    return 0.7 + 0.06 * np.asarray(r_mm, dtype=float)


@dataclass(frozen=True)
class MotorUnitPool:
    """A pool of N motor units with every per-unit property as an array of length N."""

    muscle: Muscle
    seed: int
    rr: float  # recruitment range (largest / smallest threshold)
    ids: np.ndarray  # stable unit ids (kept across ageing steps)
    rte: np.ndarray  # recruitment threshold excitation
    pfr_hz: np.ndarray  # peak firing rate
    twitch: np.ndarray  # peak twitch force (arbitrary units; ∝ fibres by default)
    t_contract_s: np.ndarray  # twitch contraction time
    fibres: np.ndarray  # muscle fibres innervated
    lateral_mm: np.ndarray  # territory centre, across the muscle (0 = centre)
    depth_mm: np.ndarray  # territory centre depth below the skin
    volts_per_fibre: np.ndarray  # surface source strength per fibre (before attenuation)
    width_s: np.ndarray  # surface MUAP Hermite-Rodriguez scale at 5 mm
    shape_b: np.ndarray  # HR1 weight (biphasic component) of the surface MUAP
    latency_s: np.ndarray  # distal motor latency after a stimulus
    threshold_ma: np.ndarray  # electrical threshold (Bostock 2016)
    rel_spread: np.ndarray  # relative spread of the threshold (Bostock 2016)
    jitter_us: np.ndarray  # NMJ jitter as MCD of inter-potential intervals
    block_prob: np.ndarray  # probability that one fibre's NMJ blocks on a discharge
    fibre_spread_s: np.ndarray  # SD of fibre latencies within the unit (needle shape)
    sfap_scale: np.ndarray  # single-fibre potential size (1 normal; < 1 myopathy)
    adopted: np.ndarray  # fraction of the unit's fibres adopted by reinnervation
    fibre_cv_m_s: np.ndarray  # muscle-fibre conduction velocity (bipolar MUAP shape)
    mfr_hz: float = MFR_HZ
    rate_gain: float = 1.0  # Hz per unit of excitation
    isi_cv: float = 0.15
    history: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n(self) -> int:
        """Number of motor units."""
        return int(self.rte.size)

    @property
    def e_max(self) -> float:
        """Excitation at which the last unit reaches its peak rate (Fuglevand 1993)."""
        return float(self.rte[-1] + (self.pfr_hz[-1] - self.mfr_hz) / self.rate_gain)

    def firing_rate(self, excitation: float | np.ndarray) -> np.ndarray:
        """Mean firing rate of every unit at steady excitation E (0 for units not recruited)."""
        e = np.asarray(excitation, dtype=float)[..., None]
        rate = np.minimum(self.rate_gain * (e - self.rte) + self.mfr_hz, self.pfr_hz)
        return np.where(e >= self.rte, rate, 0.0)

    def surface_amplitude(self, lateral_mm: float = 0.0, skin_mm: float = 0.0) -> np.ndarray:
        """Negative-peak S-MUP amplitude (V) of every unit at a skin electrode at `lateral_mm`."""
        r = np.hypot(self.lateral_mm - lateral_mm, self.depth_mm + skin_mm)
        return self.volts_per_fibre * self.fibres * surface_gain(r)

    def mean_force(self, excitation: float | np.ndarray) -> np.ndarray:
        """Steady mean force (twitch units) at excitation E, with Fuglevand's rate saturation."""
        rate = self.firing_rate(excitation)
        str_ = self.t_contract_s * rate
        sat = np.where(
            str_ <= 0.4,
            1.0,
            (1.0 - np.exp(-2.0 * str_**3))
            / np.maximum(str_, 1e-12)
            / ((1 - np.exp(-2 * 0.4**3)) / 0.4),
        )
        return np.sum(sat * self.twitch * self.t_contract_s * np.e * rate, axis=-1)

    def excitation_for(self, pct_mvc: np.ndarray | float) -> np.ndarray:
        """Excitation giving `pct_mvc` % of the pool's maximal steady force (inverse of mean_force)."""
        grid = np.linspace(0.0, self.e_max, 2048)
        force = self.mean_force(grid)
        force = np.maximum.accumulate(force / force[-1] * 100.0)
        pct = np.clip(np.asarray(pct_mvc, dtype=float), 0.0, 100.0)
        return np.interp(pct, force, grid, left=0.0)

    def subset(self, keep: np.ndarray) -> MotorUnitPool:
        """The pool restricted to the units where `keep` is true (order preserved)."""
        keep = np.asarray(keep)
        arrays = {
            name: getattr(self, name)[keep]
            for name, value in self.__dict__.items()
            if isinstance(value, np.ndarray)
        }
        return replace(self, **arrays)


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *stream])


def make_pool(
    muscle_name: str | Muscle = "ADM",
    n_units: int | None = None,
    seed: int = 0,
    *,
    rr: float = 30.0,
    twitch_range: float | None = None,
    isi_cv: float = 0.15,
    variability: Variability = "physiological",
    jitter_us: float | None = None,
) -> MotorUnitPool:
    """Build a Fuglevand pool of `n_units` (default: the muscle's count) for a named muscle.

    `variability`: "physiological" draws positions, widths and shapes per unit;
    "shared_shape" keeps one MUAP shape for all units but sizes still differ (MUNIX checks);
    "identical" makes every unit's MUAP and latency the same (ICMUC = N check).
    `twitch_range`: None (default) makes twitch force proportional to the fibre count (see
    above); a number gives Fuglevand's rank law Pᵢ = exp(ln(range)·i/N) instead.
    """
    m = muscle(muscle_name)
    n = m.n_units if n_units is None else int(n_units)
    if not 1 <= n <= 5000:
        raise UsageError(f"n_units must be 1..5000, got {n}")
    if rr <= 1 or (twitch_range is not None and twitch_range <= 1):
        raise UsageError("rr and twitch_range must be > 1")
    if not 0.0 <= isi_cv <= 0.5:
        raise UsageError(f"isi_cv must be 0..0.5 (Fuglevand: 0.1-0.2), got {isi_cv}")
    rng = _rng(seed, 1)
    i = np.arange(1, n + 1, dtype=float)
    rte = np.exp(np.log(rr) * i / n)
    pfr = PFR1_HZ - PFRD_HZ * rte / rte[-1]
    # electrical size in recruitment order: exponential quantiles above a floor (Bostock 2016)
    quantile = -np.log(1.0 - (i - 0.5) / n)
    size = SMUP_MIN_FRACTION + (1.0 - SMUP_MIN_FRACTION) * quantile / quantile.mean()
    if variability == "physiological":
        size = size * np.exp(_rng(seed, 4).normal(0.0, SIZE_LOG_SD, n))
    fibres = np.maximum(1, np.round(m.innervation_ratio * size / size.mean())).astype(np.int64)

    if variability == "identical":
        fibres = np.full(n, m.innervation_ratio, dtype=np.int64)
    if twitch_range is None:
        twitch = fibres / float(fibres.min())  # force ∝ innervation number
        span = float(twitch.max())
    else:
        twitch = np.exp(np.log(twitch_range) * i / n)  # Fuglevand's rank law
        span = float(twitch_range)
    # contraction time 90 ms for the weakest unit, a third of that for the strongest (Fuglevand)
    t_contract = 0.090 * (1.0 / twitch) ** (np.log(3.0) / np.log(span) if span > 1 else 0.0)
    if variability == "physiological":
        lateral = rng.uniform(-m.width_mm / 2, m.width_mm / 2, n)
        depth = rng.uniform(*m.depth_mm, n)
        width = m.muap_width_s * np.exp(rng.normal(0.0, WIDTH_LOG_SD, n))
        shape_b = np.clip(MUAP_BIPHASIC + rng.normal(0.0, 0.15, n), 0.4, 1.4)
    else:
        lateral = np.zeros(n)
        depth = np.full(n, float(np.mean(m.depth_mm)))
        width = np.full(n, m.muap_width_s)
        shape_b = np.full(n, MUAP_BIPHASIC)
    # Source strength per fibre such that the expected S-MUP over the muscle centre is the
    # muscle's mean S-MUP (expectation over the territory distribution, by quadrature).
    lat_q, dep_q = np.meshgrid(
        np.linspace(-m.width_mm / 2, m.width_mm / 2, 101), np.linspace(*m.depth_mm, 101)
    )
    mean_gain = float(np.mean(surface_gain(np.hypot(lat_q, dep_q))))
    vpf = np.full(n, m.smup_mean_v / (m.innervation_ratio * mean_gain))

    # Distal motor latency: bigger units have faster axons (size principle).
    cv = np.interp(i, [1, n], m.axon_cv_m_s) if n > 1 else np.full(1, m.axon_cv_m_s[1])
    latency = m.nmj_delay_s + m.conduction_mm * 1e-3 / cv
    if variability == "physiological":
        latency = latency + rng.normal(0.0, LATENCY_SD_S, n)
    else:
        latency = np.full(n, float(np.mean(latency)))
    thr_mean, thr_sd = m.stim_threshold_ma
    threshold = np.maximum(rng.normal(thr_mean, thr_sd, n), 0.2 * thr_mean)
    rel_spread = np.full(n, 0.0165)
    jit = m.jitter_us if jitter_us is None else float(jitter_us)
    # Muscle-fibre conduction velocity ~4 m/s, higher in larger units (3.5 → 5 m/s).
    fibre_cv = 3.5 + 1.5 * (i - 1) / max(n - 1, 1)
    if variability == "physiological":
        fibre_cv = fibre_cv + rng.normal(0.0, 0.2, n)
    return MotorUnitPool(
        muscle=m,
        seed=int(seed),
        rr=float(rr),
        ids=np.arange(n, dtype=np.int64),
        rte=rte,
        pfr_hz=pfr,
        twitch=twitch,
        t_contract_s=t_contract,
        fibres=fibres,
        lateral_mm=lateral,
        depth_mm=depth,
        volts_per_fibre=vpf,
        width_s=width,
        shape_b=shape_b,
        latency_s=latency,
        threshold_ma=threshold,
        rel_spread=rel_spread,
        jitter_us=np.full(n, jit),
        block_prob=np.zeros(n),
        fibre_spread_s=np.full(n, 0.25e-3),
        sfap_scale=np.ones(n),
        adopted=np.zeros(n),
        fibre_cv_m_s=np.asarray(fibre_cv, dtype=float),
        isi_cv=float(isi_cv),
        history=(f"make_pool({m.name}, n={n}, seed={seed})",),
    )


def age_pool(
    pool: MotorUnitPool,
    loss_fraction: float,
    *,
    adoption: float = 0.6,
    seed: int = 0,
    neighbours: int = 3,
    jitter_gain: float = 1.5,
    block_gain: float = 0.15,
) -> MotorUnitPool:
    """Lose a fraction of units; nearby survivors adopt `adoption` of the orphaned fibres.

    Collateral reinnervation makes survivors larger (bigger S-MUPs, larger twitches), their new
    terminals are immature (more jitter and blocking: jiggle) and slower (more polyphasic
    needle MUAPs). Adoption goes to the `neighbours` nearest survivors by territory position.
    """
    if not 0.0 <= loss_fraction < 1.0:
        raise UsageError(f"loss_fraction must be in [0, 1), got {loss_fraction}")
    if not 0.0 <= adoption <= 1.0:
        raise UsageError(f"adoption must be in [0, 1], got {adoption}")
    rng = _rng(seed, 2, pool.n)
    n_lost = int(round(loss_fraction * pool.n))
    if n_lost >= pool.n:
        n_lost = pool.n - 1
    dead = np.zeros(pool.n, dtype=bool)
    dead[rng.choice(pool.n, size=n_lost, replace=False)] = True
    fibres = pool.fibres.astype(float).copy()
    gained = np.zeros(pool.n)
    alive = np.flatnonzero(~dead)
    k = min(neighbours, alive.size)
    for d in np.flatnonzero(dead):
        dist = np.hypot(
            pool.lateral_mm[alive] - pool.lateral_mm[d], pool.depth_mm[alive] - pool.depth_mm[d]
        )
        near = alive[np.argsort(dist, kind="stable")[:k]]
        gained[near] += adoption * fibres[d] / k
    new_fibres = fibres + gained
    adopted_frac = (pool.adopted * fibres + gained) / new_fibres
    scale = new_fibres / fibres
    aged = replace(
        pool,
        fibres=np.round(new_fibres).astype(np.int64),
        twitch=pool.twitch * scale,
        adopted=adopted_frac,
        jitter_us=pool.jitter_us * (1.0 + jitter_gain * (adopted_frac - pool.adopted)),
        block_prob=np.clip(pool.block_prob + block_gain * (adopted_frac - pool.adopted), 0, 0.5),
        fibre_spread_s=pool.fibre_spread_s * (1.0 + 2.0 * (adopted_frac - pool.adopted)),
        history=pool.history
        + (f"age_pool(loss={loss_fraction}, adoption={adoption}, seed={seed})",),
    )
    return aged.subset(~dead)


def myopathic_pool(pool: MotorUnitPool, fibre_loss: float = 0.5, *, seed: int = 0) -> MotorUnitPool:
    """Myopathy-like pool: units keep their count but lose fibres and fibre size.

    Gives small, short, polyphasic MUAPs: fewer and smaller fibres (lower S-MUP and SFAP), and
    variable fibre diameters (wider spread of fibre latencies); surface MUAPs narrow.
    """
    if not 0.0 <= fibre_loss < 1.0:
        raise UsageError(f"fibre_loss must be in [0, 1), got {fibre_loss}")
    rng = _rng(seed, 3, pool.n)
    keep = 1.0 - fibre_loss * rng.uniform(0.7, 1.0, pool.n)
    return replace(
        pool,
        fibres=np.maximum(1, np.round(pool.fibres * keep)).astype(np.int64),
        twitch=pool.twitch * keep,
        sfap_scale=pool.sfap_scale * 0.6,
        width_s=pool.width_s * 0.75,
        fibre_spread_s=pool.fibre_spread_s * 2.5,
        history=pool.history + (f"myopathic_pool(fibre_loss={fibre_loss}, seed={seed})",),
    )

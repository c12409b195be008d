"""Zero-copy wrappers over the cffi module `muwatch._core` (the fixed-point C core).

numpy arrays go to C through `ffi.from_buffer` (no copy; C-contiguous int32 required, int16
is widened once); events come back as numpy structured arrays laid out exactly like
`mw_event_t`. Every parameter is validated here, with a message saying what to change,
before C sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from muwatch._core import ffi, lib
from muwatch.analysis._design import Q15, Q31, Section
from muwatch.errors import UsageError

DATA_MAX = int(lib.MW_DATA_MAX)
POLARITIES = {"neg": int(lib.MW_POL_NEG), "pos": int(lib.MW_POL_POS), "both": int(lib.MW_POL_BOTH)}
EV_TRUNCATED = int(lib.MW_EV_TRUNCATED)

#: numpy view of mw_event_t (offsets taken from the compiled struct)
EVENT_DTYPE = np.dtype(
    {
        "names": ["index", "amplitude", "threshold", "width", "polarity", "flags"],
        "formats": ["<i8", "<i4", "<i4", "<i2", "i1", "u1"],
        "offsets": [
            ffi.offsetof("mw_event_t", f)
            for f in ("index", "amplitude", "threshold", "width", "polarity", "flags")
        ],
        "itemsize": ffi.sizeof("mw_event_t"),
    }
)


def as_int32(x: Any, name: str = "signal") -> np.ndarray:
    """A 1-D C-contiguous int32 view of x (int32 passes through without a copy)."""
    a = np.asarray(x)
    if a.ndim != 1:
        raise UsageError(f"{name} must be one channel (1-D), got shape {a.shape}")
    if a.dtype == np.int32:
        return np.ascontiguousarray(a)
    if a.dtype in (np.int16, np.int8, np.uint8, np.uint16):
        return a.astype(np.int32)
    raise UsageError(f"{name} must be int16 or int32 samples, got {a.dtype}")


def _ptr(ctype: str, a: np.ndarray) -> Any:
    return ffi.from_buffer(ctype, a, require_writable=False)


class BiquadCascade:
    """A cascade of sections of one kind (all Q15, Q31 or Q31x64) over int32 (or int16, Q15) data."""

    def __init__(self, sections: list[Section]) -> None:
        if not sections:
            raise UsageError("a biquad cascade needs at least one section")
        kinds = {s.kind for s in sections}
        shifts = {s.post_shift for s in sections}
        if len(kinds) != 1 or len(shifts) != 1:
            raise UsageError(
                "a cascade needs one kind and one post_shift; use Chain for mixed sections"
            )
        self.kind = kinds.pop()
        n = len(sections)
        flat = [c for s in sections for c in s.coeffs]
        if self.kind == Q15:
            self._coeffs = ffi.new("int16_t[]", flat)
            self._state = ffi.new("mw_biq15_state_t[]", n)
            self._s = ffi.new("mw_biquad_q15_t *")
            rc = lib.mw_biquad_q15_init(self._s, n, self._coeffs, self._state, shifts.pop())
        elif self.kind == Q31:
            self._coeffs = ffi.new("int32_t[]", flat)
            self._state = ffi.new("mw_biq32_state_t[]", n)
            self._s = ffi.new("mw_biquad_q31_t *")
            rc = lib.mw_biquad_q31_init(self._s, n, self._coeffs, self._state, shifts.pop())
        else:
            self._coeffs = ffi.new("int32_t[]", flat)
            self._state = ffi.new("mw_biq31_state_t[]", n)
            self._s = ffi.new("mw_biquad_q31x64_t *")
            rc = lib.mw_biquad_q31x64_init(self._s, n, self._coeffs, self._state, shifts.pop())
        if rc != 0:
            raise UsageError(f"biquad coefficients rejected by the core (code {rc})")

    def process(self, x: Any) -> np.ndarray:
        """Filter a block; int16 in gives int16 out (Q15 kind only), int32 gives int32."""
        a = np.asarray(x)
        if a.ndim != 1:
            raise UsageError(f"signal must be 1-D, got shape {a.shape}")
        if a.dtype == np.int16 and self.kind == Q15:
            a = np.ascontiguousarray(a)
            out16 = np.empty_like(a)
            lib.mw_biquad_q15_process_i16(
                self._s, _ptr("int16_t[]", a), ffi.from_buffer("int16_t[]", out16), a.size
            )
            return out16
        a = as_int32(a)
        out = np.empty_like(a)
        fn = {
            Q15: lib.mw_biquad_q15_process,
            Q31: lib.mw_biquad_q31_process,
        }.get(self.kind, lib.mw_biquad_q31x64_process)
        fn(self._s, _ptr("int32_t[]", a), ffi.from_buffer("int32_t[]", out), a.size)
        return out


@dataclass(frozen=True)
class DetectorParams:
    """Detector settings in samples (the presets convert from milliseconds)."""

    thr_mult: float  # threshold = median(|d|) * thr_mult (k / 0.6745 for plain detection)
    ceil_mult: float  # artifact ceiling likewise, 0 = off
    dead: int
    align: int
    pre: int
    post: int
    polarity: str = "both"
    neo: bool = False
    neo_shift: int = 0
    blank: int = 0

    def validate(self) -> None:
        if not (0.0 < self.thr_mult <= 256.0):
            raise UsageError(f"threshold multiplier {self.thr_mult:g} must be in (0, 256]")
        if self.ceil_mult and not (self.thr_mult < self.ceil_mult <= 256.0):
            raise UsageError(
                f"artifact ceiling {self.ceil_mult:g} must be above the threshold "
                f"{self.thr_mult:g} and at most 256 (or 0 to disable)"
            )
        if self.polarity not in POLARITIES:
            raise UsageError(f"polarity {self.polarity!r}; choose one of {sorted(POLARITIES)}")
        if not (1 <= self.dead <= 65535):
            raise UsageError(f"dead time of {self.dead} samples must be 1..65535")
        if not (0 <= self.align < self.dead):
            raise UsageError(
                f"alignment window ({self.align} samples) must be shorter than the dead time "
                f"({self.dead} samples)"
            )
        if self.pre < 0 or self.post < 0 or self.pre + self.post + 1 > 1024:
            raise UsageError(f"snippet of {self.pre}+{self.post}+1 samples must be 1..1024")
        if self.post // self.dead + 1 > int(lib.MW_DETECT_PENDING):
            raise UsageError(
                f"snippet tail ({self.post} samples) may be at most "
                f"{int(lib.MW_DETECT_PENDING) - 1} dead times ({self.dead} samples) long"
            )
        if not (0 <= self.neo_shift <= 62) or not (0 <= self.blank < 2**32):
            raise UsageError("neo_shift must be 0..62 and blank 0..2^32-1")

    def fill(self, c: Any) -> None:
        self.validate()
        c.thr_mult_q12 = int(round(self.thr_mult * 4096))
        c.ceil_mult_q12 = int(round(self.ceil_mult * 4096))
        c.blank = int(self.blank)
        c.dead = int(self.dead)
        c.align = int(self.align)
        c.pre = int(self.pre)
        c.post = int(self.post)
        c.polarity = POLARITIES[self.polarity]
        c.neo = 1 if self.neo else 0
        c.neo_shift = int(self.neo_shift)


def _chain_cfg(
    sections: list[Section], det: DetectorParams, noise_shift: int, input_shift: int
) -> Any:
    """A validated mw_chain_cfg_t for these sections and detector settings."""
    if len(sections) > int(lib.MW_CHAIN_MAX_SECTIONS):
        raise UsageError(
            f"{len(sections)} filter sections; the core runs at most "
            f"{int(lib.MW_CHAIN_MAX_SECTIONS)}"
        )
    if not (int(lib.MW_NOISE_SHIFT_START) <= noise_shift <= int(lib.MW_NOISE_SHIFT_MAX)):
        raise UsageError(f"noise_shift {noise_shift} outside the core's range")
    if not (0 <= input_shift <= 16):
        raise UsageError(f"input_shift {input_shift} must be 0..16")
    cfg = ffi.new("mw_chain_cfg_t *")
    for k, s in enumerate(sections):
        for j, v in enumerate(s.coeffs):
            cfg.coeffs[k][j] = v
        cfg.post_shift[k] = s.post_shift
        cfg.kind[k] = s.kind
    cfg.n_sections = len(sections)
    cfg.input_shift = input_shift
    cfg.noise_shift = noise_shift
    det.fill(cfg.det)
    rc = lib.mw_chain_cfg_check(cfg)
    if rc != 0:
        raise UsageError(f"detection chain configuration rejected by the core (code {rc})")
    return cfg


def _ring_len(snip_len: int) -> int:
    return 1 << max(1, (snip_len - 1).bit_length())


class Chain:
    """One channel of the detection chain (filters -> noise -> detector) on int32 samples.

    Feed blocks in order with `process`; call `flush` once at the end. Output of any chunking
    is identical to one call (the C state carries over).
    """

    def __init__(
        self,
        sections: list[Section],
        det: DetectorParams,
        *,
        noise_shift: int,
        input_shift: int = 0,
        snippets: bool = True,
    ) -> None:
        self.sections = list(sections)
        self.det = det
        self.cfg = cfg = _chain_cfg(self.sections, det, noise_shift, input_shift)
        self.snip_len = det.pre + det.post + 1
        self._ring: Any = ffi.NULL
        ring_len = 0
        if snippets:
            ring_len = _ring_len(self.snip_len)
            self._ring = ffi.new("int32_t[]", ring_len)
        self._ch = ffi.new("mw_chain_t *")
        rc = lib.mw_chain_init(self._ch, cfg, self._ring, ring_len)
        if rc != 0:
            raise UsageError(f"detection chain rejected by the core (code {rc})")
        self.snippets = snippets

    def settle(self, x0: int) -> None:
        lib.mw_chain_settle(self._ch, self.cfg, int(np.clip(x0, -DATA_MAX, DATA_MAX)))

    def prime(self, x: Any) -> None:
        """Learn the noise level on x (the start of the recording), then restart at sample 0."""
        a = as_int32(x)
        work = np.empty_like(a)
        lib.mw_chain_prime(
            self._ch, self.cfg, _ptr("int32_t[]", a), ffi.from_buffer("int32_t[]", work), a.size
        )

    def _buffers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        ev = np.zeros(n, dtype=EVENT_DTYPE)
        sn = np.zeros((n, self.snip_len) if self.snippets else (0, self.snip_len), np.int32)
        return ev, sn

    def process(self, x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Filter and detect one block: (events, snippets, filtered samples)."""
        a = as_int32(x)
        out = np.empty_like(a)
        cap = int(lib.mw_detect_max_events(ffi.addressof(self.cfg, "det"), a.size))
        ev, sn = self._buffers(cap)
        n = lib.mw_chain_process(
            self._ch,
            self.cfg,
            _ptr("int32_t[]", a),
            ffi.from_buffer("int32_t[]", out),
            a.size,
            ffi.from_buffer("mw_event_t[]", ev),
            cap,
            ffi.from_buffer("int32_t[]", sn) if self.snippets else ffi.NULL,
        )
        return ev[:n].copy(), sn[:n].copy(), out

    def filter(self, x: Any) -> np.ndarray:
        """Filters only (the state carries over; detection untouched): filtered samples."""
        a = as_int32(x)
        out = np.empty_like(a)
        lib.mw_chain_filter(
            self._ch, self.cfg, _ptr("int32_t[]", a), ffi.from_buffer("int32_t[]", out), a.size
        )
        return out

    def learn_noise(self, y: Any) -> None:
        """Learn the noise level on already filtered samples (e.g. the start of a zero-phase
        filtered recording) and end the warm-up, like `prime` does on raw samples."""
        a = as_int32(y)
        noise = ffi.addressof(self._ch, "noise")
        lib.mw_noise_process(noise, _ptr("int32_t[]", a), a.size)
        lib.mw_noise_set_warm(noise)

    def detect(self, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Noise and detection on already filtered samples (in order, any chunking):
        (events, snippets)."""
        a = as_int32(y)
        cap = int(lib.mw_detect_max_events(ffi.addressof(self.cfg, "det"), a.size))
        ev, sn = self._buffers(cap)
        n = lib.mw_chain_detect(
            self._ch,
            self.cfg,
            _ptr("int32_t[]", a),
            a.size,
            ffi.from_buffer("mw_event_t[]", ev),
            cap,
            ffi.from_buffer("int32_t[]", sn) if self.snippets else ffi.NULL,
        )
        return ev[:n].copy(), sn[:n].copy()

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        ev, sn = self._buffers(int(lib.MW_DETECT_PENDING) + 1)
        n = lib.mw_chain_flush(
            self._ch,
            self.cfg,
            ffi.from_buffer("mw_event_t[]", ev),
            len(ev),
            ffi.from_buffer("int32_t[]", sn) if self.snippets else ffi.NULL,
        )
        return ev[:n].copy(), sn[:n].copy()

    @property
    def noise_median(self) -> int:
        return int(self._ch.noise.m)

    @property
    def counters(self) -> dict[str, int]:
        return _counters(self._ch.det)

    @staticmethod
    def state_bytes() -> int:
        """Per-channel state of this build (sizeof mw_chain_t, host ABI)."""
        return int(ffi.sizeof("mw_chain_t"))


def _counters(d: Any) -> dict[str, int]:
    return {
        "events": int(d.n_events),
        "rejected": int(d.n_rejected),
        "dropped": int(d.n_dropped),
        "unsearched": int(d.n_warmup),
    }


class Bank:
    """Several channels through one detection chain configuration (a multichannel recording).

    The filters of all channels run in one C call (`mw_chain_filter_bank`: 4 or 8 channels per
    vector on x86-64 with AVX2/FMA or AVX-512, bit-identical to the per-channel kernels), then
    noise and detection of all channels in another (`mw_chain_detect_bank`). Same results as
    one `Chain` per channel, for any chunking.
    """

    def __init__(
        self,
        sections: list[Section],
        det: DetectorParams,
        n_channels: int,
        *,
        noise_shift: int,
        input_shift: int = 0,
        snippets: bool = True,
    ) -> None:
        if not isinstance(n_channels, int) or not (1 <= n_channels <= 4096):
            raise UsageError(f"n_channels must be 1..4096, got {n_channels!r}")
        self.sections = list(sections)
        self.det = det
        self.n_channels = n_channels
        self.cfg = cfg = _chain_cfg(self.sections, det, noise_shift, input_shift)
        self.snip_len = det.pre + det.post + 1
        self.snippets = snippets
        ring_len = _ring_len(self.snip_len) if snippets else 0
        self._rings: Any = ffi.new("int32_t[]", max(1, ring_len * n_channels))
        self._ch = ffi.new("mw_chain_t[]", n_channels)
        self._work = np.empty(0, np.int32)  # reused when the output is not kept
        for c in range(n_channels):
            ring = self._rings + c * ring_len if snippets else ffi.NULL
            rc = lib.mw_chain_init(self._ch + c, cfg, ring, ring_len)
            if rc != 0:
                raise UsageError(f"detection chain rejected by the core (code {rc})")

    @property
    def vectorised(self) -> bool:
        """True when the filters run on the vector kernels on this machine."""
        return bool(lib.mw_chain_bank_vectorised(self.cfg)) and self.n_channels >= 2

    def _as_block(self, x: Any) -> np.ndarray:
        """(C, n) int32 whose rows are contiguous (any row stride: column slices of a longer
        recording pass without a copy)."""
        a = np.asarray(x)
        if a.ndim != 2 or a.shape[0] != self.n_channels:
            raise UsageError(
                f"expected ({self.n_channels}, n) samples (channels x time), got shape {a.shape}"
            )
        if a.dtype in (np.int16, np.int8, np.uint8, np.uint16):
            a = a.astype(np.int32)
        elif a.dtype != np.int32:
            raise UsageError(f"samples must be int16 or int32, got {a.dtype}")
        if a.strides[1] != 4 or a.strides[0] % 4 or a.strides[0] < 0:
            a = np.ascontiguousarray(a)
        return a

    @staticmethod
    def _rows(a: np.ndarray) -> tuple[Any, int]:
        """Pointer to a[0, 0] and the row stride in samples (a keeps the memory alive)."""
        return ffi.cast("int32_t *", a.ctypes.data), a.strides[0] // 4 if a.shape[0] > 1 else 0

    def prime(self, x: Any) -> None:
        """Learn each channel's noise level on x (C, n), then restart at sample 0."""
        a = self._as_block(x)
        work = np.empty(a.shape[1], np.int32)
        base, stride = self._rows(a)
        for c in range(self.n_channels):
            lib.mw_chain_prime(
                self._ch + c,
                self.cfg,
                base + c * stride,
                ffi.from_buffer("int32_t[]", work),
                a.shape[1],
            )

    def filter(self, x: Any, *, portable: bool = False, block: int = 1 << 16) -> np.ndarray:
        """Filters only (no detection): (C, n) filtered samples."""
        a = self._as_block(x)
        out = np.empty(a.shape, np.int32)
        src, ss = self._rows(a)
        dst, ds = self._rows(out)
        flags = int(lib.MW_BANK_PORTABLE) if portable else 0
        for s in range(0, a.shape[1], block):
            m = min(block, a.shape[1] - s)
            lib.mw_chain_filter_bank(
                self._ch, self.n_channels, self.cfg, src + s, ss, dst + s, ds, m, flags
            )
        return out

    def process(
        self,
        x: Any,
        *,
        keep_filtered: bool = True,
        block: int = 1 << 16,
        portable: bool = False,
    ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray | None]:
        """Filter and detect all channels of x (C, n), in blocks of `block` samples: (events per
        channel, snippets per channel, filtered samples (C, n) or None). Without
        keep_filtered the filtered blocks go to a buffer reused across blocks and calls.
        portable=True keeps the filters on the scalar kernels (same results; for comparison)."""
        if not isinstance(block, int) or not (1 <= block < 2**31):
            raise UsageError(f"block must be 1..2^31-1 samples, got {block!r}")
        a = self._as_block(x)
        n_ch, n = a.shape
        src, ss = self._rows(a)
        if keep_filtered:
            out = np.empty(a.shape, np.int32)
            dst, ds = self._rows(out)
        else:
            out = None
            size = n_ch * min(block, n)
            if self._work.size < size:
                self._work = np.empty(size, np.int32)
            dst, ds = ffi.cast("int32_t *", self._work.ctypes.data), 0
        per_block = int(lib.mw_detect_max_events(ffi.addressof(self.cfg, "det"), min(block, n)))
        cap = 4 * per_block  # events collect in C over several blocks, drained when nearly full
        ev = np.zeros((n_ch, cap), dtype=EVENT_DTYPE)
        sn = np.zeros((n_ch, cap if self.snippets else 0, self.snip_len), np.int32)
        cnt = np.zeros(n_ch, np.uint32)
        ev_p = ffi.from_buffer("mw_event_t[]", ev)
        sn_p = ffi.from_buffer("int32_t[]", sn) if self.snippets else ffi.NULL
        cnt_p = ffi.from_buffer("uint32_t[]", cnt)
        flags = int(lib.MW_BANK_PORTABLE) if portable else 0
        evs: list[list[np.ndarray]] = [[] for _ in range(n_ch)]
        sns: list[list[np.ndarray]] = [[] for _ in range(n_ch)]

        def drain() -> None:
            for c in np.flatnonzero(cnt):
                k = int(cnt[c])
                evs[c].append(ev[c, :k].copy())
                sns[c].append(sn[c, :k].copy())
            cnt[:] = 0

        for s in range(0, n, block):
            m = min(block, n - s)
            d = dst + s if keep_filtered else dst
            dstride = ds if keep_filtered else m
            lib.mw_chain_filter_bank(self._ch, n_ch, self.cfg, src + s, ss, d, dstride, m, flags)
            lib.mw_chain_detect_bank(
                self._ch, n_ch, self.cfg, d, dstride, m, ev_p, cap, sn_p, cnt_p
            )
            if int(cnt.max()) > cap - per_block:
                drain()
        drain()
        ev_out = [np.concatenate(e) if e else np.zeros(0, EVENT_DTYPE) for e in evs]
        sn_out = [np.concatenate(v) if v else np.zeros((0, self.snip_len), np.int32) for v in sns]
        return ev_out, sn_out, out

    def flush(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        cap = int(lib.MW_DETECT_PENDING) + 1
        evs, sns = [], []
        for c in range(self.n_channels):
            ev = np.zeros(cap, dtype=EVENT_DTYPE)
            sn = np.zeros((cap if self.snippets else 0, self.snip_len), np.int32)
            k = lib.mw_chain_flush(
                self._ch + c,
                self.cfg,
                ffi.from_buffer("mw_event_t[]", ev),
                cap,
                ffi.from_buffer("int32_t[]", sn) if self.snippets else ffi.NULL,
            )
            evs.append(ev[:k].copy())
            sns.append(sn[:k].copy())
        return evs, sns

    def noise_median(self, channel: int) -> int:
        return int(self._ch[channel].noise.m)

    def counters(self, channel: int) -> dict[str, int]:
        return _counters(self._ch[channel].det)


@dataclass(frozen=True)
class SortParams:
    max_units: int = 12
    max_shift: int = 2
    update_shift: int = 4
    accept: float = 3.0
    allow_new: bool = True

    def fill(self, c: Any, length: int, dist_shift: int) -> None:
        if not (1 <= self.max_units <= int(lib.MW_SORT_MAX_UNITS)):
            raise UsageError(f"max_units must be 1..{int(lib.MW_SORT_MAX_UNITS)}")
        if not (0 <= self.max_shift and 4 * self.max_shift < length):
            raise UsageError(
                f"alignment search of {self.max_shift} samples too long for {length}-sample snippets"
            )
        if not (0 < self.accept <= 256) or not (0 <= self.update_shift <= 16):
            raise UsageError("accept must be in (0, 256] and update_shift 0..16")
        c.len = length
        c.max_units = self.max_units
        c.max_shift = self.max_shift
        c.update_shift = self.update_shift
        c.allow_new = 1 if self.allow_new else 0
        c.dist_shift = dist_shift
        c.accept_q8 = max(1, int(round(self.accept * 256)))


def sort_snippets(
    snippets: np.ndarray,
    noise_sigma: float,
    params: SortParams,
    templates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run mw_sort over snippets (n x L int32): (units, shifts, dists, templates)."""
    sn = np.ascontiguousarray(snippets, dtype=np.int32)
    if sn.ndim != 2 or sn.shape[1] < 4:
        raise UsageError(f"snippets must be an (n, L>=4) array, got shape {sn.shape}")
    n, length = sn.shape
    sigma = max(float(noise_sigma), 1.0)
    dist_shift = max(0, int(np.floor(np.log2(sigma))) - 8)
    var = int(min((sigma / 2**dist_shift) ** 2, float(lib.MW_SORT_MAX_NOISE_VAR)))
    cfg = ffi.new("mw_sort_cfg_t *")
    params.fill(cfg, length, dist_shift)
    tm = np.zeros((params.max_units, length), np.int32)
    n0 = 0
    if templates is not None and len(templates):
        t = np.asarray(templates)
        if t.shape[1] != length or t.shape[0] > params.max_units:
            raise UsageError(f"templates of shape {t.shape} do not fit snippets of length {length}")
        n0 = t.shape[0]
        tm[:n0] = np.clip(np.round(t), -DATA_MAX, DATA_MAX).astype(np.int32)
    s = ffi.new("mw_sort_t *")
    if lib.mw_sort_init(s, cfg, ffi.from_buffer("int32_t[]", tm), n0) != 0:
        raise UsageError("template sorter configuration rejected by the core")
    units = np.empty(n, np.int32)
    shifts = np.empty(n, np.int32)
    dists = np.empty(n, np.uint64)
    lib.mw_sort_process(
        s,
        cfg,
        _ptr("int32_t[]", sn),
        n,
        var,
        ffi.from_buffer("int32_t[]", units),
        ffi.from_buffer("int32_t[]", shifts),
        ffi.from_buffer("uint64_t[]", dists),
    )
    return units, shifts, dists, tm[: int(s.n_units)].copy()


#: numpy view of mw_match_hit_t
MATCH_HIT_DTYPE = np.dtype(
    {
        "names": ["pos", "row", "alpha_q14", "flags", "gain"],
        "formats": ["<i4", "<i4", "<i4", "<i4", "<i8"],
        "offsets": [
            ffi.offsetof("mw_match_hit_t", f) for f in ("pos", "row", "alpha_q14", "flags", "gain")
        ],
        "itemsize": ffi.sizeof("mw_match_hit_t"),
    }
)
MATCH_ALPHA_ONE = int(lib.MW_MATCH_ALPHA_ONE)
MATCH_MAX_ROWS = int(lib.MW_MATCH_MAX_ROWS)
MATCH_MAX_LEN = int(lib.MW_MATCH_MAX_LEN)
MATCH_MAX_CH = int(lib.MW_MATCH_MAX_CH)
MATCH_MAX_SPAN = int(lib.MW_MATCH_MAX_SPAN)
MATCH_MAX_REACH = int(lib.MW_MATCH_MAX_REACH)
MATCH_PAIR = int(lib.MW_MATCH_PAIR)


class Matcher:
    """mw_match: peel-off template matching over segments of an int16 residual (in place).

    templates: (rows, len) or (rows, channels, len) int16 (a row = one unit at one sub-sample
    phase, over every channel of an array); units: unit id per row; min_gain: least energy
    reduction per row (residual units squared); alpha: accepted amplitude range; gap: samples
    within which a unit is not fitted twice; frac: share of the support's energy above `floor`
    a fit must explain; pair_reach: samples within which two discharges are also fitted
    jointly (0: off), when a single fit leaves more than pair_trigger on its support; refit:
    sweeps re-fitting the fits overlapping each new one (amplitude, phase, +-2 samples); spill
    and leftover: per row, what a fit's own variability demands of candidates overlapping it
    (gain per sample of overlap) and the energy it leaves on its support; alpha_rows: per row
    (lo, hi) amplitude range instead of `alpha` (mw_match.h)."""

    def __init__(
        self,
        templates: np.ndarray,
        units: np.ndarray,
        min_gain: np.ndarray,
        *,
        alpha: tuple[float, float] = (0.6, 1.6),
        gap: int = 0,
        frac: float = 0.25,
        floor: int = 0,
        pair_reach: int = 0,
        pair_trigger: int = 0,
        refit: int = 0,
        spill: np.ndarray | None = None,
        leftover: np.ndarray | None = None,
        alpha_rows: np.ndarray | None = None,
    ) -> None:
        t = np.asarray(templates)
        if t.ndim == 2:
            t = t[:, None, :]
        if t.ndim != 3 or not (4 <= t.shape[2] <= MATCH_MAX_LEN):
            raise UsageError(
                f"templates must be (rows, 4..{MATCH_MAX_LEN}) or (rows, channels, len), "
                f"got shape {np.asarray(templates).shape}"
            )
        if not (1 <= t.shape[0] <= MATCH_MAX_ROWS):
            raise UsageError(f"1..{MATCH_MAX_ROWS} template rows, got {t.shape[0]}")
        if not (1 <= t.shape[1] <= MATCH_MAX_CH) or t.shape[1] * t.shape[2] > MATCH_MAX_SPAN:
            raise UsageError(
                f"1..{MATCH_MAX_CH} channels and channels x length <= {MATCH_MAX_SPAN}, "
                f"got {t.shape[1]} x {t.shape[2]}"
            )
        if np.abs(t).max(initial=0) > 32767:
            raise UsageError("template values must fit int16")
        lo, hi = alpha
        if not (0 < lo <= hi < 4.0):
            raise UsageError(f"amplitude range {alpha!r} must satisfy 0 < lo <= hi < 4")
        if not (0 <= gap <= 32767) or not (0.0 <= frac <= 1.0) or floor < 0:
            raise UsageError("gap 0..32767 samples, frac in [0, 1], floor >= 0")
        if not (0 <= refit <= 8):
            raise UsageError(f"refit sweeps 0..8, got {refit}")
        if not (0 <= pair_reach <= MATCH_MAX_REACH) or pair_trigger < 0:
            raise UsageError(f"pair_reach 0..{MATCH_MAX_REACH} samples, pair_trigger >= 0")
        self._t = np.ascontiguousarray(t, dtype=np.int16)
        self._u = np.ascontiguousarray(units, dtype=np.uint16)
        self._g = np.ascontiguousarray(np.maximum(np.asarray(min_gain), 1), dtype=np.int64)
        if self._u.shape != (t.shape[0],) or self._g.shape != (t.shape[0],):
            raise UsageError("one unit id and one min_gain per template row")
        if np.any(self._g >= 2**60):
            raise UsageError("min_gain must be below 2^60")
        self._ar = None
        if alpha_rows is not None:
            ar = np.asarray(alpha_rows, dtype=np.float64)
            if ar.shape != (t.shape[0], 2) or not np.all(
                (ar[:, 0] > 0) & (ar[:, 0] <= ar[:, 1]) & (ar[:, 1] < 4.0)
            ):
                raise UsageError("alpha_rows: one (lo, hi) per row with 0 < lo <= hi < 4")
            q = np.round(ar * MATCH_ALPHA_ONE)
            self._ar = np.ascontiguousarray(np.clip(q, 1, 65535), dtype=np.uint16).reshape(-1)
        self._sp = self._lv = None
        if spill is not None or leftover is not None:
            self._sp = np.ascontiguousarray(
                np.zeros(t.shape[0]) if spill is None else spill, dtype=np.int64
            )
            self._lv = np.ascontiguousarray(
                np.zeros(t.shape[0]) if leftover is None else leftover, dtype=np.int64
            )
            if self._sp.shape != (t.shape[0],) or self._lv.shape != (t.shape[0],):
                raise UsageError("one spill and one leftover per template row")
            if not (0 <= self._sp.min() and self._sp.max() <= 2**40):
                raise UsageError("spill must be in 0..2^40")
            if not (0 <= self._lv.min() and self._lv.max() <= 2**44):
                raise UsageError("leftover must be in 0..2^44")
        self.len = int(t.shape[2])
        self.channels = int(t.shape[1])
        self._cfg = ffi.new("mw_match_cfg_t *")
        self._cfg.len = self.len
        self._cfg.n_rows = t.shape[0]
        self._cfg.n_ch = self.channels
        self._cfg.alpha_lo_q14 = max(1, int(round(lo * MATCH_ALPHA_ONE)))
        self._cfg.alpha_hi_q14 = min(65535, int(round(hi * MATCH_ALPHA_ONE)))
        self._cfg.gap = int(gap)
        self._cfg.frac_q8 = int(round(frac * 256))
        self._cfg.floor = int(floor)
        self._cfg.pair_reach = int(pair_reach)
        self._cfg.pair_trigger = int(pair_trigger)
        self._cfg.refit = int(refit)
        self._cross = np.zeros(max(1, t.shape[0] ** 2 * (2 * pair_reach + 1)), np.int64)
        self._pw = ffi.new("mw_match_pair_work_t *") if pair_reach else ffi.NULL
        self._m = ffi.new("mw_match_t *")
        rc = lib.mw_match_init(
            self._m,
            self._cfg,
            ffi.from_buffer("int16_t[]", self._t),
            ffi.from_buffer("uint16_t[]", self._u),
            ffi.from_buffer("int64_t[]", self._g),
            ffi.NULL if self._sp is None else ffi.from_buffer("int64_t[]", self._sp),
            ffi.NULL if self._lv is None else ffi.from_buffer("int64_t[]", self._lv),
            ffi.NULL if self._ar is None else ffi.from_buffer("uint16_t[]", self._ar),
            ffi.from_buffer("int64_t[]", self._cross),
        )
        if rc != 0:
            raise UsageError("template matcher refused its templates (a template of zero energy?)")

    def run(
        self, resid: np.ndarray, segments: np.ndarray, max_hits: int = 4096
    ) -> tuple[np.ndarray, int]:
        """Peel every segment [start, end) of resid (int16, modified in place; (n,) or
        (channels, n) C-contiguous); returns the fits (MATCH_HIT_DTYPE, pos absolute) and how
        many segments reached max_hits."""
        r2 = resid if resid.ndim == 2 else resid.reshape(1, -1)
        if resid.dtype != np.int16 or not resid.flags.c_contiguous or resid.ndim not in (1, 2):
            raise UsageError(
                "the residual must be a C-contiguous int16 array (n,) or (channels, n)"
            )
        if r2.shape[0] != self.channels:
            raise UsageError(
                f"the residual has {r2.shape[0]} channels, the templates {self.channels}"
            )
        n = r2.shape[1]
        seg = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
        if seg.size and (seg.min() < 0 or seg.max() > n or np.any(seg[:, 1] < seg[:, 0])):
            raise UsageError("segments must be [start, end) ranges inside the residual")
        if max_hits < 2:
            raise UsageError("max_hits must be >= 2")
        longest = int((seg[:, 1] - seg[:, 0]).max()) if seg.size else 0
        work = ffi.new("mw_match_best_t[]", max(longest, 1))
        hits = np.zeros(max_hits, MATCH_HIT_DTYPE)
        hp = ffi.from_buffer("mw_match_hit_t[]", hits)
        buf = ffi.from_buffer("int16_t[]", r2)
        self._cfg.stride = n
        out, full = [], 0
        for a, b in seg:
            k = lib.mw_match_segment(
                self._m, self._cfg, buf + int(a), int(b - a), work, self._pw, hp, max_hits
            )
            if k < 0:
                raise UsageError("template matcher refused a segment")
            if k:
                h = hits[:k].copy()
                h["pos"] += int(a)
                out.append(h)
            full += int(k >= max_hits - 1)
        res = np.concatenate(out) if out else np.zeros(0, MATCH_HIT_DTYPE)
        return res, full

"""Register-level model of a TI ADS1299 (8 channels) behind the SPI shim. Never deployed.

What it models (datasheet SBAS499C section numbers in brackets):
* pins: CS frames commands, START high runs conversions, RESET low pulse and PWDN low reset
  the registers, DRDY falls at every conversion and rises when data is clocked out [9.5];
* SPI commands WAKEUP, STANDBY, RESET, START, STOP, RDATAC, SDATAC, RDATA, RREG, WREG;
  register access is ignored in RDATAC mode, as on the chip [9.5.3];
* registers with their reset values and read-only bits (ID 0x3E, LOFF_STATP/N);
* conversions at the CONFIG1 data rate (250 SPS .. 16 kSPS, fCLK 2.048 MHz) with a
  settling delay after START; the 27-byte read: status word 1100 + LOFF_STATP + LOFF_STATN
  + GPIO[7:4], then 8 big-endian 24-bit codes;
* channel inputs by CHnSET MUX: normal electrodes (the signal source, scaled by the
  channel gain against the source's gain, plus the lead-off excitation when enabled),
  shorted (a few codes of noise), test signal (square of +-Vref/2400 x gain, x2 with
  CAL_AMP, at fCLK/2^21 or fCLK/2^20, or DC) [9.3.1.5], temperature and supply readings;
  power-down channels read 0;
* lead-off: comparators (CONFIG4 PD_LOFF_COMP) report electrodes marked off in the status
  word and LOFF_STATP/N for channels enabled in LOFF_SENSP/N; an off electrode with lead-off
  current rails its channel; AC excitation (FLEAD_OFF = 31.2 Hz or 7.8 Hz) adds a square of
  I_LEAD_OFF x electrode impedance.

Signal source: `<stem>.i32` (little-endian int32, n_channels interleaved per sample, 24-bit
ADS1299 codes) with `<stem>.json` {"fs", "n_channels", "n_samples", "gain", "vref"}, played
one sample per conversion from the first sample after each START, looped. Without a file a
deterministic synthetic pattern is played.
"""

import json

import micropython

ID_ADS1299 = 0x3E
FCLK = 2048000
VREF_UV = 4500000
_RESET_REGS = (
    ID_ADS1299, 0x96, 0xC0, 0x60, 0x00,
    0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0F, 0x00, 0x00, 0x00,
)
_READ_ONLY = (0x00, 0x12, 0x13)
_GAINS = (1, 2, 4, 6, 8, 12, 24, 24)
_RATES = (16000, 8000, 4000, 2000, 1000, 500, 250, 250)
_ILOFF_NA = (6, 24, 6000, 24000)
FULL = (1 << 23) - 1


@micropython.viper
def _i32le_to_be24(dst, doff: int, src, soff: int, n: int):
    """n little-endian int32 codes -> big-endian 24-bit (low 24 bits, two's complement)."""
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n:
        d[doff] = s[soff + 2]
        d[doff + 1] = s[soff + 1]
        d[doff + 2] = s[soff]
        doff += 3
        soff += 4
        i += 1


class Source:
    """The signal played into the electrode inputs, one sample per conversion, looped."""

    CHUNK = 64

    def __init__(self, stem=None) -> None:
        self.stem = stem
        self.pos = 0
        if stem:
            with open(stem + ".json") as f:
                meta = json.load(f)
            self.n_ch = int(meta.get("n_channels", 8))
            self.n = int(meta["n_samples"])
            self.gain = int(meta.get("gain", 24))
            self.fs = meta.get("fs")
            fs = float(self.fs or 0)
            # stimulator sync pulses (seconds) -> source positions where the trigger rises
            self.triggers = set(int(float(t) * fs + 0.5) for t in meta.get("triggers", ())) if fs else set()
            self._f = open(stem + ".i32", "rb")
            self._buf = bytearray(self.CHUNK * self.n_ch * 4)
            self._mv = memoryview(self._buf)  # whole chunks are read without allocating
            self._have = 0
            self._i = 0
        else:
            self.n_ch = 8
            self.n = 1 << 30
            self.gain = 24
            self.fs = None
            self.triggers = set()
            self._f = None
        self.codes = [0] * 8
        self.raw = bytearray(24)  # big-endian 24-bit codes of the current sample
        self.load()

    def rewind(self) -> None:
        self.pos = 0
        if self._f is not None:
            self._f.seek(0)
            self._have = 0
            self._i = 0
        self.load()

    def advance(self) -> None:
        self.pos += 1
        if self.pos >= self.n:
            self.rewind()
            return
        if self._f is not None:
            self._i += 1
        self.load()

    def load(self) -> None:
        if self._f is None:
            self._synthetic()
            return
        if self._i >= self._have:
            want = min(self.CHUNK, self.n - self.pos)
            got = self._f.readinto(self._mv)  # a short read at the end of the file is fine
            if got is None or got < want * self.n_ch * 4:
                raise OSError("signal source %s.i32 is shorter than n_samples=%d" % (self.stem, self.n))
            self._have = want
            self._i = 0
        off = self._i * self.n_ch * 4
        n = min(self.n_ch, 8)
        _i32le_to_be24(self.raw, 0, self._buf, off, n)
        b = self._buf
        for c in range(n):
            o = off + 4 * c
            v = b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)
            if v & 0x80000000:
                v -= 1 << 32
            self.codes[c] = v

    def _synthetic(self) -> None:
        k = self.pos
        for c in range(8):
            period = 200 + 37 * c
            ph = k % period
            tri = ph if ph < period // 2 else period - ph
            v = (tri - period // 4) * (400 + 100 * c) + ((k * 2654435761 + c * 40503) >> 7) % 301 - 150
            self.codes[c] = v
            self.raw[3 * c] = (v >> 16) & 0xFF
            self.raw[3 * c + 1] = (v >> 8) & 0xFF
            self.raw[3 * c + 2] = v & 0xFF


class ADS1299:
    """The chip. `world` is simenv.world; pins are GPIO numbers (the board's pin map)."""

    def __init__(self, world, *, sck, mosi, miso, cs, drdy, start, reset, pwdn, source=None) -> None:
        self.world = world
        self.spi_pins = (sck, mosi, miso)
        self.cs_gpio = cs
        self.drdy_gpio = drdy
        self.start_gpio = start
        self.reset_gpio = reset
        self.pwdn_gpio = pwdn
        self.source = source if source is not None else Source()
        self.impedance_ohm = [10000] * 8  # per channel electrode impedance (P and N alike)
        self.off_p = 0
        self.off_n = 0
        self.regs = bytearray(_RESET_REGS)
        self.powered = True
        self.in_reset = False
        self.standby = False
        self.rdatac = True  # the chip powers up in RDATAC mode
        self.start_cmd = False
        self.start_pin = False
        self.converting = False
        self.t0 = 0
        self.k = 0  # conversions since START (index of the next one)
        self.dout = bytearray(27)
        self._rd = 27  # next byte of dout to shift out (27 = nothing pending)
        self._cmd = bytearray(32)
        self._ncmd = 0
        self._need = 0
        self._rreg = -1
        self._rreg_left = 0
        self._noise = 0x1234
        self._trig = False
        # counters
        self.conversions = 0
        self.missed = 0
        self.skip_log = []
        self.reads = 0
        self.ignored_commands = 0
        self.reg_writes = 0
        world.chip = self

    # -- pins -----------------------------------------------------------------------
    def pin_changed(self, gpio: int, level: int) -> None:
        if gpio == self.cs_gpio:
            self._ncmd = 0
            self._need = 0
            self._rreg = -1
        elif gpio == self.start_gpio:
            self.start_pin = bool(level)
            self._update_running()
        elif gpio == self.reset_gpio:
            if level == 0:
                self.in_reset = True
            elif self.in_reset:
                self.in_reset = False
                self._reset()
        elif gpio == self.pwdn_gpio:
            if level == 0:
                self.powered = False
                self._update_running()
            elif not self.powered:
                self.powered = True
                self._reset()

    def _cs_low(self) -> bool:
        p = self.world.pins.get(self.cs_gpio)
        return p is not None and p._level == 0

    def _set_drdy(self, level: int) -> None:
        p = self.world.pins.get(self.drdy_gpio)
        if p is None:
            return
        old = p._level
        p._level = level
        if old != level:
            self.world.edge(p, old, level)

    def _reset(self) -> None:
        self.regs[:] = bytes(_RESET_REGS)
        self.rdatac = True
        self.standby = False
        self.start_cmd = False
        self._rd = 27
        self._update_running()
        self._set_drdy(1)

    # -- conversions ----------------------------------------------------------------
    def rate(self) -> int:
        return _RATES[self.regs[1] & 7]

    def _update_running(self) -> None:
        run = self.powered and not self.in_reset and not self.standby and (self.start_pin or self.start_cmd)
        if run and not self.converting:
            self.world._sync()
            self.t0 = self.world.now
            self.k = 0
            self.source.rewind()
        self.converting = run

    def _due(self, k: int) -> int:
        r = self.rate()
        # settling: the first result comes 4 conversion periods after START [9.4.1.2]
        return self.t0 + ((k + 4) * 1000000) // r

    def next_due(self) -> int:
        if not self.converting:
            return -1
        return self._due(self.k)

    def _triggers(self) -> None:
        """The trigger input rises just before the conversion at a trigger position of the
        source (so the firmware stamps it with that conversion's index) and falls one later."""
        src = self.source
        if src.triggers:
            hit = src.pos in src.triggers
            if hit:
                self.world.set_trigger(1)
            elif self._trig:
                self.world.set_trigger(0)
            self._trig = hit

    def skip(self) -> None:
        """A conversion nobody read before the next one: its data is overwritten."""
        self._triggers()
        if len(self.skip_log) < 4096:
            self.skip_log.append(self.k)  # which conversions went unread (for tests)
        self.k += 1
        self.missed += 1
        self.conversions += 1
        self.source.advance()
        self._set_drdy(1)

    def convert(self) -> None:
        """Conversion k is ready: fill the output register and pull DRDY low."""
        self._triggers()
        self._fill(self.k)
        self.k += 1
        self.conversions += 1
        self.source.advance()
        self._rd = 0 if self.rdatac else 27  # in SDATAC mode data waits for RDATA
        self._set_drdy(1)
        self._set_drdy(0)

    def _fill(self, k: int) -> None:
        regs = self.regs
        src = self.source
        loff = regs[4]
        comp_on = bool(regs[0x17] & 0x02)
        sensp = regs[0x0F]
        sensn = regs[0x10]
        statp = (self.off_p & sensp) if comp_on else 0
        statn = (self.off_n & sensn) if comp_on else 0
        regs[0x12] = statp
        regs[0x13] = statn
        d = self.dout
        d[0] = 0xC0 | (statp >> 4)
        d[1] = ((statp & 0x0F) << 4) | (statn >> 4)
        d[2] = ((statn & 0x0F) << 4) | (regs[0x14] >> 4)
        clk = FCLK // self.rate()
        cfg2 = regs[2]
        test_amp = 2 if cfg2 & 0x04 else 1
        test_freq = cfg2 & 0x03
        if test_freq == 3:
            test_sign = 1
        else:
            shift = 20 if test_freq == 0 else 19  # half period of fCLK/2^21 or fCLK/2^20
            test_sign = -1 if ((k * clk) >> shift) & 1 else 1
        ac = loff & 0x03
        i_na = _ILOFF_NA[(loff >> 2) & 3]
        ac_sign = 0
        if ac == 2:
            ac_sign = -1 if ((k * clk) >> 15) & 1 else 1  # fCLK/2^16 = 31.25 Hz
        elif ac == 1:
            ac_sign = -1 if ((k * clk) >> 17) & 1 else 1  # fCLK/2^18 = 7.8 Hz
        elif ac == 3:
            ac_sign = -1 if k & 2 else 1  # fDR/4
        for c in range(8):
            chset = regs[5 + c]
            o = 3 + 3 * c
            if chset & 0x80:
                d[o] = d[o + 1] = d[o + 2] = 0
                continue
            g = _GAINS[(chset >> 4) & 7]
            mux = chset & 7
            bit = 1 << c
            if mux == 0:
                if g == src.gain and not ((sensp | sensn) & bit) and c < src.n_ch:
                    d[o] = src.raw[3 * c]
                    d[o + 1] = src.raw[3 * c + 1]
                    d[o + 2] = src.raw[3 * c + 2]
                    continue
                v = (src.codes[c] * g) // src.gain if c < src.n_ch else 0
                if (sensp | sensn) & bit:
                    if (self.off_p | self.off_n) & bit:
                        v = FULL if self.off_p & bit else -FULL - 1
                    elif ac_sign:
                        uv = i_na * self.impedance_ohm[c] // 1000  # nA x ohm = nV -> µV
                        v += ac_sign * _uv_to_code(uv, g)
            elif mux == 1:
                self._noise = ((self._noise >> 1) ^ (-(self._noise & 1) & 0xB400)) & 0xFFFF
                v = (self._noise & 7) - 3
            elif mux == 5:
                v = test_sign * test_amp * _uv_to_code(VREF_UV // 2400, g)
            elif mux == 4:
                v = _uv_to_code(145300, g)  # temperature sensor at 25 °C
            elif mux == 3:
                v = _uv_to_code(2500000, g)  # (AVDD - AVSS) / 2
            else:
                v = 0
            if v > FULL:
                v = FULL
            elif v < -FULL - 1:
                v = -FULL - 1
            d[o] = (v >> 16) & 0xFF
            d[o + 1] = (v >> 8) & 0xFF
            d[o + 2] = v & 0xFF

    # -- electrodes -------------------------------------------------------------------
    def electrodes_off(self, p: int, n: int) -> None:
        self.off_p = p & 0xFF
        self.off_n = n & 0xFF

    # -- SPI ------------------------------------------------------------------------
    def read_into(self, buf, write: int = 0) -> None:
        """Fast path of SPI.readinto: clock out buf bytes while sending `write`."""
        if not self._cs_low():
            for i in range(len(buf)):
                buf[i] = 0xFF
            return
        n = len(buf)
        if write == 0 and self._rreg < 0 and self._need == 0 and self._rd == 0 and n <= 27:
            d = self.dout
            if n == 27:
                buf[:] = d
            else:
                for i in range(n):
                    buf[i] = d[i]
            self._rd = n
            self.reads += 1
            self._set_drdy(1)
            return
        for i in range(n):
            buf[i] = self._byte(write)

    def transfer(self, wbuf, rbuf) -> None:
        if not self._cs_low():
            if rbuf is not None:
                for i in range(len(rbuf)):
                    rbuf[i] = 0xFF
            return
        for i in range(len(wbuf)):
            b = self._byte(wbuf[i])
            if rbuf is not None:
                rbuf[i] = b
        if rbuf is not None:
            for i in range(len(wbuf), len(rbuf)):
                rbuf[i] = self._byte(0)

    def _byte(self, b: int) -> int:
        """One byte in on DIN, one byte out on DOUT."""
        out = 0
        if self._rreg >= 0 and self._rreg_left > 0:
            out = self.regs[self._rreg] if self._rreg < len(self.regs) else 0
            self._rreg += 1
            self._rreg_left -= 1
            if self._rreg_left == 0:
                self._rreg = -1
        elif self._rd < 27:
            out = self.dout[self._rd]
            self._rd += 1
            if self._rd == 1:
                self._set_drdy(1)
            if self._rd == 27:
                self.reads += 1
        if self._need:
            self._cmd[self._ncmd] = b
            self._ncmd += 1
            if self._ncmd == self._need:
                self._finish_multi()
            return out
        if self._ncmd == 1:  # second byte of RREG/WREG: n - 1
            self._cmd[1] = b
            self._ncmd = 2
            op = self._cmd[0]
            if op & 0xE0 == 0x40:
                self._need = 2 + b + 1
            else:
                self._start_rreg(op & 0x1F, b + 1)
                self._ncmd = 0
            return out
        self._command(b)
        return out

    def _command(self, b: int) -> None:
        if b == 0x00:
            return
        if b == 0x02:
            self.standby = False
            self._update_running()
        elif b == 0x04:
            self.standby = True
            self._update_running()
        elif b == 0x06:
            self._reset()
        elif b == 0x08:
            self.start_cmd = True
            self.converting = False  # START restarts conversions
            self._update_running()
        elif b == 0x0A:
            self.start_cmd = False
            self._update_running()
        elif b == 0x10:
            self.rdatac = True
        elif b == 0x11:
            self.rdatac = False
        elif b == 0x12:
            if self.conversions:
                self._rd = 0
        elif b & 0xE0 in (0x20, 0x40):
            if self.rdatac:
                self.ignored_commands += 1
                return
            self._cmd[0] = b
            self._ncmd = 1
        else:
            self.ignored_commands += 1

    def _start_rreg(self, reg: int, n: int) -> None:
        self._rreg = reg
        self._rreg_left = n

    def _finish_multi(self) -> None:
        reg = self._cmd[0] & 0x1F
        n = self._cmd[1] + 1
        for i in range(n):
            r = reg + i
            if r < len(self.regs) and r not in _READ_ONLY:
                self.regs[r] = self._cmd[2 + i]
                self.reg_writes += 1
                if r == 1 and self.converting:
                    self.converting = False  # a new data rate restarts the filter
                    self._update_running()
        self._need = 0
        self._ncmd = 0

    def stats(self) -> dict:
        return {
            "chip_conversions": self.conversions,
            "chip_missed": self.missed,
            "chip_reads": self.reads,
            "chip_ignored_commands": self.ignored_commands,
            "source_pos": self.source.pos,
        }


def _uv_to_code(uv: int, gain: int) -> int:
    """Microvolts at the input -> ADS1299 code at a PGA gain (LSB = 2 Vref / gain / 2^24)."""
    return (uv * gain * (1 << 24) + VREF_UV) // (2 * VREF_UV)

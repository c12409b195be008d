"""TI ADS1299 driver: power-up, registers with read-back, configuration, DRDY-driven reads.

Register map and sequences from the ADS1299 datasheet (SBAS499C): power-up and reset
(section 10.1), SPI commands (9.5.3), CONFIG1..4, CHnSET, BIAS_SENSP/N, LOFF, LOFF_SENSP/N
(9.6). Register writes happen in SDATAC mode and are read back; a mismatch is retried once
and then raised as AFEError, so a broken SPI wire never passes for a configured chip.
"""

from micropython import const

# SPI commands (datasheet table 10).
WAKEUP = const(0x02)
STANDBY = const(0x04)
RESET = const(0x06)
START = const(0x08)
STOP = const(0x0A)
RDATAC = const(0x10)
SDATAC = const(0x11)
RDATA = const(0x12)
RREG = const(0x20)
WREG = const(0x40)

# Registers.
REG_ID = const(0x00)
REG_CONFIG1 = const(0x01)
REG_CONFIG2 = const(0x02)
REG_CONFIG3 = const(0x03)
REG_LOFF = const(0x04)
REG_CH1SET = const(0x05)
REG_BIAS_SENSP = const(0x0D)
REG_BIAS_SENSN = const(0x0E)
REG_LOFF_SENSP = const(0x0F)
REG_LOFF_SENSN = const(0x10)
REG_LOFF_FLIP = const(0x11)
REG_LOFF_STATP = const(0x12)
REG_LOFF_STATN = const(0x13)
REG_GPIO = const(0x14)
REG_MISC1 = const(0x15)
REG_MISC2 = const(0x16)
REG_CONFIG4 = const(0x17)
N_REGS = const(0x18)

# Field values.
ID_DEV_MASK = const(0x1F)  # bits 4:0: 1, DEV_ID (11 = ADS1299), NU_CH (10 = 8 channels)
ID_ADS1299_8 = const(0x1E)
CONFIG1_BASE = const(0x90)  # bit 7 reserved 1, bits 4:3 reserved 10; DR in bits 2:0
CONFIG2_NORMAL = const(0xC0)
CONFIG2_TEST = const(0xD1)  # INT_CAL = 1, CAL_AMP = 1x, CAL_FREQ = fCLK/2^20 (~1.95 Hz)
CONFIG3_RUN = const(0xEC)  # internal reference buffer on, BIASREF internal, BIAS buffer on
LOFF_AC_31HZ_6NA = const(0x02)  # COMP_TH 95 %, ILEAD_OFF 6 nA, FLEAD_OFF AC at 31.2 Hz
LOFF_DC_6NA = const(0x00)  # COMP_TH 95 %, ILEAD_OFF 6 nA, DC
CONFIG4_LOFF_COMP = const(0x02)  # PD_LOFF_COMP = 1: lead-off comparators on
MISC1_SRB1 = const(0x20)
CHSET_PD = const(0x80)
MUX_NORMAL = const(0)
MUX_SHORTED = const(1)
MUX_TEST = const(5)

MODE_NORMAL = const(0)
MODE_TEST_SIGNAL = const(1)
MODE_LEAD_OFF_CHECK = const(2)
MODE_SHORTED = const(3)

# rate code (protocol CONFIGURE) 0..6 = 250..16000 SPS -> CONFIG1 DR 6..0
RATES_HZ = (250, 500, 1000, 2000, 4000, 8000, 16000)
GAINS = (1, 2, 4, 6, 8, 12, 24)


class AFEError(Exception):
    """The front-end did not answer as an ADS1299 should (wiring, power, SPI mode)."""


class ADS1299:
    """One ADS1299 on an SPI bus. `board` gives pins, SPI and delays (see boards/)."""

    def __init__(self, board) -> None:
        self.board = board
        self.spi = board.spi()
        self.cs = board.pin("AFE_CS")
        self.drdy = board.pin("AFE_DRDY")
        self.start_pin = board.pin("AFE_START")
        self.reset_pin = board.pin("AFE_RESET")
        self.pwdn_pin = board.pin("AFE_PWDN")
        self.srb1 = bool(getattr(board, "AFE_SRB1", False))
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)
        self._rb = bytearray(N_REGS)
        self.dev_id = 0
        self.rate_code = 3
        self.mode = MODE_NORMAL
        self.channel_mask = 0xFF
        self.gain_code = 6
        self.write_retries = 0
        self.running = False

    # -- low level ------------------------------------------------------------------
    def command(self, op: int) -> None:
        self._b1[0] = op
        self.cs(0)
        self.spi.write(self._b1)
        self.cs(1)
        self.board.sleep_us(4)  # tSDECODE / 4 tCLK between commands

    def read_regs(self, reg: int, n: int, out) -> None:
        """RREG: n registers from `reg` into out[0:n] (SDATAC mode only)."""
        self._b2[0] = RREG | reg
        self._b2[1] = n - 1
        self.cs(0)
        self.spi.write(self._b2)
        mv = memoryview(out)[:n]
        self.spi.readinto(mv, 0)
        self.cs(1)
        self.board.sleep_us(4)

    def read_reg(self, reg: int) -> int:
        self.read_regs(reg, 1, self._b1)
        return self._b1[0]

    def write_reg(self, reg: int, value: int) -> None:
        """WREG one register and read it back; one retry, then AFEError."""
        for attempt in range(2):
            self._b2[0] = WREG | reg
            self._b2[1] = 0
            self.cs(0)
            self.spi.write(self._b2)
            self._b1[0] = value
            self.spi.write(self._b1)
            self.cs(1)
            self.board.sleep_us(4)
            got = self.read_reg(reg)
            if got == value:
                return
            self.write_retries += 1
        raise AFEError("ADS1299 register 0x%02X reads back 0x%02X after writing 0x%02X" % (reg, got, value))

    # -- sequences ------------------------------------------------------------------
    def power_up(self) -> int:
        """Power-up and reset sequence (datasheet 10.1); -> the ID register."""
        self.running = False
        self.cs(1)
        self.start_pin(0)
        self.pwdn_pin(1)
        self.reset_pin(1)
        self.board.sleep_ms(150)  # tPOR = 2^18 tCLK (128 ms) after the supplies settle
        self.reset_pin(0)
        self.board.sleep_us(10)  # reset pulse >= 2 tCLK (~1 µs)
        self.reset_pin(1)
        self.board.sleep_us(20)  # 18 tCLK before the first command
        self.command(SDATAC)  # the chip wakes up in RDATAC: registers need SDATAC
        self.dev_id = self.read_reg(REG_ID)
        if self.dev_id & ID_DEV_MASK != ID_ADS1299_8:
            raise AFEError(
                "no ADS1299 (8 channels) on the SPI bus: ID register reads 0x%02X, expected 0x3E "
                "(check power, wiring and SPI mode 1)" % self.dev_id
            )
        self.write_reg(REG_CONFIG3, CONFIG3_RUN)
        self.board.sleep_ms(2)  # internal reference settling
        return self.dev_id

    def configure(self, rate_code: int, channel_mask: int, gain_code: int, mode: int) -> None:
        """CONFIG1..4, CHnSET, BIAS and lead-off registers for a protocol CONFIGURE."""
        if rate_code < 0 or rate_code > 6:
            raise ValueError("rate_code")
        if gain_code < 0 or gain_code > 6:
            raise ValueError("gain_code")
        if mode < 0 or mode > 3:
            raise ValueError("mode")
        if self.running:
            self.stop()
        self.command(SDATAC)
        self.write_reg(REG_CONFIG1, CONFIG1_BASE | (6 - rate_code))
        self.write_reg(REG_CONFIG2, CONFIG2_TEST if mode == MODE_TEST_SIGNAL else CONFIG2_NORMAL)
        self.write_reg(REG_CONFIG3, CONFIG3_RUN)
        if mode == MODE_LEAD_OFF_CHECK:
            loff, sens, comp = LOFF_AC_31HZ_6NA, channel_mask, CONFIG4_LOFF_COMP
        elif mode == MODE_NORMAL:
            loff, sens, comp = LOFF_DC_6NA, channel_mask, CONFIG4_LOFF_COMP
        else:
            loff, sens, comp = LOFF_DC_6NA, 0, 0
        self.write_reg(REG_LOFF, loff)
        mux = MUX_TEST if mode == MODE_TEST_SIGNAL else (MUX_SHORTED if mode == MODE_SHORTED else MUX_NORMAL)
        for ch in range(8):
            if channel_mask & (1 << ch):
                v = (gain_code << 4) | mux
            else:
                v = CHSET_PD | (gain_code << 4) | MUX_SHORTED  # unused: powered down, shorted
            self.write_reg(REG_CH1SET + ch, v)
        bias = channel_mask if mode == MODE_NORMAL or mode == MODE_LEAD_OFF_CHECK else 0
        self.write_reg(REG_BIAS_SENSP, bias)
        self.write_reg(REG_BIAS_SENSN, bias)
        self.write_reg(REG_LOFF_SENSP, sens)
        self.write_reg(REG_LOFF_SENSN, sens)
        self.write_reg(REG_LOFF_FLIP, 0)
        self.write_reg(REG_MISC1, MISC1_SRB1 if self.srb1 else 0)
        self.write_reg(REG_CONFIG4, comp)
        self.rate_code = rate_code
        self.channel_mask = channel_mask
        self.gain_code = gain_code
        self.mode = mode

    def start(self) -> None:
        """Continuous conversions with DRDY-driven reads (RDATAC + START pin)."""
        self.command(RDATAC)
        self.start_pin(1)
        self.running = True

    def stop(self) -> None:
        self.start_pin(0)
        self.command(SDATAC)
        self.running = False

    def read_sample(self, buf) -> None:
        """The conversion after DRDY fell: status word + channel codes into buf (hot path)."""
        self.cs(0)
        self.spi.readinto(buf)
        self.cs(1)

    def dump_regs(self):
        """All registers (SDATAC mode): for tests and diagnostics."""
        self.read_regs(0, N_REGS, self._rb)
        return self._rb


def status_loff_p(buf) -> int:
    """LOFF_STATP from a status word (bits 19:12 of the 24-bit word)."""
    return ((buf[0] & 0x0F) << 4) | (buf[1] >> 4)


def status_loff_n(buf) -> int:
    return ((buf[1] & 0x0F) << 4) | (buf[2] >> 4)


def status_valid(buf) -> bool:
    return buf[0] & 0xF0 == 0xC0


def code24(buf, off: int) -> int:
    """Signed value of the big-endian 24-bit code at buf[off:off+3]."""
    v = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2]
    return v - 0x1000000 if v & 0x800000 else v

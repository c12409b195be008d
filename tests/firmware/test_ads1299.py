"""The ADS1299 driver against the register-level model: sequences, read-back, test signal,
lead-off bits, data rates."""

import pytest
from mpy import MicroPythonError

PRELUDE = """
import simenv
from simenv import world, MODE_VIRTUAL
world.mode = MODE_VIRTUAL
from board_sim import SimBoard
from muwatch_fw.afe.ads1299 import ADS1299, AFEError, code24, status_loff_p, status_loff_n
board = SimBoard()
chip = board.chip
afe = ADS1299(board)
"""


def test_power_up_reads_id_and_configures_with_readback(micropython):
    out = micropython.run(
        PRELUDE
        + """
print("id", hex(afe.power_up()))
afe.configure(3, 0b10000101, 6, 0)  # 2 kHz, channels 1, 3, 8, gain 24, normal
print("regs", bytes(afe.dump_regs()).hex())
print("writes", chip.reg_writes, "retries", afe.write_retries)
"""
    )
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert lines["id"] == "0x3e"
    regs = bytes.fromhex(lines["regs"])
    assert regs[0x01] == 0x93  # CONFIG1: reserved bits + DR 011 (2 kSPS)
    assert regs[0x02] == 0xC0  # no test signal
    assert regs[0x03] == 0xEC  # reference buffer, bias on
    chset = regs[0x05:0x0D]
    assert chset[0] == 0x60 and chset[2] == 0x60 and chset[7] == 0x60  # gain 24, normal input
    assert all(chset[i] == 0xE1 for i in (1, 3, 4, 5, 6))  # unused: powered down, shorted
    assert regs[0x0D] == regs[0x0E] == 0b10000101  # bias from the used channels
    assert regs[0x0F] == regs[0x10] == 0b10000101  # lead-off sensing on the used channels
    assert regs[0x17] == 0x02  # lead-off comparators on
    assert lines["writes"].split()[0] != "0" and lines["writes"].endswith("retries 0")


def test_register_write_that_does_not_stick_raises(micropython):
    with pytest.raises(MicroPythonError, match="AFEError: ADS1299 register 0x01 reads back"):
        micropython.run(
            PRELUDE
            + """
afe.power_up()
chip._finish_multi = lambda: None  # a chip (or wire) that ignores writes
chip._need = 0
orig = chip._byte
def stuck(b):
    r = orig(b)
    if chip._need and chip._ncmd == chip._need:
        chip._need = 0; chip._ncmd = 0
    return r
chip._byte = stuck
afe.configure(3, 0xFF, 6, 0)
"""
        )


def test_missing_chip_is_reported_not_hung(micropython):
    with pytest.raises(
        MicroPythonError, match="no ADS1299 .8 channels. on the SPI bus: ID register reads 0xFF"
    ):
        micropython.run(
            PRELUDE
            + """
afe.spi.chip = None  # nothing answers on MISO
afe.power_up()
"""
        )


def test_register_access_is_ignored_in_rdatac_as_on_the_chip(micropython):
    out = micropython.run(
        PRELUDE
        + """
afe.power_up()
afe.configure(3, 0xFF, 6, 0)
afe.command(0x10)  # RDATAC
afe._b2[0] = 0x41; afe._b2[1] = 0
afe.cs(0); afe.spi.write(afe._b2); afe._b1[0] = 0x95; afe.spi.write(afe._b1); afe.cs(1)
afe.command(0x11)  # SDATAC
print(hex(afe.read_reg(1)), chip.ignored_commands)
"""
    )
    reg, ignored = out.split()
    assert reg == "0x93" and int(ignored) >= 1


def _stream(micropython, mode, rate_code=3, mask=0xFF, gain=6, us=1_100_000, setup=""):
    return micropython.run(
        PRELUDE
        + f"""
afe.power_up()
afe.configure({rate_code}, {mask}, {gain}, {mode})
{setup}
buf = bytearray(27)
vals = []
times = []
stat = []
def h(p):
    times.append(board.ticks_us())
    afe.read_sample(buf)
    vals.append([code24(buf, 3 + 3 * c) for c in range(8)])
    stat.append((status_loff_p(buf), status_loff_n(buf), buf[0] >> 4))
afe.drdy.irq(handler=h, trigger=1, hard=True)
afe.start()
world.advance({us})
afe.stop()
print("n", len(vals))
print("dt", sorted(set(board.ticks_diff(b, a) for a, b in zip(times, times[1:]))))
print("ch1", [v[0] for v in vals])
print("ch2", [v[1] for v in vals])
print("stat", stat[-1])
print("regstat", (afe.read_reg(0x12), afe.read_reg(0x13)))
"""
    )


def _parse(out):
    return {k: eval(v) for k, v in (line.split(" ", 1) for line in out.strip().splitlines())}


def test_internal_test_signal_values_and_frequency(micropython):
    r = _parse(_stream(micropython, mode=1, rate_code=2, gain=6))  # 1 kHz, gain 24
    amp = round(24 * 2**23 / 2400)  # Vref/2400 at gain 24 in codes = 83886
    ch1 = r["ch1"]
    assert set(ch1) == {amp, -amp}
    # fCLK / 2^20 = 1.953 Hz: a half period is 0.256 s, 256 samples at 1 kSPS
    flips = [i for i in range(1, len(ch1)) if ch1[i] != ch1[i - 1]]
    assert len(flips) >= 3
    assert flips[0] == 256 and all(b - a == 256 for a, b in zip(flips, flips[1:], strict=False))
    assert r["ch2"] == ch1  # all channels carry it


def test_test_signal_scales_with_gain(micropython):
    r = _parse(_stream(micropython, mode=1, rate_code=2, gain=0, us=200_000))  # gain 1
    assert set(r["ch1"]) == {round(2**23 / 2400)}


@pytest.mark.parametrize("rate_code,period", [(0, 4000), (3, 500), (4, 250), (6, 62)])
def test_drdy_period_follows_the_data_rate(micropython, rate_code, period):
    r = _parse(_stream(micropython, mode=3, rate_code=rate_code, us=100_000))
    assert min(r["dt"]) in (period, period + 1) and max(r["dt"]) in (period, period + 1)
    assert abs(r["n"] - (100_000 * 250 * 2**rate_code // 1_000_000 - 4)) <= 2  # minus settling


def test_shorted_inputs_read_near_zero(micropython):
    r = _parse(_stream(micropython, mode=3, us=100_000))
    assert max(abs(v) for v in r["ch1"]) <= 4


def test_lead_off_bits_reach_status_word_and_registers(micropython):
    r = _parse(
        _stream(
            micropython,
            mode=2,
            mask=0b00000111,
            us=100_000,
            setup="chip.electrodes_off(0b00000010, 0b00000101)",
        )
    )
    assert r["stat"] == (0b010, 0b101, 0xC)  # LOFF_STATP, LOFF_STATN, the 1100 prefix
    assert r["regstat"] == (0x2, 0x5)
    assert max(r["ch2"]) == 2**23 - 1  # the off electrode rails its channel


def test_lead_off_current_shows_as_31hz_square(micropython):
    r = _parse(_stream(micropython, mode=2, mask=1, rate_code=3, us=300_000))
    d = [b - a for a, b in zip(r["ch1"], r["ch1"][1:], strict=False)]
    # 6 nA through the 10 kOhm default electrode = 60 µV peak: steps of 2 x 60 µV at gain 24
    step = round(60e-6 * 24 / 4.5 * 2**23)
    big = [x for x in d if abs(x) > step]
    assert len(big) >= 2 * 8  # 31.25 Hz over 0.3 s: ~18 edges

"""Seeed Studio XIAO ESP32S3 (Sense/Plus with 8 MB PSRAM) wired to an ADS1299 module.

PINS must agree with hardware/pinmap.csv (the single source; tests/firmware checks it).
"""

import time

from micropython import const

NAME = "xiao-esp32s3"
HW_REVISION = "A"

# signal name (hardware/pinmap.csv) -> ESP32-S3 GPIO
PINS = {
    "SPI_SCK": 7,
    "SPI_MISO": 8,
    "SPI_MOSI": 9,
    "AFE_CS": 4,
    "AFE_DRDY": 3,
    "AFE_START": 2,
    "AFE_RESET": 1,
    "AFE_PWDN": 43,
    "TRIGGER_IN": 6,
    "BATTERY_ADC": 5,
    "CHARGE_STAT": 44,
    "LED": 21,
}
INPUTS = ("SPI_MISO", "AFE_DRDY", "TRIGGER_IN", "CHARGE_STAT")
# signals whose asserted level is low (hardware/pinmap.csv "active" column)
ACTIVE_LOW = ("AFE_CS", "AFE_DRDY", "AFE_RESET", "AFE_PWDN", "TRIGGER_IN", "CHARGE_STAT", "LED")
# inputs with a pull-up on the board (no internal pull needed)
BOARD_PULL_UP = ("TRIGGER_IN", "CHARGE_STAT")
LED_ACTIVE_LOW = True
TRIGGER_ACTIVE_LOW = True  # the optocoupler inverts: the pin is low while the stimulus is high
BATTERY_DIVIDER = 2  # 1:2 resistor divider in front of the ADC pin

SPI_ID = const(1)
SPI_BAUD = const(8_000_000)  # ADS1299 allows 20 MHz; 27 bytes take 27 µs at 8 MHz
TICKS_PERIOD = const(1 << 30)  # time.ticks_us() wraps at 2**30 on the ESP32 port


class Board:
    NAME = NAME
    HW_REVISION = HW_REVISION
    PINS = PINS
    # Per-sample DRDY hard-IRQ reads in MicroPython top out at 2-4 kHz on an ESP32-S3
    # (docs/firmware.md): faster rates need the read loop in C.
    MAX_RATE_HZ = 4000
    # Ring buffer in PSRAM: 20000 records of 31 bytes (8 channels + status + time) =
    # 10 s at 8 ch x 2 kHz; more channels-per-record headroom at fewer channels.
    RING_BYTES = 620_000
    VREF_DECIVOLTS = 45
    AFE_SRB1 = False  # bipolar electrode pairs (IN+/IN-); True: common reference on SRB1
    FLASH_ROOT = ""  # config and bond files live in the flash root
    TRIGGER_ACTIVE_LOW = TRIGGER_ACTIVE_LOW

    def __init__(self) -> None:
        import machine

        self._machine = machine
        self._pins: dict = {}
        self.ticks_us = time.ticks_us
        self.ticks_ms = time.ticks_ms
        self.ticks_diff = time.ticks_diff
        self.TICKS_PERIOD = TICKS_PERIOD

    def pin(self, name: str):
        """The machine.Pin for a signal of the pin map (created once, IN or OUT by role)."""
        p = self._pins.get(name)
        if p is None:
            m = self._machine
            gpio = self.PINS[name]
            if name in INPUTS:
                p = m.Pin(gpio, m.Pin.IN)  # pulls, where needed, are on the board
            else:
                init = 1 if name in ("AFE_CS", "AFE_RESET", "LED") else 0
                p = m.Pin(gpio, m.Pin.OUT, value=init)
            self._pins[name] = p
        return p

    def spi(self):
        m = self._machine
        return m.SPI(
            SPI_ID,
            baudrate=SPI_BAUD,
            polarity=0,
            phase=1,
            sck=m.Pin(self.PINS["SPI_SCK"]),
            mosi=m.Pin(self.PINS["SPI_MOSI"]),
            miso=m.Pin(self.PINS["SPI_MISO"]),
        )

    def sleep_us(self, us: int) -> None:
        time.sleep_us(us)

    def sleep_ms(self, ms: int) -> None:
        time.sleep_ms(ms)

    def led(self, on: bool) -> None:
        self.pin("LED")(0 if on == LED_ACTIVE_LOW else 1)

    def battery_mv(self) -> int:
        m = self._machine
        adc = getattr(self, "_adc", None)
        if adc is None:
            adc = m.ADC(m.Pin(self.PINS["BATTERY_ADC"]), atten=m.ADC.ATTN_11DB)
            self._adc = adc
        return adc.read_uv() * BATTERY_DIVIDER // 1000

    def usb_power(self) -> bool:
        """USB 5 V present (CHARGE_STAT pulled low through the board's MOSFET): the sensor is
        then tied to the computer or charger, never safe on electrodes on a person."""
        return self.pin("CHARGE_STAT")() == 0

    def unique_id(self) -> bytes:
        return self._machine.unique_id()

    def watchdog(self, timeout_ms: int):
        return self._machine.WDT(timeout=timeout_ms)

    def feed_watchdog_in_background(self, wdt, timeout_ms: int) -> None:
        """At the REPL nothing runs the main loop: a timer IRQ feeds the watchdog instead."""
        m = self._machine
        self._wdt_timer = m.Timer(0)
        self._wdt_timer.init(mode=m.Timer.PERIODIC, period=max(100, timeout_ms // 3), callback=lambda t: wdt.feed())

    def reset(self) -> None:
        self._machine.reset()

    def reset_by_watchdog(self) -> bool:
        m = self._machine
        return m.reset_cause() == m.WDT_RESET

    def irq_off(self) -> int:
        return self._machine.disable_irq()

    def irq_on(self, state: int) -> None:
        self._machine.enable_irq(state)

    def tasks(self, device) -> list:
        """Coroutines the board needs running beside the firmware's (none on hardware)."""
        return []

    def stats(self, extra) -> None:
        """Diagnostics hook (the simulated board writes them to a file)."""

"""`machine` for the unix port: the pieces the firmware uses, wired to the simulated world.

Pin (levels, hard IRQs delivered by simenv.pump), SPI (to the ADS1299 model when its pins
match), ADC (battery divider), Timer (periodic callbacks, delivered by pump), WDT (expiry
ends the process with simenv.RESET_EXIT_WDT so that the launcher reboots it),
unique_id, reset, freq, idle, disable_irq/enable_irq. Never deployed.
"""

from simenv import RESET_EXIT, world


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_FALLING = 1
    IRQ_RISING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None) -> None:
        self.id = id
        self.mode = mode
        self.pull = pull
        self.handler = None
        self.trigger = 0
        old = world.pins.get(id)
        if old is not None:
            self._level = old._level
        else:
            self._level = world.idle_levels.get(id, 1 if pull == Pin.PULL_UP else 0)
        if old is not None:
            self.handler = old.handler
            self.trigger = old.trigger
        world.pins[id] = self
        if value is not None:
            self.value(value)

    def init(self, mode=-1, pull=-1, value=None) -> None:
        self.mode = mode
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self._level
        v = 1 if v else 0
        old = self._level
        self._level = v
        if old != v and world.chip is not None:
            world.chip.pin_changed(self.id, v)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self) -> None:
        self.value(1)

    def off(self) -> None:
        self.value(0)

    def irq(self, handler=None, trigger=3, hard=False):
        self.handler = handler
        self.trigger = trigger if handler is not None else 0
        return None


class SPI:
    MSB = 0
    LSB = 1

    def __init__(self, id, baudrate=1000000, *, polarity=0, phase=0, bits=8, firstbit=0, sck=None, mosi=None, miso=None) -> None:
        self.id = id
        self.baudrate = baudrate
        self.polarity = polarity
        self.phase = phase
        pins = (_pin_id(sck), _pin_id(mosi), _pin_id(miso))
        chip = world.chip
        self.chip = chip if chip is not None and chip.spi_pins == pins else None
        if self.chip is not None and (polarity, phase) != (0, 1):
            raise ValueError("ADS1299 needs SPI mode 1 (polarity=0, phase=1)")

    def init(self, baudrate=1000000, **kw) -> None:
        self.baudrate = baudrate

    def deinit(self) -> None:
        pass

    def write(self, buf) -> None:
        if self.chip is not None:
            self.chip.transfer(buf, None)

    def read(self, n, write=0) -> bytes:
        b = bytearray(n)
        self.readinto(b, write)
        return bytes(b)

    def readinto(self, buf, write=0) -> None:
        if self.chip is None:
            for i in range(len(buf)):
                buf[i] = 0xFF
            return
        self.chip.read_into(buf, write)

    def write_readinto(self, wbuf, rbuf) -> None:
        if self.chip is None:
            for i in range(len(rbuf)):
                rbuf[i] = 0xFF
            return
        self.chip.transfer(wbuf, rbuf)


def _pin_id(p):
    if p is None:
        return -1
    if isinstance(p, Pin):
        return p.id
    return int(p)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, atten=3) -> None:
        self.gpio = _pin_id(pin)
        self.atten = atten

    def atten(self, a) -> None:  # type: ignore[no-redef]
        pass

    def read_uv(self) -> int:
        mv = world.pin_mv(self.gpio)
        return mv * 1000

    def read_u16(self) -> int:
        mv = world.pin_mv(self.gpio)
        v = mv * 65535 // 3100  # 11 dB attenuation: ~3.1 V full scale
        return 65535 if v > 65535 else v

    def read(self) -> int:
        return self.read_u16() >> 4


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, **kw) -> None:
        self.id = id
        if kw:
            self.init(**kw)

    def init(self, *, mode=1, period=-1, freq=-1, callback=None) -> None:
        if freq > 0:
            period = 1000 // freq
        world.timer_add(self, mode, period, callback)

    def deinit(self) -> None:
        world.timer_remove(self)


class WDT:
    def __init__(self, id=0, timeout=5000) -> None:
        world.wdt_start(timeout)

    def feed(self) -> None:
        world.wdt_feed()


_irq_state = [0]


def disable_irq() -> int:
    _irq_state[0] += 1
    world.irq_off = _irq_state[0]
    return _irq_state[0] - 1


def enable_irq(state=0) -> None:
    _irq_state[0] = state
    world.irq_off = state


def unique_id() -> bytes:
    return world.unique_id


def reset() -> None:
    raise SystemExit(RESET_EXIT)


def soft_reset() -> None:
    raise SystemExit(RESET_EXIT)


def freq(hz=None):
    return 240_000_000 if hz is None else None


def idle() -> None:
    world.sleep_us(200)


def reset_cause() -> int:
    return world.reset_cause


PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

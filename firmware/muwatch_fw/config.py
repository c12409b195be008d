"""Device configuration persisted as JSON in flash, with defaults and validation.

A missing file means defaults. A file that does not parse, or a key with a wrong type or
an out-of-range value, never stops the device: the bad part falls back to its default and
a warning is kept in `problems` (the device sends each as a LOG event). An unparsable file
is renamed to <name>.bad so that the next save does not destroy the evidence.
"""

import json

FILENAME = "muwatch.json"

# key: (default, min, max); min/max apply to integers only
DEFAULTS: dict = {
    "rate_code": (3, 0, 6),  # 2000 samples/s
    "channel_mask": (0xFF, 1, 0xFF),
    "gain_code": (6, 0, 6),  # PGA gain 24
    "mode": (0, 0, 3),
    "format": (0x18, 0x10, 0x18),
    "name": ("", 0, 0),  # "" = muw-XXXX from the unique id
    "ble": (True, 0, 0),
    "battery_low_mv": (3500, 3000, 4200),
    "battery_cutoff_mv": (3300, 2800, 4100),
    "wdt_ms": (8000, 0, 60000),  # 0 disables the watchdog
    "board": ("", 0, 0),
}


class Config:
    def __init__(self, root: str = "") -> None:
        self.path = (root + "/" if root else "") + FILENAME
        self.values: dict = {}
        self.problems: list = []
        for k in DEFAULTS:
            self.values[k] = DEFAULTS[k][0]

    def get(self, key):
        return self.values[key]

    def load(self) -> None:
        """Read the file; every problem becomes a default value plus a message."""
        try:
            f = open(self.path)
        except OSError:
            return  # no file yet: defaults
        try:
            try:
                data = json.load(f)
            finally:
                f.close()
        except (ValueError, OSError) as e:
            self.problems.append("config %s unreadable (%s): defaults used, file kept as %s.bad" % (self.path, e, self.path))
            self._quarantine()
            return
        if not isinstance(data, dict):
            self.problems.append("config %s is not a JSON object: defaults used" % self.path)
            self._quarantine()
            return
        for k in data:
            if k not in DEFAULTS:
                self.problems.append("config key %r unknown: ignored" % k)
                continue
            err = self._check(k, data[k])
            if err:
                self.problems.append("config %s: %s; default %r used" % (k, err, DEFAULTS[k][0]))
            else:
                self.values[k] = data[k]
        if self.values["battery_cutoff_mv"] >= self.values["battery_low_mv"]:
            self.problems.append("config battery_cutoff_mv must be below battery_low_mv: defaults used for both")
            self.values["battery_low_mv"] = DEFAULTS["battery_low_mv"][0]
            self.values["battery_cutoff_mv"] = DEFAULTS["battery_cutoff_mv"][0]
        if self.values["format"] not in (0x10, 0x18):
            self.values["format"] = 0x18

    @staticmethod
    def _check(key: str, v):
        default, lo, hi = DEFAULTS[key]
        if isinstance(default, bool):
            return None if isinstance(v, bool) else "expected true or false, got %r" % (v,)
        if isinstance(default, str):
            if not isinstance(v, str):
                return "expected a string, got %r" % (v,)
            return None if len(v) <= 24 else "longer than 24 characters"
        if isinstance(v, bool) or not isinstance(v, int):
            return "expected an integer, got %r" % (v,)
        if v < lo or v > hi:
            return "%d outside %d..%d" % (v, lo, hi)
        if key == "format" and v not in (0x10, 0x18):
            return "format must be 16 (0x10) or 24 (0x18)"
        return None

    def _quarantine(self) -> None:
        import os

        try:
            os.rename(self.path, self.path + ".bad")
        except OSError:
            pass

    def update(self, **kw) -> None:
        for k in kw:
            self.values[k] = kw[k]

    def save(self) -> bool:
        """Write atomically (temp file + rename); False when the flash refused."""
        import os

        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(self.values, f)
            try:
                os.remove(self.path)
            except OSError:
                pass
            os.rename(tmp, self.path)
            return True
        except OSError as e:
            self.problems.append("config not saved: %s" % e)
            return False

"""The muwatch sensor: XIAO ESP32S3 + ADS1299 on one board, battery powered.

Written out by hand (not derived from pinmap.csv) so that rules.check_pinmap compares two
independent descriptions. Supply plan (bipolar, as TI's ADS1299EEG-FE): the XIAO's 3.3 V
feeds, through ferrite beads, DVDD and an inverting charge pump; LDOs make AVDD = +2.5 V and
AVSS = -2.5 V, so the analog mid-supply equals the digital ground (0 V).
"""

from __future__ import annotations

from . import parts as P
from .netlist import Circuit, Part

N_CHANNELS = 8
LEAD_RESISTOR = "100k_lead"  # value key; rules.check_patient_leads derives the minimum


class Builder:
    """Shorthand for numbering passives as they are placed."""

    def __init__(self, c: Circuit) -> None:
        self.c = c
        self.count: dict[str, int] = {}

    def _ref(self, prefix: str) -> str:
        self.count[prefix] = self.count.get(prefix, 0) + 1
        return f"{prefix}{self.count[prefix]}"

    def r(self, value: str, a: str, b: str) -> Part:
        d = P.RESISTORS[value]
        part = self.c.add(self._ref("R"), d, value.split("_")[0])
        self.c.connect(a, (part, "1"))
        self.c.connect(b, (part, "2"))
        return part

    def cap(self, value: str, a: str, b: str) -> Part:
        part = self.c.add(self._ref("C"), P.CAPACITORS[value], value)
        self.c.connect(a, (part, "1"))
        self.c.connect(b, (part, "2"))
        return part

    def fb(self, a: str, b: str) -> Part:
        part = self.c.add(self._ref("FB"), P.FERRITE, "220R@100MHz")
        self.c.connect(a, (part, "1"))
        self.c.connect(b, (part, "2"))
        return part

    def clamp(self, node: str) -> Part:
        """Low-leakage diodes from an analog node to both analog rails (ESD, overvoltage)."""
        part = self.c.add(self._ref("D"), P.BAV199, "BAV199")
        self.c.connect("AVSS", (part, "A1"))
        self.c.connect("AVDD", (part, "K2"))
        self.c.connect(node, (part, "K1A2"))
        return part

    def tp(self, net: str) -> Part:
        part = self.c.add(self._ref("TP"), P.TESTPOINT, net)
        self.c.connect(net, (part, "1"))
        return part


def build() -> Circuit:
    c = Circuit("muwatch-sensor")
    b = Builder(c)
    mcu = c.add("U1", P.XIAO_ESP32S3, "XIAO ESP32S3")
    afe = c.add("U2", P.ADS1299, "ADS1299")

    # --- MCU <-> ADS1299 (SPI mode 1 and the control lines) -------------------------------
    c.connect("SPI_SCK", (mcu, "D8"), (afe, "SCLK"))
    c.connect("SPI_MISO", (mcu, "D9"), (afe, "DOUT"))
    c.connect("SPI_MOSI", (mcu, "D10"), (afe, "DIN"))
    c.connect("AFE_CS", (mcu, "D3"), (afe, "CS"))
    c.connect("AFE_DRDY", (mcu, "D2"), (afe, "DRDY"))
    c.connect("AFE_START", (mcu, "D1"), (afe, "START"))
    c.connect("AFE_RESET", (mcu, "D0"), (afe, "RESET"))
    c.connect("AFE_PWDN", (mcu, "D6"), (afe, "PWDN"))
    # Defined levels while the ESP32-S3 boots (its pads float until the firmware claims them):
    # deselected, not converting, out of reset, powered down until the firmware's sequence.
    b.r("10k", "AFE_CS", "DVDD")
    b.r("10k", "AFE_START", "GND")
    b.r("10k", "AFE_RESET", "DVDD")
    b.r("10k", "AFE_PWDN", "GND")

    # --- Power: battery, switch, XIAO charger, rails ----------------------------------------
    j_bat = c.add("J1", P.CONN_JST_PH2, "BATTERY")
    sw = c.add("SW1", P.SWITCH_SPDT, "POWER")
    c.connect("VBAT_RAW", (j_bat, "1"), (sw, "COM"))
    c.connect("GND", (j_bat, "2"), (mcu, "GND"), (mcu, "BAT-"))
    c.connect("VBAT", (sw, "A"), (mcu, "BAT+"))
    c.no_connect(sw, "B", "switch OFF position: the battery is disconnected")
    c.power_flags["VBAT_RAW"] = "off-board: the LiPo cell on J1"
    c.power_flags["VBAT"] = "battery through SW1"
    c.connect("3V3", (mcu, "3V3"))
    c.connect("USB_5V", (mcu, "5V"))

    # Digital supply of the ADS1299 (3.3 V, filtered).
    b.fb("3V3", "DVDD")
    c.power_flags["DVDD"] = "3V3 through a ferrite bead"
    c.connect("DVDD", (afe, "48"), (afe, "50"), (afe, "CLKSEL"))
    b.cap("1u", "DVDD", "GND")
    b.cap("100n", "DVDD", "GND")
    b.cap("100n", "DVDD", "GND")
    c.connect("GND", (afe, "33"), (afe, "49"), (afe, "51"), (afe, "RESV1"), (afe, "DAISY_IN"))

    # Analog supplies: 3V3 -> bead -> V3A -> TPS73225 (+2.5 V) and TPS60403 (-V3A) -> TPS72325.
    b.fb("3V3", "V3A")
    c.power_flags["V3A"] = "3V3 through a ferrite bead"
    b.cap("10u", "V3A", "GND")
    cp = c.add("U3", P.TPS60403, "TPS60403")
    c.connect("V3A", (cp, "IN"))
    c.connect("GND", (cp, "GND"))
    c.connect("CP_FLY_P", (cp, "CFLY+"))
    c.connect("CP_FLY_N", (cp, "CFLY-"))
    b.cap("1u", "CP_FLY_P", "CP_FLY_N")
    c.connect("VNEG", (cp, "OUT"))
    b.cap("1u", "VNEG", "GND")

    ldo_p = c.add("U4", P.TPS73225, "TPS73225")
    c.connect("V3A", (ldo_p, "IN"), (ldo_p, "EN"))
    c.connect("GND", (ldo_p, "GND"))
    c.connect("AVDD", (ldo_p, "OUT"))
    c.connect("LDOP_NR", (ldo_p, "NR"))
    b.cap("10n", "LDOP_NR", "GND")
    b.cap("10u", "AVDD", "GND")

    ldo_n = c.add("U5", P.TPS72325, "TPS72325")
    c.connect("VNEG", (ldo_n, "IN"), (ldo_n, "EN"))
    c.connect("GND", (ldo_n, "GND"))
    c.connect("AVSS", (ldo_n, "OUT"))
    c.connect("LDON_NR", (ldo_n, "NR"))
    b.cap("10n", "LDON_NR", "GND")
    b.cap("10u", "AVSS", "GND")

    # ADS1299 analog supply pins, each with its own 100 nF, plus bulk (SBAS499C, section 11).
    for pin in ("19", "21", "22", "56", "59", "AVDD1"):
        c.connect("AVDD", (afe, pin))
        b.cap("100n", "AVDD", "AVSS")
    b.cap("1u", "AVDD", "AVSS")
    for pin in ("20", "23", "32", "57", "58", "AVSS1", "VREFN"):
        c.connect("AVSS", (afe, pin))
    # Internal reference and regulator capacitors, all returned to AVSS.
    c.connect("VREFP", (afe, "VREFP"))
    b.cap("10u", "VREFP", "AVSS")
    b.cap("100n", "VREFP", "AVSS")
    for pin, values in (
        ("VCAP1", ("100u",)),
        ("VCAP2", ("1u",)),
        ("VCAP3", ("1u", "100n")),
        ("VCAP4", ("1u",)),
    ):
        c.connect(pin, (afe, pin))
        for v in values:
            b.cap(v, pin, "AVSS")

    # Unused ADS1299 functions.
    c.no_connect(
        afe,
        "CLK",
        "internal 2.048 MHz oscillator (CLKSEL high); CLK is an output only if CLK_EN is set",
    )
    c.no_connect(afe, "SRB1", "bipolar montage: MISC1.SRB1 = 0")
    c.no_connect(afe, "SRB2", "bipolar montage: CHnSET.SRB2 = 0")
    c.no_connect(afe, "BIASREF", "internal mid-supply bias reference: CONFIG3.BIASREF_INT = 1")
    c.no_connect(afe, "BIASIN", "bias not re-routed to an input channel")
    c.no_connect(afe, "RESERVED", "reserved output (pin 64), leave open")
    for pin in ("GPIO1", "GPIO2", "GPIO3", "GPIO4"):
        # 10 k to ground: defined inputs, and harmless if firmware ever drives them high.
        c.connect(f"AFE_{pin}", (afe, pin))
        b.r("10k", f"AFE_{pin}", "GND")

    # --- Electrodes: connector -> 100 k lead resistor -> clamp + 220 pF -> ADS1299 input ------
    j_el = c.add("J2", P.CONN_ELECTRODES, "ELECTRODES")
    for ch in range(1, N_CHANNELS + 1):
        for k, pol in enumerate("PN"):
            pin = str(2 * ch - 1 + k)
            lead, node = f"LEAD{ch}{pol}", f"IN{ch}{pol}"
            c.connect(lead, (j_el, pin))
            j_el.patient_lead.add(pin)
            b.r(LEAD_RESISTOR, lead, node)
            c.connect(node, (afe, node))
            b.cap("220p", node, "GND")
            b.clamp(node)
    # Bias drive (driven right leg): 1 Mohm || 1.5 nF feedback (SBAS499C, bias drive figure).
    c.connect("BIAS_OUT", (afe, "BIASOUT"))
    c.connect("BIAS_INV", (afe, "BIASINV"))
    b.r("1M", "BIAS_INV", "BIAS_OUT")
    b.cap("1.5n", "BIAS_INV", "BIAS_OUT")
    b.clamp("BIAS_OUT")
    c.connect("LEAD_BIAS", (j_el, "17"))
    j_el.patient_lead.add("17")
    b.r(LEAD_RESISTOR, "LEAD_BIAS", "BIAS_OUT")
    for pin in ("18", "19", "20"):
        c.no_connect(j_el, pin, "spare: never tie to a supply or ground (patient side)")

    # --- Stimulator trigger: isolated through an optocoupler --------------------------------
    j_trig = c.add("J3", P.CONN_JST_PH2, "TRIGGER")
    opto = c.add("U6", P.LTV817S, "LTV-817S")
    c.connect("TRIG_P", (j_trig, "1"))
    c.connect("TRIG_N", (j_trig, "2"), (opto, "K"))
    b.r("330", "TRIG_P", "TRIG_LED")
    c.connect("TRIG_LED", (opto, "A"))
    d_rev = c.add("D18", P.D1N4148W, "1N4148W")  # reverse-voltage protection of the LED
    c.connect("TRIG_LED", (d_rev, "K"))
    c.connect("TRIG_N", (d_rev, "A"))
    c.connect("TRIGGER_IN", (mcu, "D5"), (opto, "C"))
    c.connect("GND", (opto, "E"))
    b.r("10k", "TRIGGER_IN", "3V3")

    # --- Battery voltage and USB-power (charging) status ------------------------------------
    b.r("470k", "VBAT", "BATTERY_ADC")
    b.r("470k", "BATTERY_ADC", "GND")
    b.cap("100n", "BATTERY_ADC", "GND")
    c.connect("BATTERY_ADC", (mcu, "D4"))
    q = c.add("Q1", P.BSS138, "BSS138")
    b.r("100k", "USB_5V", "USB_SENSE")
    b.r("1M", "USB_SENSE", "GND")
    c.connect("USB_SENSE", (q, "G"))
    c.connect("GND", (q, "S"))
    c.connect("CHARGE_STAT", (q, "D"), (mcu, "D7"))
    b.r("100k", "CHARGE_STAT", "3V3")

    # --- Bring-up test points ----------------------------------------------------------------
    for net in ("AVDD", "AVSS", "DVDD", "VREFP", "GND"):
        b.tp(net)

    _off_board(c)
    return c


def _off_board(c: Circuit) -> None:
    """BOM lines that are not on the PCB. 'any' = no single maker; buy to the description."""
    items = [
        (
            "BT1",
            1,
            "Battery",
            "LiPo cell 3.7 V about 500 mAh (size 503035) with protection "
            "circuit, JST-PH 2.0 lead, certified to IEC 62133-2; check lead polarity against J1",
            "any",
            "",
        ),
        (
            "ENC1",
            1,
            "Enclosure",
            "ABS enclosure about 80 x 40 x 20 mm, no exposed metal (it is "
            "part of the patient isolation); cut-outs for USB-C, switch, electrode header, trigger",
            "Hammond Manufacturing",
            "1551KBK",
        ),
        (
            "W1",
            1,
            "Lead harness",
            "IDC socket 2x10, 2.54 mm, with strain relief, on 20-way "
            "ribbon; wires 1-17 soldered to the snap leads, 18-20 cut back and insulated",
            "any",
            "",
        ),
        (
            "W2",
            17,
            "Snap lead",
            "Electrode lead wire, 4 mm female snap to bare end, 50 cm, insulated",
            "any",
            "",
        ),
        (
            "E1",
            25,
            "Electrode",
            "Ag/AgCl pre-gelled surface electrode with 4 mm snap, single "
            "use (pack of 25); trim or use small tabs on hand muscles",
            "Ambu",
            "N-00-S/25",
        ),
        (
            "W3",
            1,
            "Trigger cable",
            "JST-PH 2-pin housing with crimps to BNC male, 1 m, for the "
            "stimulator's TTL sync output (centre = pin 1)",
            "any",
            "",
        ),
        (
            "STRAP1",
            1,
            "Strap",
            "Hook-and-loop strap 25 mm to hold the sensor on forearm or leg",
            "any",
            "",
        ),
    ]
    for ref, qty, name, description, maker, mpn in items:
        d = P.off_board(name, description, maker, mpn)
        c.add(ref, d, name, on_board=False, qty=qty)

"""Part definitions, pin by pin, from the manufacturers' datasheets.

Pin numbers are the package's; names are the datasheet's (active-low pins without a bar).
Footprints name KiCad's standard libraries where one exists, else the project's `muwatch`
footprint library (to be drawn from the maker's drawing before ordering a PCB).
"""

from __future__ import annotations

from .netlist import PartDef, PinDef
from .netlist import PinType as T

IN, OUT, B, Z, P = T.INPUT, T.OUTPUT, T.BIDIRECTIONAL, T.TRI_STATE, T.PASSIVE
PI, PO, OC, NC = T.POWER_IN, T.POWER_OUT, T.OPEN_COLLECTOR, T.NO_CONNECT


def _pins(*spec: tuple[str | int, str, T]) -> tuple[PinDef, ...]:
    return tuple(PinDef(str(n), name, t) for n, name, t in spec)


# TI ADS1299 (SBAS499C, TQFP-64 "PAG", pin configuration and functions table).
ADS1299 = PartDef(
    name="ADS1299",
    description="8-channel 24-bit delta-sigma ADC with PGA for biopotentials, TQFP-64",
    manufacturer="Texas Instruments",
    mpn="ADS1299IPAG",
    footprint="Package_QFP:TQFP-64_10x10mm_P0.5mm",
    datasheet="https://www.ti.com/lit/ds/symlink/ads1299.pdf",
    pins=_pins(
        (1, "IN8N", IN),
        (2, "IN8P", IN),
        (3, "IN7N", IN),
        (4, "IN7P", IN),
        (5, "IN6N", IN),
        (6, "IN6P", IN),
        (7, "IN5N", IN),
        (8, "IN5P", IN),
        (9, "IN4N", IN),
        (10, "IN4P", IN),
        (11, "IN3N", IN),
        (12, "IN3P", IN),
        (13, "IN2N", IN),
        (14, "IN2P", IN),
        (15, "IN1N", IN),
        (16, "IN1P", IN),
        (17, "SRB1", B),
        (18, "SRB2", B),
        (19, "AVDD", PI),
        (20, "AVSS", PI),
        (21, "AVDD", PI),
        (22, "AVDD", PI),
        (23, "AVSS", PI),
        (24, "VREFP", P),
        (25, "VREFN", PI),
        (26, "VCAP4", P),
        (27, "NC", NC),
        (28, "VCAP1", P),
        (29, "NC", NC),
        (30, "VCAP2", P),
        (31, "RESV1", IN),
        (32, "AVSS", PI),
        (33, "DGND", PI),
        (34, "DIN", IN),
        (35, "PWDN", IN),
        (36, "RESET", IN),
        (37, "CLK", IN),
        (38, "START", IN),
        (39, "CS", IN),
        (40, "SCLK", IN),
        (41, "DAISY_IN", IN),
        (42, "GPIO1", B),
        (43, "DOUT", Z),
        (44, "GPIO2", B),
        (45, "GPIO3", B),
        (46, "GPIO4", B),
        (47, "DRDY", OUT),
        (48, "DVDD", PI),
        (49, "DGND", PI),
        (50, "DVDD", PI),
        (51, "DGND", PI),
        (52, "CLKSEL", IN),
        (53, "AVSS1", PI),
        (54, "AVDD1", PI),
        (55, "VCAP3", P),
        (56, "AVDD", PI),
        (57, "AVSS", PI),
        (58, "AVSS", PI),
        (59, "AVDD", PI),
        (60, "BIASREF", IN),
        (61, "BIASINV", IN),
        (62, "BIASIN", IN),
        (63, "BIASOUT", OUT),
        (64, "RESERVED", OUT),
    ),
)

# Seeed Studio XIAO ESP32S3 (ESP32-S3R8: 8 MB octal PSRAM, 8 MB flash). Pads numbered
# counter-clockwise from D0 seen from the top (left column D0..D6, right column D7 at the
# bottom up to 5V), then the two battery pads on the underside. GPIOs per Seeed's pinout.
XIAO_PAD_GPIO = {
    "D0": 1,
    "D1": 2,
    "D2": 3,
    "D3": 4,
    "D4": 5,
    "D5": 6,
    "D6": 43,
    "D7": 44,
    "D8": 7,
    "D9": 8,
    "D10": 9,
}
XIAO_ESP32S3 = PartDef(
    name="XIAO_ESP32S3",
    description="ESP32-S3 module board, 8 MB PSRAM, USB-C, LiPo charger, 21 x 17.8 mm",
    manufacturer="Seeed Studio",
    mpn="113991114",
    footprint="muwatch:Seeed_XIAO_ESP32S3_SMD",
    datasheet="https://wiki.seeedstudio.com/xiao_esp32s3_getting_started/",
    pins=_pins(
        (1, "D0", B),
        (2, "D1", B),
        (3, "D2", B),
        (4, "D3", B),
        (5, "D4", B),
        (6, "D5", B),
        (7, "D6", B),
        (8, "D7", B),
        (9, "D8", B),
        (10, "D9", B),
        (11, "D10", B),
        (12, "3V3", PO),
        (13, "GND", PO),
        (14, "5V", PO),
        (15, "BAT+", PI),
        (16, "BAT-", PI),
    ),
)

# TI TPS60403 (SLVS161), SOT-23-5 "DBV": unregulated inverting charge pump, 60 mA.
TPS60403 = PartDef(
    name="TPS60403",
    description="Inverting charge pump, 1.6-5.5 V in, 60 mA, 250 kHz, SOT-23-5",
    manufacturer="Texas Instruments",
    mpn="TPS60403DBVR",
    footprint="Package_TO_SOT_SMD:SOT-23-5",
    datasheet="https://www.ti.com/lit/ds/symlink/tps60403.pdf",
    pins=_pins((1, "OUT", PO), (2, "IN", PI), (3, "CFLY-", P), (4, "GND", PI), (5, "CFLY+", P)),
)

# TI TPS73225 (SBVS037), SOT-23-5 "DBV": +2.5 V low-noise LDO, 250 mA.
TPS73225 = PartDef(
    name="TPS73225",
    description="LDO +2.5 V fixed, 250 mA, low noise, SOT-23-5",
    manufacturer="Texas Instruments",
    mpn="TPS73225DBVR",
    footprint="Package_TO_SOT_SMD:SOT-23-5",
    datasheet="https://www.ti.com/lit/ds/symlink/tps732.pdf",
    pins=_pins((1, "IN", PI), (2, "GND", PI), (3, "EN", IN), (4, "NR", P), (5, "OUT", PO)),
)

# TI TPS72325 (SBVS036), SOT-23-5 "DBV": -2.5 V low-noise negative LDO, 200 mA. EN must be
# driven beyond the +-0.4 V disable window: tie it to IN.
TPS72325 = PartDef(
    name="TPS72325",
    description="LDO -2.5 V fixed (negative), 200 mA, low noise, SOT-23-5",
    manufacturer="Texas Instruments",
    mpn="TPS72325DBVR",
    footprint="Package_TO_SOT_SMD:SOT-23-5",
    datasheet="https://www.ti.com/lit/ds/symlink/tps723.pdf",
    pins=_pins((1, "GND", PI), (2, "IN", PI), (3, "EN", IN), (4, "NR", P), (5, "OUT", PO)),
)

# Lite-On LTV-817S: phototransistor optocoupler, 5000 Vrms isolation, SMD DIP-4.
LTV817S = PartDef(
    name="LTV-817S",
    description="Optocoupler, phototransistor output, 5000 Vrms isolation, SMD DIP-4",
    manufacturer="Lite-On",
    mpn="LTV-817S",
    footprint="Package_DIP:SMDIP-4_W9.53mm",
    datasheet="https://optoelectronics.liteon.com/upload/download/DS-70-96-0016/LTV-8X7%20series.PDF",
    pins=_pins((1, "A", P), (2, "K", P), (3, "E", P), (4, "C", OC)),
)

# onsemi BSS138, SOT-23: logic-level N-MOSFET (VGS(th) 0.8-1.5 V).
BSS138 = PartDef(
    name="BSS138",
    description="N-channel MOSFET 50 V 200 mA, logic level, SOT-23",
    manufacturer="onsemi",
    mpn="BSS138",
    footprint="Package_TO_SOT_SMD:SOT-23",
    datasheet="https://www.onsemi.com/pdf/datasheet/bss138-d.pdf",
    pins=_pins((1, "G", P), (2, "S", P), (3, "D", OC)),
)

# Nexperia BAV199: two low-leakage diodes in series (pA at a few volts), SOT-23.
BAV199 = PartDef(
    name="BAV199",
    description="Dual low-leakage switching diode, series pair, SOT-23",
    manufacturer="Nexperia",
    mpn="BAV199,215",
    footprint="Package_TO_SOT_SMD:SOT-23",
    datasheet="https://assets.nexperia.com/documents/data-sheet/BAV199.pdf",
    pins=_pins((1, "A1", P), (2, "K2", P), (3, "K1A2", P)),
)

D1N4148W = PartDef(
    name="1N4148W",
    description="Switching diode 100 V 150 mA, SOD-123",
    manufacturer="Diodes Incorporated",
    mpn="1N4148W-7-F",
    footprint="Diode_SMD:D_SOD-123",
    pins=_pins((1, "K", P), (2, "A", P)),
)

CONN_ELECTRODES = PartDef(
    name="Conn_02x10_Shrouded",
    description="Box header 2x10, 2.54 mm, shrouded and polarised (electrode lead harness)",
    manufacturer="Wurth Elektronik",
    mpn="61202021621",
    footprint="Connector_IDC:IDC-Header_2x10_P2.54mm_Vertical",
    pins=_pins(*((n, f"{n}", P) for n in range(1, 21))),
)

CONN_JST_PH2 = PartDef(
    name="Conn_JST_PH_2",
    description="Wire-to-board header 2 pins, 2.0 mm pitch, side entry",
    manufacturer="JST",
    mpn="S2B-PH-K-S",
    footprint="Connector_JST:JST_PH_S2B-PH-K_1x02_P2.00mm_Horizontal",
    pins=_pins((1, "1", P), (2, "2", P)),
)

SWITCH_SPDT = PartDef(
    name="SW_SPDT",
    description="Slide switch SPDT, through-hole, 100 mA",
    manufacturer="C&K",
    mpn="OS102011MS2QN1",
    footprint="Button_Switch_THT:SW_Slide_1P2T_CK_OS102011MS2Q",
    pins=_pins((1, "A", P), (2, "COM", P), (3, "B", P)),
)

TESTPOINT = PartDef(
    name="TestPoint",
    description="SMD test point loop",
    manufacturer="Keystone Electronics",
    mpn="5015",
    footprint="TestPoint:TestPoint_Keystone_5015_Micro-Minature",
    pins=_pins((1, "1", P)),
)


def two_pin(name: str, description: str, manufacturer: str, mpn: str, footprint: str) -> PartDef:
    return PartDef(name, description, manufacturer, mpn, footprint, _pins((1, "1", P), (2, "2", P)))


R0603 = "Resistor_SMD:R_0603_1608Metric"
R1206 = "Resistor_SMD:R_1206_3216Metric"
C0603 = "Capacitor_SMD:C_0603_1608Metric"
C0805 = "Capacitor_SMD:C_0805_2012Metric"
C1210 = "Capacitor_SMD:C_1210_3225Metric"

RESISTORS = {
    "330": two_pin("R", "Resistor 330 ohm 1% 0603 thick film", "Yageo", "RC0603FR-07330RL", R0603),
    "10k": two_pin("R", "Resistor 10 kohm 1% 0603 thick film", "Yageo", "RC0603FR-0710KL", R0603),
    "100k": two_pin(
        "R", "Resistor 100 kohm 1% 0603 thick film", "Yageo", "RC0603FR-07100KL", R0603
    ),
    "470k": two_pin(
        "R", "Resistor 470 kohm 1% 0603 thick film", "Yageo", "RC0603FR-07470KL", R0603
    ),
    "1M": two_pin("R", "Resistor 1 Mohm 1% 0603 thick film", "Yageo", "RC0603FR-071ML", R0603),
    # Patient-lead resistor: 1206 for creepage across its body and 200 V working voltage.
    "100k_lead": two_pin(
        "R",
        "Resistor 100 kohm 1% 1206 thick film, 200 V (patient-lead current limit)",
        "Yageo",
        "RC1206FR-07100KL",
        R1206,
    ),
}

CAPACITORS = {
    "220p": two_pin(
        "C", "Capacitor 220 pF 1% 50 V C0G 0603", "Murata", "GRM1885C1H221FA01D", C0603
    ),
    "1.5n": two_pin(
        "C", "Capacitor 1.5 nF 5% 50 V C0G 0603", "Murata", "GRM1885C1H152JA01D", C0603
    ),
    "10n": two_pin("C", "Capacitor 10 nF 10% 50 V X7R 0603", "Murata", "GRM188R71H103KA01D", C0603),
    "100n": two_pin(
        "C", "Capacitor 100 nF 10% 50 V X7R 0603", "Murata", "GRM188R71H104KA93D", C0603
    ),
    "1u": two_pin("C", "Capacitor 1 uF 10% 25 V X5R 0603", "Murata", "GRM188R61E105KA12D", C0603),
    "10u": two_pin("C", "Capacitor 10 uF 10% 10 V X5R 0805", "Murata", "GRM219R61A106KE44D", C0805),
    "100u": two_pin(
        "C", "Capacitor 100 uF 20% 10 V X5R 1210", "Taiyo Yuden", "LMK325BJ107MM-T", C1210
    ),
}

FERRITE = two_pin(
    "FB",
    "Ferrite bead 220 ohm at 100 MHz, 1.4 A, 0603",
    "Murata",
    "BLM18PG221SN1D",
    "Inductor_SMD:L_0603_1608Metric",
)


def off_board(name: str, description: str, manufacturer: str, mpn: str) -> PartDef:
    """A BOM line that is not on the PCB (battery, electrodes, leads, enclosure)."""
    return PartDef(name, description, manufacturer, mpn, footprint="", pins=())

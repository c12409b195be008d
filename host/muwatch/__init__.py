"""muwatch host bridge: transports, protocol decoder, recorder and analysis for the muwatch sensor."""

__version__ = "0.1.0"

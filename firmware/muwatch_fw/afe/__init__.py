"""Analog front-ends. The ADS1299 is the one muwatch boards carry."""

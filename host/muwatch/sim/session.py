"""Guided session (filled in below)."""

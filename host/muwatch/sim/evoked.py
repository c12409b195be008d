"""Evoked responses (filled in below)."""

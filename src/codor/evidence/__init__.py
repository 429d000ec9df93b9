"""Signed evidence: log keys, DSSE envelopes and in-toto statements."""

__all__: list[str] = []

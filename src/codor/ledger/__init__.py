"""The append-only ledger: a transparency log with signed checkpoints."""

__all__: list[str] = []

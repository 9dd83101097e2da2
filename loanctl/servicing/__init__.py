"""Servicing: payment files, allocation, positions and the DuckDB ledger (SPEC §4)."""

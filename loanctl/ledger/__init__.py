"""The DuckDB ledger: posting, archive, rebuild, check and read-only queries."""

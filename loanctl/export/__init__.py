"""`loanctl export`: the book's derived tables as Parquet (SPEC §10), for when a book outgrows one machine."""

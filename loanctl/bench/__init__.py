"""The benchmark: a synthetic book and every stage timed."""

"""Metrics, covenant tests and scenario simulation."""

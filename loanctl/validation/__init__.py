"""Checks of a loaded book, and the JSON Schema of its files."""

"""The git audit trail: drift against a base revision, history and diff."""

"""New deals, approvals, funding and amendments, checked against the book's policy."""

"""Bank reconciliation: read a bank statement (camt.053, MT940, CSV), match its credits to open
dues, and write a payments file for `post-payments` with a report of what matched and what did not."""

"""loanctl — origination and servicing of private-credit loans over plain files in git."""
__version__ = "0.1.0"

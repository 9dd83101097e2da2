"""`python -m loanctl`."""
from .cli import main

main()

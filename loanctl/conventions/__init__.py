"""Financial conventions (SPEC §3): small, pure building blocks of the schedule engine.

- ``daycount``  year fractions (ACT/360, ACT/365F, 30/360, 30E/360, ACT/ACT ISDA)
- ``calendars`` business-day calendars and conventions (following, modified following, …)
- ``dates``     unadjusted payment dates (end-of-month rule, short final stub)
- ``rounding``  rounding money to the minor unit (half_up, half_even)
- ``split``     splitting a figure among lenders (largest remainder)
- ``currency``  ISO 4217 codes and minor units (babel)

All money and rates are ``Decimal``; nothing here does I/O or reads the clock. Import the
submodules directly (``from loanctl.conventions.daycount import year_fraction``).
"""

"""Notices and statements (SPEC §5.1): what operations sends every period, built as plain
JSON-ready data from the schedule and the allocation (`build`: billing, rate-set and payment
notices; `statement`: the borrower's account). Rendering lives in `loanctl.render.notices`."""

"""Validation of credit-event files (SPEC §2.7, §4.4): one reproducer per code E0620–E0629,
positioned at the offending value (found in the source text, never read back), and
`loanctl event` writing a checked file."""

from __future__ import annotations

from pathlib import Path

from bookfactory import pos, run_validate
from creditkit import BULLET, add_event, credit_book
from ledgerkit import FIXED_DEAL, post_rows, row, run

DEAL_FILE = f"{FIXED_DEAL}/deal.yaml"


def errors(root: Path) -> list[tuple[str, str, int, int]]:
    code, diags = run_validate(root)
    found = [(d["code"], Path(d["file"]).relative_to(root).as_posix(), d["line"], d["column"]) for d in diags
             if d["severity"] == "error"]
    assert (code == 1) == bool(found)
    return found


def event_at(root: Path, name: str, needle: str, code: str) -> tuple[str, str, int, int]:
    text = (root / FIXED_DEAL / "events" / f"{name}.yaml").read_text()
    line, col = pos(text, needle)
    return (code, f"{FIXED_DEAL}/events/{name}.yaml", line, col)


def test_valid_events_pass(tmp_path):
    book = credit_book(tmp_path / "b")
    add_event(book, "d", "date: 2026-06-15\ntype: default\nfacility: tl\nnote: payment default\n")
    add_event(book, "c", "date: 2026-08-14\ntype: default_cured\n")
    add_event(book, "w", "date: 2026-09-30\ntype: write_off\namount: 250000\n")
    assert errors(book) == []


def test_e0620_event_id_differs_from_its_file_name(tmp_path):
    book = credit_book(tmp_path / "b")
    from bookfactory import write_file
    write_file(book, f"{FIXED_DEAL}/events/2026-06-default.yaml", "id: default-1\ndate: 2026-06-15\ntype: default\n")
    assert errors(book) == [event_at(book, "2026-06-default", "default-1", "E0620")]


def test_e0621_event_before_the_start_or_after_maturity(tmp_path):
    book = credit_book(tmp_path / "b")
    add_event(book, "early", "date: 2025-12-01\ntype: default\n")   # start 2026-01-15
    add_event(book, "late", "date: 2027-01-16\ntype: non_accrual\n")  # maturity 2027-01-15
    assert errors(book) == [event_at(book, "early", "2025-12-01", "E0621"),
                            event_at(book, "late", "2027-01-16", "E0621")]


def test_e0622_event_on_an_unknown_facility(tmp_path):
    book = credit_book(tmp_path / "b")
    add_event(book, "x", "date: 2026-06-15\ntype: default\nfacility: rcf\n")
    assert errors(book) == [event_at(book, "x", "rcf", "E0622")]


def test_e0623_cure_without_a_default(tmp_path):
    book = credit_book(tmp_path / "b")
    add_event(book, "cure", "date: 2026-08-14\ntype: default_cured\n")
    add_event(book, "later", "date: 2026-09-14\ntype: default\n")  # after the cure: does not count
    assert errors(book) == [event_at(book, "cure", "default_cured", "E0623")]


def test_e0624_accrual_restored_without_non_accrual(tmp_path):
    book = credit_book(tmp_path / "b")
    add_event(book, "restored", "date: 2026-09-01\ntype: accrual_restored\n")
    assert errors(book) == [event_at(book, "restored", "accrual_restored", "E0624")]


def test_e0625_write_off_above_the_outstanding_after_payments(tmp_path):
    book = credit_book(tmp_path / "b", BULLET.replace("type: bullet", "type: straight"))
    bank = tmp_path / "bank"
    bank.mkdir()
    # straight 250,000 a quarter: after the 2026-04-15 payment (9,000 interest + 250,000 principal)
    # 750,000 is outstanding; writing off 750,000.01 on 2026-05-01 is too much, 750,000 is not.
    post_rows(book, bank, "p.csv", [row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "259000.00")])
    add_event(book, "wo", "date: 2026-05-01\ntype: write_off\namount: 750000.01\n")
    assert errors(book) == [event_at(book, "wo", "750000.01", "E0625")]
    add_event(book, "wo", "date: 2026-05-01\ntype: write_off\namount: 750000\n")
    assert errors(book) == []


def test_e0626_amount_on_a_default(tmp_path):
    book = credit_book(tmp_path / "b")
    add_event(book, "d", "date: 2026-06-15\ntype: default\namount: 5\n")
    assert errors(book) == [event_at(book, "d", "amount: 5", "E0626")[:3] + (9,)]  # the value after "amount: "


def _status(book: Path, status: str) -> tuple[str, str, int, int]:
    deal = book / DEAL_FILE
    deal.write_text(deal.read_text().replace("status: funded", f"status: {status}"))
    line, col = pos(deal.read_text(), status)
    return line, col


def test_e0627_written_off_status_needs_a_write_off_of_everything(tmp_path):
    book = credit_book(tmp_path / "b")
    line, col = _status(book, "written_off")
    add_event(book, "wo", "date: 2026-09-30\ntype: write_off\namount: 400000\n")
    assert errors(book) == [("E0627", DEAL_FILE, line, col)]
    add_event(book, "wo", "date: 2026-09-30\ntype: write_off\n")  # no amount: all of it
    assert errors(book) == []


def test_e0628_repaid_status_with_principal_owed(tmp_path):
    book = credit_book(tmp_path / "b", BULLET.replace("type: bullet", "type: straight"))
    line, col = _status(book, "repaid")
    bank = tmp_path / "bank"
    bank.mkdir()
    post_rows(book, bank, "p.csv", [row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "259000.00")])
    assert errors(book) == [("E0628", DEAL_FILE, line, col)]


def test_e0629_event_on_a_deal_not_funded(tmp_path):
    book = credit_book(tmp_path / "b", BULLET.replace("status: funded", "status: approved"))
    add_event(book, "d", "date: 2026-06-15\ntype: default\n")
    assert errors(book) == [event_at(book, "d", "default", "E0629")]


# --- loanctl event ---------------------------------------------------------------------------
def test_event_command_writes_a_checked_file_from_the_template(tmp_path):
    book = credit_book(tmp_path / "b")
    result = run(book, "event", FIXED_DEAL, "--type", "default", "--date", "2026-06-15", "--note", "§8.1(a)")
    assert result.exit_code == 0, result.stderr
    path = book / FIXED_DEAL / "events" / "2026-06-15-default.yaml"
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../../.schema/event.schema.json\n")
    import yaml
    assert yaml.safe_load(text) == {"id": "2026-06-15-default", "date": __import__("datetime").date(2026, 6, 15),
                                    "type": "default", "note": "§8.1(a)"}
    assert errors(book) == []


def test_event_command_refuses_a_cure_without_default_and_writes_nothing(tmp_path):
    book = credit_book(tmp_path / "b")
    result = run(book, "event", FIXED_DEAL, "--type", "default_cured", "--date", "2026-06-15")
    assert result.exit_code == 1
    assert "E0623" in result.stderr and "nothing was written" in result.stderr
    assert not (book / FIXED_DEAL / "events").exists()


def test_event_command_write_off_with_amount_and_facility(tmp_path):
    book = credit_book(tmp_path / "b")
    result = run(book, "event", FIXED_DEAL, "--type", "write_off", "--date", "2026-09-30", "--amount", "250000",
                 "--facility", "tl")
    assert result.exit_code == 0, result.stderr
    import yaml
    doc = yaml.safe_load((book / FIXED_DEAL / "events" / "2026-09-30-write-off-tl.yaml").read_text())
    assert (doc["type"], str(doc["amount"]), doc["facility"]) == ("write_off", "250000", "tl")
    assert run(book, "event", FIXED_DEAL, "--type", "oops", "--date", "2026-09-30").exit_code == 2

"""ISO 20022 camt.053 (bank-to-customer statement) read with defusedxml, never trusting the file.

The parser is defusedxml's expat reader with every DTD refused, so no entity is declared,
expanded (billion laughs) or fetched (external entities); depth is bounded and the size is
checked before parsing. A small tree of (local name, text, line) is built by SAX, so every
diagnostic names the entry's line.
"""

from __future__ import annotations

import io
import xml.sax
from dataclasses import dataclass, field
from datetime import date

from ..diagnostics import Diagnostic
from .statement import Entry, Statement, exact_amount, problem, reference_problem, MAX_STATEMENT_REFERENCE

MAX_DEPTH = 40
CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053."


@dataclass(slots=True)
class Node:
    name: str
    line: int
    attrs: dict[str, str]
    children: list["Node"] = field(default_factory=list)
    text: str = ""

    def find(self, *path: str) -> "Node | None":
        node: Node | None = self
        for name in path:
            node = next((c for c in node.children if c.name == name), None) if node else None
        return node

    def all(self, name: str) -> list["Node"]:
        return [c for c in self.children if c.name == name]

    def text_of(self, *path: str) -> str:
        node = self.find(*path)
        return node.text.strip() if node else ""

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


class _TooDeep(Exception):
    pass


class _Builder(xml.sax.handler.ContentHandler):
    def __init__(self) -> None:
        super().__init__()
        self.root: Node | None = None
        self.namespace = ""
        self.stack: list[Node] = []
        self.locator = None
        self._text: list[list[str]] = []

    def setDocumentLocator(self, locator) -> None:
        self.locator = locator

    def line(self) -> int:
        return self.locator.getLineNumber() if self.locator else 0

    def startElementNS(self, name, qname, attrs) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise _TooDeep()
        uri, local = name
        node = Node(local, self.line(), {k[1]: v for k, v in attrs.items()})
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root, self.namespace = node, uri or ""
        self.stack.append(node)
        self._text.append([])

    def endElementNS(self, name, qname) -> None:
        node = self.stack.pop()
        node.text = "".join(self._text.pop())

    def characters(self, content: str) -> None:
        if self._text:
            self._text[-1].append(content)


def parse_xml(file: str, raw: bytes) -> tuple[_Builder | None, list[Diagnostic]]:
    from defusedxml import DefusedXmlException
    from defusedxml.expatreader import DefusedExpatParser
    parser = DefusedExpatParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    parser.setFeature(xml.sax.handler.feature_namespaces, True)
    builder = _Builder()
    parser.setContentHandler(builder)
    try:
        parser.parse(io.BytesIO(raw))  # parse(), not feed(): it hands the handler a locator (lines)
    except DefusedXmlException as exc:
        return None, [problem("E0712", f"the statement declares a DTD or entities ({type(exc).__name__}): "
                              "refused, nothing is expanded or fetched", file, builder.line() or None,
                              "a bank statement needs no <!DOCTYPE>; ask the bank for a plain camt.053 export")]
    except xml.sax.SAXParseException as exc:
        return None, [problem("E0711", f"malformed XML: {exc.getMessage()}", file, exc.getLineNumber() or None)]
    except _TooDeep:
        return None, [problem("E0711", f"malformed camt.053: elements nested deeper than {MAX_DEPTH}", file,
                              builder.line() or None)]
    return builder, []


def parse_camt(file: str, raw: bytes) -> tuple[Statement | None, list[Diagnostic]]:
    built, diags = parse_xml(file, raw)
    if built is None:
        return None, diags
    root = built.root
    if root is None or root.name != "Document" or not built.namespace.startswith(CAMT053) \
            or root.find("BkToCstmrStmt") is None:
        return None, [problem("E0710", f"XML but not a camt.053 statement (root {root.name if root else '?'!r} in "
                              f"{built.namespace or 'no namespace'!r})", file, 1,
                              "loanctl reads camt.053 (BkToCstmrStmt); camt.052 and camt.054 are not statements")]
    entries: list[Entry] = []
    diags = []
    starts, ends, refs, accounts = [], [], [], []
    for stmt in root.find("BkToCstmrStmt").all("Stmt"):
        ref = stmt.text_of("Id")
        if not ref or len(ref) > MAX_STATEMENT_REFERENCE:
            diags.append(problem("E0711", "malformed camt.053: a statement (Stmt) without a usable Id", file, stmt.line))
            continue
        refs.append(ref)
        acct = stmt.find("Acct")
        accounts.append(acct.text_of("Id", "IBAN") or acct.text_of("Id", "Othr", "Id") if acct else "")
        start, end = _date(stmt.find("FrToDt", "FrDtTm")), _date(stmt.find("FrToDt", "ToDtTm"))
        for ntry in stmt.all("Ntry"):
            entry, more = _entry(file, ntry, ref)
            diags += more
            if entry is not None:
                entries.append(entry)
        dates = [e.date for e in entries if e.statement_ref == ref]
        starts.append(start or min(dates, default=None))
        ends.append(end or max(dates, default=None))
    if not refs and not diags:
        diags.append(problem("E0711", "malformed camt.053: no statement (Stmt) in BkToCstmrStmt", file, root.line))
    if diags:
        return None, diags
    starts, ends = [d for d in starts if d], [d for d in ends if d]
    return Statement(file, "camt.053", " ".join(refs), " ".join(a for a in accounts if a),
                     min(starts, default=None), max(ends, default=None), tuple(entries)), []


def _date(node: Node | None) -> date | None:
    """ISO date or date-time text (the date part); None when absent or not a date."""
    if node is None:
        return None
    try:
        return date.fromisoformat(node.text.strip()[:10])
    except ValueError:
        return None


def _entry(file: str, ntry: Node, stmt_ref: str) -> tuple[Entry | None, list[Diagnostic]]:
    amt = ntry.find("Amt")
    ccy = amt.attrs.get("Ccy", "") if amt else ""
    what = f"entry at line {ntry.line}"
    if amt is None or not ccy:
        return None, [problem("E0711", f"malformed camt.053: {what} has no Amt with a Ccy", file, ntry.line)]
    from ..conventions.currency import minor_units
    try:
        minor_units(ccy)
    except Exception:
        return None, [problem("E0718", f"{what}: unknown currency {ccy[:10]!r}", file, amt.line)]
    amount, diags = exact_amount(amt.text, ccy, file, amt.line, what)
    indicator = ntry.text_of("CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        diags.append(problem("E0711", f"malformed camt.053: {what} has CdtDbtInd {indicator[:10]!r}, "
                             "not CRDT or DBIT", file, ntry.line))
    when = _date(ntry.find("ValDt", "Dt")) or _date(ntry.find("ValDt", "DtTm")) \
        or _date(ntry.find("BookgDt", "Dt")) or _date(ntry.find("BookgDt", "DtTm"))
    if when is None:
        diags.append(problem("E0718", f"{what} has no valid value or booking date", file, ntry.line))
    ref = ntry.text_of("AcctSvcrRef") or ntry.text_of("NtryRef")
    if not ref:
        tx_refs = [n.text_of("AcctSvcrRef") for n in ntry.walk() if n.name == "Refs"]
        ref = next((r for r in tx_refs if r), "")
    bad = reference_problem(ref, file, ntry.line, what)
    if bad:
        diags.append(bad)
    if diags:
        return None, diags
    status = ntry.text_of("Sts", "Cd") or ntry.text_of("Sts")
    reversal = ntry.text_of("RvslInd").lower() in ("true", "1")
    remittance, counterparty = [], []
    for node in ntry.walk():
        if node.name == "RmtInf":
            remittance += [n.text.strip() for n in node.walk() if n.name in ("Ustrd", "Ref") and n.text.strip()]
        elif node.name in ("Dbtr", "UltmtDbtr"):
            counterparty += [n.text.strip() for n in node.walk() if n.name in ("Nm", "Id") and n.text.strip()
                             and not n.children]
    return Entry(ref, when, amount, indicator == "CRDT", ccy, " ".join(remittance), " ".join(counterparty),
                 stmt_ref, ntry.line, booked=status in ("BOOK", "") and not reversal), []

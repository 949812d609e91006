"""XML: hardened, streamed; one record per element the rules name.

lxml's iterparse reads the file in chunks. Nothing reaches outside the file:
entities are not expanded, no DTD is loaded, no network is used, and a
document that carries a DOCTYPE at all is refused (`xml_forbidden`) — an
invoice never legitimately needs one, and refusing it closes the door on
billion-laughs and XXE tricks before they start.

A record is an element whose path from the root is one of `[format] record`
(e.g. "/inv:Invoice" or "/orders/order"). It is handed over whole (as
`Record.node`) and dropped from memory once the next one starts. Elements
named in `[format] skip` (big embedded attachments) lose their content as soon
as they are read, so it is never kept.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from lxml import etree

from parsers import ParseError, Record, einvoice
from parsers.limits import limit

# The largest text libxml2 accepts in one node without huge_tree (10 MB) stays its limit.
_PARSER_SAFETY = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                      remove_comments=True, remove_pis=True)


class XPathError(ValueError):
    """An XPath expression in a rules file does not compile."""


def canonical(namespaces: dict) -> dict[str, str]:
    """[format] namespaces as XPath needs them: prefix → one URI (the first of a list).

    A prefix may name a list of URIs, the versions of one standard
    (`c = ["urn:…camt.053.001.02", …, "urn:…camt.053.001.08"]`): the parser reads
    an element of any of them as if it were in the first one, so one set of XPaths
    serves every version, and a version the list lacks is not read at all.
    """
    return {prefix: uri if isinstance(uri, str) else uri[0] for prefix, uri in namespaces.items()}


def aliases(namespaces: dict) -> dict[str, str]:
    """Every other URI of a listed prefix → the first one (see `canonical`)."""
    return {other: uris[0] for uris in namespaces.values() if not isinstance(uris, str) for other in uris[1:]}


_NOT_A_NAME = re.compile(r"[\[\]()@*=|'\"\s]")


def clark(name: str, namespaces: dict) -> str:
    """'cbc:ID' → '{urn:…CommonBasicComponents-2}ID'; a name without prefix has no namespace."""
    if _NOT_A_NAME.search(name):
        raise XPathError(f"{name!r} is not an element name: record and skip name elements, one per step "
                         f"(\"/c:Document/c:Stmt/c:Ntry\"), without filters, predicates or functions; "
                         f"select among records with [[skip]], or read a nested element with [document] each")
    prefix, _, local = name.rpartition(":")
    if not prefix:
        return local
    if prefix not in namespaces:
        raise XPathError(f"prefix {prefix!r} is not declared in [format] namespaces")
    return f"{{{canonical(namespaces)[prefix]}}}{local}"


def record_paths(spec, namespaces: dict) -> set[tuple[str, ...]]:
    """`record = "/a:Root/b:Item"` (or a list of such paths) → tuples of Clark names."""
    paths = set()
    for path in [spec] if isinstance(spec, str) else spec:
        if not isinstance(path, str) or not path.startswith("/") or "//" in path or path == "/":
            raise XPathError(f"record path {path!r} must be absolute, e.g. \"/inv:Invoice\" or \"/orders/order\"")
        paths.add(tuple(clark(step, namespaces) for step in path.strip("/").split("/")))
    return paths


def compile_xpath(expression: str, namespaces: dict) -> Callable[[etree._Element], list]:
    """An XPath evaluator for the rules: node → the list of values it selects.

    Elements give their text content, attributes and text() their string; a
    number result (count()) is given as written. XPath numbers are binary
    floats, so money must be selected as elements, never summed by sum().
    """
    try:
        xpath = etree.XPath(expression, namespaces=canonical(namespaces))
    except etree.XPathSyntaxError as e:
        raise XPathError(f"bad XPath {expression!r}: {e}") from None

    def evaluate(node) -> list:
        try:
            result = xpath(node)
        except etree.XPathEvalError as e:
            raise XPathError(f"XPath {expression!r} cannot be evaluated: {e}") from None
        if isinstance(result, list):
            return result
        if isinstance(result, bool):
            return ["true" if result else "false"]
        if isinstance(result, float):
            return [str(int(result)) if result.is_integer() else repr(result)]
        return [result]
    return evaluate


XML_ELEMENT = "xml_element"     # a record's `fields` key holding its element as text (a rejects file)


def xml_text(node, namespaces: dict | None = None) -> str:
    """An element as XML text, as the file wrote it (for a rejects file): an element read under a
    listed prefix's first URI (see `canonical`) is written with the URI its file declared."""
    firsts = {uris[0]: uris for uris in (namespaces or {}).values() if not isinstance(uris, str)}
    renamed = []
    declared = set(node.nsmap.values())
    for element in node.iter() if firsts else ():
        tag = element.tag
        if isinstance(tag, str) and tag.startswith("{"):
            uri, _, local = tag[1:].partition("}")
            original = next((u for u in firsts.get(uri, ())[1:] if u in declared), None)
            if original is not None:
                renamed.append((element, tag))
                element.tag = f"{{{original}}}{local}"
    try:
        return etree.tostring(node, encoding="unicode", with_tail=False)
    finally:
        for element, tag in renamed:        # read on as the rules' XPaths expect
            element.tag = tag


def climbs(expression: str) -> int | None:
    """How many levels the expression goes up from its context node before it goes down
    (`../../c:Amt` → 2); None when it starts from outside any record (an absolute path, a
    `parent::` or `ancestor::` axis). Predicates are not counted: a `..` inside `[…]` is
    relative to the step it filters."""
    outer, depth, quote = [], 0, None
    for char in expression:            # the expression without string literals and predicates
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0:
            outer.append(char)
    text = "".join(outer)
    if re.search(r"\b(ancestor|ancestor-or-self|parent)::", text):
        return None
    most = 0
    for part in re.split(r"[|(,]", text):
        part = part.strip()
        if part.startswith("/"):
            return None
        steps = 0
        while part.startswith(".."):
            steps += 1
            part = part[2:].lstrip("/")
        most = max(most, steps)
    return most


def text_of(item) -> str:
    """The text of one XPath result item: an element's text content, or the string itself."""
    if isinstance(item, etree._Element):
        return "".join(item.itertext())
    return str(item)


class XmlRecords:
    """The record elements of one XML document, streamed."""

    columns = None      # XML has no header: fields are read by XPath

    def __init__(self, stream: BinaryIO, options: dict, *, owns_stream: bool = True):
        namespaces = options.get("namespaces", {})
        self._aliases = aliases(namespaces)
        try:
            self._paths = record_paths(options.get("record", []), namespaces)
            self._skip = {clark(name, namespaces) for name in options.get("skip", [])}
        except XPathError as e:
            raise ParseError("bad_rules", str(e), hint="fix [format] in the rules file") from None
        self._wanted = [" ".join(p) for p in sorted(self._paths)]
        self._max_elements = limit(options, "max_xml_record_elements")
        self._stream = stream
        self._owns_stream = owns_stream

    def __iter__(self) -> Iterator[Record]:
        events = etree.iterparse(self._stream, events=("start", "end"), **_PARSER_SAFETY)
        stack: list[str] = []
        found = 0
        in_record = 0           # depth of the record element being read, 0 outside
        held = record_line = 0  # its elements so far (a record is held whole until it ends), its line
        try:
            for event, element in events:
                if event == "start":
                    if in_record:
                        held += 1
                        if held > self._max_elements:
                            raise ParseError("xml_record_too_large",
                                             f"the record that starts at line {record_line} holds more than "
                                             f"{self._max_elements:,} elements", line=record_line,
                                             hint="raise max_xml_record_elements in [format] if the file is "
                                                  "genuine (each element holds about 130 bytes while read)")
                    if not stack:
                        _refuse_doctype(element)
                        einvoice.refuse_root(element.tag)
                    if self._aliases:
                        _alias(element, self._aliases)
                    stack.append(element.tag)
                    if not in_record and tuple(stack) in self._paths:
                        in_record, held, record_line = len(stack), 0, element.sourceline
                    continue
                if element.tag in self._skip:
                    element.clear(keep_tail=True)     # an attachment's megabytes are never kept
                if len(stack) == in_record:
                    einvoice.refuse_record(element)
                    found += 1
                    yield Record(element.sourceline or 0, {}, element)
                    in_record = 0
                    _forget(element)
                elif not in_record and len(stack) > 1:
                    _forget(element)                   # outside any record: not needed
                stack.pop()
        except etree.XMLSyntaxError as e:
            line = e.lineno if e.lineno else None
            raise ParseError("bad_xml", f"the XML is not well-formed: {e.msg}" + (f" (line {line})" if line else ""),
                             line=line, hint="the file may be truncated or not XML at all") from None
        if not found:
            raise ParseError("no_records", f"no element matches the record path(s) {self._describe()}",
                             hint="check the root element and its namespace against [format] record "
                                  "and namespaces")

    def _describe(self) -> str:
        return ", ".join("/" + "/".join(p) for p in sorted(self._paths))

    def close(self) -> None:
        if self._owns_stream:
            self._stream.close()


def _alias(element, names: dict[str, str]) -> None:
    """An element of a listed namespace version renamed into the prefix's first URI."""
    tag = element.tag
    if isinstance(tag, str) and tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        if uri in names:
            element.tag = f"{{{names[uri]}}}{local}"


def _refuse_doctype(root) -> None:
    doctype = root.getroottree().docinfo.doctype
    if doctype:
        raise ParseError("xml_forbidden", f"the document declares a DTD ({doctype[:80]}); "
                                          "DTDs and entities are refused", line=1,
                         hint="an e-invoice never needs a DOCTYPE: ask the sender for plain XML")


def _forget(element) -> None:
    """Free an element we are done with, and its already-read previous siblings."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def root_tag(path: Path) -> str | None:
    """The Clark name of the file's root element, or None when it is not readable XML.

    Read with the same hardened settings, stopping at the first element: lets
    several XML rules share a file pattern (UBL or CII, whatever the name says).
    """
    try:
        with open(path, "rb") as stream:
            for _, element in etree.iterparse(stream, events=("start",), **_PARSER_SAFETY):
                return element.tag
    except (etree.XMLSyntaxError, OSError):
        return None
    return None


def record_roots(options: dict) -> set[str]:
    """The root elements a rules file's `record` paths start with."""
    namespaces = options.get("namespaces", {})
    try:
        roots = {path[0] for path in record_paths(options.get("record", []), namespaces)}
    except XPathError:
        return set()
    for other, first in aliases(namespaces).items():      # every listed version's root too
        roots |= {root.replace(f"{{{first}}}", f"{{{other}}}") for root in roots if root.startswith(f"{{{first}}}")}
    return roots


def open_records(path: Path, options: dict) -> XmlRecords:
    return XmlRecords(open(path, "rb"), options)

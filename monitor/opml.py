"""OPML 2.0 subscription lists in and out.

Why lxml with a locked-down parser rather than `xml.etree`: the file comes from a user, so it
must neither expand entities (billion laughs) nor read files or URLs (XXE, external DTD), and a
broken file must be refused with the line it broke on. A document that declares entities is
refused outright, as defusedxml does. Categories are "/"-separated paths: the folder an outline
sits in (nested outlines) comes first, then those of its `category` attribute.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lxml import etree

from monitor.errors import InvalidInputError

MAX_OPML_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 32


class OpmlError(InvalidInputError):
    """The file is not usable OPML; the message names the line where that was found."""


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    xml_url: str
    title: str
    html_url: str | None = None
    categories: tuple[str, ...] = ()  # folder path first, e.g. ("Turkey/Defence",)


def parse_opml(data: bytes) -> list[OpmlFeed]:
    """Every feed outline of the file, in document order; one entry per distinct xmlUrl."""
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(f"OPML file larger than {MAX_OPML_BYTES} bytes")
    root = _parse_xml(data)
    if root.tag != "opml":
        raise OpmlError(f"line {root.sourceline}: root element is <{root.tag}>, not <opml>")
    body = root.find("body")
    if body is None:
        raise OpmlError(f"line {root.sourceline}: <opml> has no <body>")
    merged: dict[str, OpmlFeed] = {}
    for feed in _feeds(body, folder=(), depth=0):
        known = merged.get(feed.xml_url)
        if known:
            extra = tuple(c for c in feed.categories if c not in known.categories)
            feed = OpmlFeed(known.xml_url, known.title, known.html_url, known.categories + extra)
        merged[feed.xml_url] = feed
    return list(merged.values())


def _parse_xml(data: bytes) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or (exc.position[0] if exc.position else "?")
        raise OpmlError(f"line {line}: not well-formed XML: {exc.msg}") from exc
    dtd = tree.docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise OpmlError("line 1: the document declares XML entities, which are not accepted")
    return tree.getroot()


def _feeds(parent: etree._Element, folder: tuple[str, ...], depth: int) -> Iterator[OpmlFeed]:
    if depth > MAX_DEPTH:
        raise OpmlError(f"line {parent.sourceline}: outlines nested deeper than {MAX_DEPTH}")
    for outline in parent.iterchildren("outline"):
        label = _attr(outline, "text") or _attr(outline, "title")
        xml_url = _attr(outline, "xmlUrl")
        if xml_url:
            yield _feed(outline, xml_url, label, folder)
        elif label:
            yield from _feeds(outline, (*folder, label.replace("/", " ")), depth + 1)


def _feed(
    outline: etree._Element, xml_url: str, label: str | None, folder: tuple[str, ...]
) -> OpmlFeed:
    categories = ["/".join(folder)] if folder else []
    for path in (_attr(outline, "category") or "").split(","):
        category = "/".join(part.strip() for part in path.split("/") if part.strip())
        if category and category not in categories:
            categories.append(category)
    return OpmlFeed(
        xml_url=xml_url,
        title=_attr(outline, "title") or label or xml_url,
        html_url=_attr(outline, "htmlUrl"),
        categories=tuple(categories),
    )


def _attr(element: etree._Element, name: str) -> str | None:
    value = " ".join((element.get(name) or "").split())
    return value or None


def export_opml(feeds: Iterable[OpmlFeed], *, title: str = "monitor feeds") -> bytes:
    """OPML 2.0: each feed inside the folders of its first category, the others as attributes.

    `parse_opml(export_opml(feeds))` gives the same feeds back (same categories, same order
    within a folder).
    """
    root = etree.Element("opml", version="2.0")
    etree.SubElement(etree.SubElement(root, "head"), "title").text = title
    body = etree.SubElement(root, "body")
    folders: dict[tuple[str, ...], etree._Element] = {(): body}
    for feed in feeds:
        path = tuple(feed.categories[0].split("/")) if feed.categories else ()
        outline = etree.SubElement(_folder(folders, path), "outline", type="rss")
        outline.set("text", feed.title)
        outline.set("title", feed.title)
        outline.set("xmlUrl", feed.xml_url)
        if feed.html_url:
            outline.set("htmlUrl", feed.html_url)
        if len(feed.categories) > 1:
            outline.set("category", ",".join(f"/{c}" for c in feed.categories[1:]))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _folder(
    folders: dict[tuple[str, ...], etree._Element], path: tuple[str, ...]
) -> etree._Element:
    if path not in folders:
        outline = etree.SubElement(_folder(folders, path[:-1]), "outline", text=path[-1])
        outline.set("title", path[-1])
        folders[path] = outline
    return folders[path]

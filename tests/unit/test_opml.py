"""OPML import and export: round trip, broken files, hostile files, the example list."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.opml import OpmlError, OpmlFeed, export_opml, parse_opml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "feeds.opml"

NESTED = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Subscriptions</title></head>
  <body>
    <outline text="Turkey">
      <outline text="Defence">
        <outline type="rss" text="Defence Turkey" title="Defence Turkey (EN)"
                 xmlUrl="https://a.example/rss" htmlUrl="https://a.example/"
                 category="/Analysis/Long reads, Wire"/>
      </outline>
      <outline type="rss" text="Diplomacy desk" xmlUrl="https://b.example/feed"/>
    </outline>
    <outline type="rss" text="Top level" xmlUrl="https://c.example/atom" category="World"/>
    <outline text="An empty folder"/>
    <outline text="Also in World">
      <outline type="rss" text="Defence Turkey again" xmlUrl="https://a.example/rss"/>
    </outline>
  </body>
</opml>
"""


def test_nested_outlines_and_category_attributes_become_categories() -> None:
    assert parse_opml(NESTED) == [
        OpmlFeed(
            "https://a.example/rss",
            "Defence Turkey (EN)",
            "https://a.example/",
            ("Turkey/Defence", "Analysis/Long reads", "Wire", "Also in World"),
        ),
        OpmlFeed("https://b.example/feed", "Diplomacy desk", None, ("Turkey",)),
        OpmlFeed("https://c.example/atom", "Top level", None, ("World",)),
    ]


def test_export_then_import_gives_the_same_feeds() -> None:
    feeds = parse_opml(NESTED)
    exported = export_opml(feeds)
    assert exported.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert parse_opml(exported) == feeds
    assert parse_opml(export_opml(parse_opml(exported))) == feeds


def test_export_nests_folders_and_escapes_text() -> None:
    feeds = [
        OpmlFeed("https://x.example/?a=1&b=2", 'Quotes " & <tags>', None, ("A/B/C", "D")),
        OpmlFeed("https://y.example/", "Plain", None, ()),
    ]
    exported = export_opml(feeds)
    assert b"&amp;b=2" in exported and b"&lt;tags&gt;" in exported
    assert exported.count(b"<outline ") == 5  # three folders, two feeds
    assert parse_opml(exported) == feeds


def test_broken_file_names_the_line() -> None:
    broken = NESTED.replace(b'text="Top level"', b'text="Top level" <', 1)
    line = NESTED[: NESTED.index(b'<outline type="rss" text="Top level"')].count(b"\n") + 1
    with pytest.raises(OpmlError, match=f"^line {line}: not well-formed XML"):
        parse_opml(broken)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "line 1"),
        (b"<rss><channel/></rss>", "not <opml>"),
        (b'<opml version="2.0"><head/></opml>', "no <body>"),
        (b"\n\n<opml><body><outline text='x'></body></opml>", "line 3"),
    ],
)
def test_not_opml_is_refused_with_a_line(data: bytes, message: str) -> None:
    with pytest.raises(OpmlError, match=message):
        parse_opml(data)


def test_xxe_and_entity_bombs_are_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("SENTINEL-OPML")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file://{sentinel}">]>'
        '<opml version="2.0"><body><outline text="t" xmlUrl="https://a.example/">&x;'
        "</outline></body></opml>"
    ).encode()
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<opml version="2.0"><body><outline text="&c;" xmlUrl="https://a.example/"/>'
        b"</body></opml>"
    )
    for data in (xxe, laughs):
        with pytest.raises(OpmlError, match="entit") as caught:
            parse_opml(data)
        assert "SENTINEL" not in str(caught.value)


def test_external_dtd_is_not_loaded() -> None:
    data = (
        b'<?xml version="1.0"?><!DOCTYPE opml SYSTEM "http://127.0.0.1:9/opml.dtd">'
        b'<opml version="2.0"><body><outline text="t" xmlUrl="https://a.example/"/></body></opml>'
    )
    assert parse_opml(data) == [OpmlFeed("https://a.example/", "t", None, ())]


def test_example_feed_list_is_valid_and_grouped() -> None:
    feeds = parse_opml(EXAMPLE.read_bytes())
    folders = {feed.categories[0] for feed in feeds}
    assert {"Turkey", "Pakistan", "United States", "Defence", "Diplomacy"} <= folders
    assert all(feed.xml_url.startswith("https://") for feed in feeds)
    assert len({feed.xml_url for feed in feeds}) == len(feeds) >= 25

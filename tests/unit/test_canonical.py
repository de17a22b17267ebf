"""Canonical URLs and entry dedupe keys (RELIABILITY case 35)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.pipeline.canonical import (
    NotWebUrlError,
    canonical_url,
    dedupe_key,
    is_tracking_param,
    shared_guids,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM:80/a?b=1#frag", "http://example.com/a?b=1"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://news.example./story", "https://news.example/story"),
        ("https://bücher.example/ü", "https://xn--bcher-kva.example/%C3%BC"),
        ("http://[::1]:80/x", "http://[::1]/x"),
        ("https://a.example/p%2fq%e9", "https://a.example/p%2Fq%E9"),
        ("https://a.example/100%", "https://a.example/100%25"),
        ("  https://a.example/x y  ", "https://a.example/x%20y"),
    ],
)
def test_spelling_is_normalised(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_tracking_parameters_go_and_the_rest_keep_their_order() -> None:
    url = (
        "https://a.example/story?id=7&utm_source=rss&UTM_Medium=x&fbclid=1&gclid=2&mc_cid=3"
        "&mc_eid=4&igshid=5&ref_src=twsrc&page=2&pk_campaign=z&b=&flag"
    )
    assert canonical_url(url) == "https://a.example/story?id=7&page=2&b=&flag"
    assert canonical_url("https://a.example/?utm_source=x") == "https://a.example/"


def test_parameters_that_merely_resemble_tracking_are_kept() -> None:
    assert not is_tracking_param("ref")
    assert not is_tracking_param("utmost")
    assert canonical_url("https://a.example/?ref=home&q=turkey") == (
        "https://a.example/?ref=home&q=turkey"
    )


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://a.example/",
        "data:text/html,x",
        "http:///path",
        "/relative",
        "http://a.example:99999/",
        "mailto:x@example.com",
        "",
    ],
)
def test_non_web_urls_are_refused(url: str) -> None:
    with pytest.raises(NotWebUrlError):
        canonical_url(url)


@given(
    st.sampled_from(["http", "HTTPS"]),
    st.sampled_from(["Example.com", "bücher.example", "a.b.example"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20),
    st.lists(st.sampled_from(["utm_source=x", "id=1", "fbclid=z", "q=é"]), max_size=4),
)
def test_canonical_form_is_idempotent(scheme: str, host: str, path: str, query: list[str]) -> None:
    url = f"{scheme}://{host}/{path.replace('?', '').replace('#', '')}?{'&'.join(query)}"
    once = canonical_url(url)
    assert canonical_url(once) == once


def test_unique_guid_is_the_key_whatever_the_link() -> None:
    assert dedupe_key("g1", "https://a/1", "t", "c") == dedupe_key("g1", "https://a/2", "x", "y")
    assert dedupe_key("g1", None, None, None).startswith("guid:")


def test_shared_guid_falls_back_to_guid_and_link() -> None:
    one = dedupe_key("same", "https://a/1", "t", "c", guid_is_shared=True)
    two = dedupe_key("same", "https://a/2", "t", "c", guid_is_shared=True)
    assert one != two and one.startswith("guid+link:")
    assert one == dedupe_key("same", "https://a/1", "other", "text", guid_is_shared=True)


def test_without_guid_link_then_text() -> None:
    assert dedupe_key(None, "https://a/1", "t", "c").startswith("link:")
    text_key = dedupe_key(None, None, "Title", "Some  content")
    assert text_key.startswith("text:")
    assert text_key == dedupe_key("", "", "Title", "Some content")  # whitespace-insensitive
    assert text_key != dedupe_key(None, None, "Title", "Other content")
    shared = dedupe_key("same", None, "Title", "Body", guid_is_shared=True)
    assert shared.startswith("guid+text:") and shared != dedupe_key(
        "same", None, "Title 2", "Body", guid_is_shared=True
    )


def test_shared_guids_are_repeats_or_the_feed_own_address() -> None:
    guids = ["a", "b", "a", None, "https://site.example/", "c"]
    found = shared_guids(guids, ["https://feed.example/rss", "https://site.example/"])
    assert found == {"a", "https://site.example/"}

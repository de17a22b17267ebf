"""Editing a subscription in a real browser: the Edit form starts from the subscription's
values, its live preview follows the form as the create form's does, and saving records a
`SubscriptionChanged` event naming the token (same service and world as test_web_ui.py)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.browser.test_web_ui import Service, browser, log_in, page, service  # noqa: F401

pytestmark = pytest.mark.slow


def test_the_edit_form_previews_live_and_saves(page: Any, service: Service) -> None:  # noqa: F811
    log_in(page)
    page.goto("/subscriptions")
    row = page.locator("table.subscriptions tr", has_text="analyst@example.org")
    row.get_by_role("link", name="Edit").click()
    form = page.locator("#subscription-form")
    assert "/edit" in (form.get_attribute("action") or "")
    assert form.locator("input[name=stances][value=tension]").is_checked()
    assert form.locator("input[name=target]").count() == 0  # the address stays

    form.locator("input[name=stances][value=tension]").uncheck()
    form.locator("input[name=stances][value=cooperation]").check()
    count = page.locator("#preview .preview-count strong")
    count.wait_for(timeout=10_000)  # filled in by the live preview, without a page load
    assert "/edit" in (page.locator("#subscription-form").get_attribute("action") or "")
    expected = httpx.get(
        f"{service.url}/subscriptions", params={"preview": "1", "stances": "cooperation"}
    ).text
    found = re.search(r'class="preview-count"><strong>(\d+)</strong>', expected)
    assert found and count.inner_text() == found.group(1)

    page.get_by_role("button", name="Save changes").click()
    assert "changed" in page.inner_text(".flash")
    assert "cooperation" in page.locator("table.subscriptions tr", has_text="analyst@").inner_text()
    [change] = service.events("SubscriptionChanged")
    assert change["data"]["filters"]["stances"] == ["cooperation"]
    assert change["metadata"]["actor"].startswith("token:")

"""Pure parts of matching and unsubscribe links: material changes, stored article views,
update bodies, and HMAC tokens."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from monitor.commands.subscriptions import unsubscribe_token, verify_token
from monitor.config import Settings
from monitor.errors import InvalidInputError
from monitor.stages.matching import material_changes, view_from_json, view_to_json, webhook_body
from tests.delivery_factories import article


def test_only_a_stance_flip_or_a_new_topic_is_material() -> None:
    view = article(stance="cooperation", topics=("defense_industry",))
    assert material_changes("cooperation", ["defense_industry"], view) == ()
    assert material_changes("cooperation", ["defense_industry", "economy_energy"], view) == ()
    assert material_changes("tension", ["defense_industry"], view) == (
        "stance: tension -> cooperation",
    )
    assert material_changes("cooperation", [], view) == ("topic added: defense_industry",)


def test_stored_views_come_back_equal() -> None:
    view = article(published_at=datetime(2026, 3, 29, 1, 30, tzinfo=UTC))
    assert view_from_json(json.loads(json.dumps(view_to_json(view)))) == view
    assert view_from_json(view_to_json(article(published_at=None))).published_at is None


def test_updates_carry_their_number_and_first_sends_do_not() -> None:
    recorded = SimpleNamespace(recorded_at=datetime(2026, 11, 21, tzinfo=UTC))
    first = json.loads(webhook_body("msg_1", "sub-1", article(), recorded, 0))  # type: ignore[arg-type]
    update = json.loads(webhook_body("msg_2", "sub-1", article(), recorded, 2))  # type: ignore[arg-type]
    assert "update" not in first and update["update"] == 2
    assert update["id"] == "msg_2" and update["article"] == first["article"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def test_tokens_verify_and_tampering_fails(settings: Settings) -> None:
    token = unsubscribe_token(settings, "sub-1")
    assert verify_token(settings, token) == "sub-1"
    assert "sub-1" in token and len(token) > 40
    mac = token.partition(".")[2]
    for bad in (f"sub-2.{mac}", token[:-1] + ("A" if token[-1] != "A" else "B"), "sub-1", ""):
        with pytest.raises(InvalidInputError, match="token"):
            verify_token(settings, bad)


def test_the_key_file_is_private_and_stable(settings: Settings) -> None:
    token = unsubscribe_token(settings, "sub-1")
    key = settings.data_dir / "unsubscribe.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert unsubscribe_token(settings, "sub-1") == token
    configured = settings.model_copy(update={"unsubscribe_key": SecretStr("k" * 32)})
    assert unsubscribe_token(configured, "sub-1") != token

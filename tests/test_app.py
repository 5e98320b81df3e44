"""The application factory, configuration and the first public page."""

from __future__ import annotations

import pytest

from registry.config import ConfigError, load_settings


def test_refuses_to_start_without_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("REGISTRY_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(tmp_path)


@pytest.mark.parametrize("weak", ["dev", "change-me", "short-secret"])
def test_refuses_default_or_short_secret(tmp_path, monkeypatch, weak):
    monkeypatch.setenv("REGISTRY_SECRET_KEY", weak)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(tmp_path)


def test_settings_order_defaults_file_env_override(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text(
        "SECRET_KEY = 'f' * 40\nMAX_UPLOAD_BYTES = 1000\nSESSION_IDLE_MINUTES = 5\n"
    )
    monkeypatch.setenv("REGISTRY_MAX_UPLOAD_BYTES", "2000")
    settings = load_settings(tmp_path, {"SESSION_IDLE_MINUTES": 7})
    assert settings.MAX_UPLOAD_BYTES == 2000  # env beats file
    assert settings.SESSION_IDLE_MINUTES == 7  # override beats file
    assert settings.DATABASE_URL == f"sqlite:///{tmp_path / 'registry.db'}"


def test_bad_setting_value_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("REGISTRY_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("REGISTRY_MAX_UPLOAD_BYTES", "lots")
    with pytest.raises(ConfigError, match="MAX_UPLOAD_BYTES"):
        load_settings(tmp_path)


def test_unknown_override_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown settings"):
        load_settings(tmp_path, {"SECRET_KEY": "s" * 40, "SECERT_KEY": "typo"})


def test_home_page_counts_listings_in_force(client, make, session):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer)
    make.listing(clerk)  # a draft: not public
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert listing.enterprise.name in page
    assert "不良名单：<strong>1</strong>" in page


def test_unknown_page_is_a_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "<h1>404" in response.get_data(as_text=True)


def test_an_index_that_cannot_be_read_answers_503_with_retry_after_not_500(app, client):
    """No generation open in this process and the index folder unreadable (here: a file
    where the folder should be): search pages, API and feed answer 503, the rest 200."""
    from pathlib import Path

    Path(app.config["INDEX_DIR"]).write_text("not an index folder")
    for path in ("/search?q=有限公司", "/api/v1/search?q=有限公司", "/feeds/search.rss?q=有限公司"):
        answer = client.get(path)
        assert answer.status_code == 503, path
        assert answer.headers["Retry-After"] == "30"
    assert client.get("/api/v1/search?q=有限公司").get_json()["error"]["code"] == 503
    assert client.get("/about").status_code == 200

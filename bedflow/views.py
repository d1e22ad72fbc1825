"""The roof's door to web/: builds the page and API from the settings and the config file."""
from __future__ import annotations

from web.api import create_app


def api_app(db, settings, config, metrics, admin_token: str):
    return create_app(db, settings, config, metrics, admin_token)

"""API-mode configuration, resolved the dlt way: arguments, env vars, then ``.dlt/*.toml``.

Keys live in ``[sources.tiktok_portability]`` (env ``SOURCES__TIKTOK_PORTABILITY__<KEY>``); secrets
(`client_secret`, single-user tokens) come from ``secrets.toml`` or the environment, never the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration import with_config

from . import settings
from .errors import register_secret

DEFAULT_STATE_DIR = "~/.config/tiktok-portability"


@dataclass(frozen=True)
class ApiConfig:
    client_key: str | None
    client_secret: str | None = field(repr=False, default=None)
    redirect_uri: str = "http://127.0.0.1:8765/callback/"
    api_base_url: str = settings.API_BASE_URL
    authorize_url: str = settings.AUTHORIZE_URL
    token_store: Path = Path(DEFAULT_STATE_DIR) / "tokens.json"
    categories: tuple[str, ...] = ("all_data",)
    data_format: str = "json"
    access_token: str | None = field(repr=False, default=None)
    refresh_token: str | None = field(repr=False, default=None)
    min_interval_seconds: int = settings.ONGOING_MIN_INTERVAL_SECONDS
    keep_archives: bool = False

    @property
    def state_dir(self) -> Path:
        return self.token_store.parent

    @property
    def transfer_store(self) -> Path:
        return self.state_dir / "transfers.json"

    @property
    def archive_dir(self) -> Path:
        return self.state_dir / "archives"


@with_config(sections=("sources", "tiktok_portability"))
def load_api_config(
    client_key: str | None = dlt.config.value,
    client_secret: str | None = dlt.secrets.value,
    redirect_uri: str | None = dlt.config.value,
    api_base_url: str | None = dlt.config.value,
    authorize_url: str | None = dlt.config.value,
    token_store: str | None = dlt.config.value,
    categories: Any | None = dlt.config.value,  # "| None": without it dlt makes the key required
    data_format: str | None = dlt.config.value,
    access_token: str | None = dlt.secrets.value,
    refresh_token: str | None = dlt.secrets.value,
    min_interval_seconds: int | None = dlt.config.value,
    keep_archives: bool | None = dlt.config.value,
) -> ApiConfig:
    """Every value is optional here; the command that needs one says which key is missing."""
    for secret in (client_secret, access_token, refresh_token):
        register_secret(secret)
    if isinstance(categories, str):
        categories = [c.strip() for c in categories.strip("[]").replace('"', "").split(",") if c.strip()]
    defaults = ApiConfig(client_key=None)
    return ApiConfig(
        client_key=client_key,
        client_secret=client_secret,
        redirect_uri=redirect_uri or defaults.redirect_uri,
        api_base_url=(api_base_url or defaults.api_base_url).rstrip("/"),
        authorize_url=authorize_url or defaults.authorize_url,
        token_store=Path(token_store or defaults.token_store).expanduser(),
        categories=tuple(categories or defaults.categories),
        data_format=data_format or defaults.data_format,
        access_token=access_token,
        refresh_token=refresh_token,
        min_interval_seconds=int(min_interval_seconds if min_interval_seconds is not None
                                 else defaults.min_interval_seconds),
        keep_archives=bool(keep_archives),
    )

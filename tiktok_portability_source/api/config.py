"""API-mode configuration, resolved the dlt way: arguments, env vars, then ``.dlt/*.toml``.

Keys live in ``[sources.tiktok_portability]`` (env ``SOURCES__TIKTOK_PORTABILITY__<KEY>``); secrets
(`client_secret`, single-user tokens, `store_key`) come from ``secrets.toml`` or the environment,
never the CLI. ``store_url`` may carry a password: put it in ``secrets.toml`` or the environment too
(it is read as a config value, so a URL without one may also sit in ``config.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration import with_config

from .. import settings
from ..redaction import register_secret
from ..privacy import PrivacySettings, parse_names

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
    strict_permissions: bool = False  # refuse a token store others can read (default: warn)
    # many users (docs/operations.md, "Many users"): users stepped at once, one request budget for all of them
    workers: int = 4
    rate_limit: int = 1000  # requests per window per request type (docs/tiktok-api.md §6); 0: no limiter
    rate_limit_window_seconds: float = 60.0
    max_load_attempts: int = 3  # a downloaded export that fails to load this often is given up (failed)
    forget_on_removal: bool = False  # authorization.removed erases the user's data too (opt-in)
    # token and transfer stores (docs/operations.md, "Token and transfer stores"): unset, a SQLite file
    # beside token_store; a postgresql:// URL to share them between machines. Tokens are encrypted with
    # store_key (unset and local: a key file generated beside the SQLite file)
    store_url: str | None = field(repr=False, default=None)
    store_key: str | None = field(repr=False, default=None)

    def __post_init__(self) -> None:
        """Config values arrive as strings, lists or numbers from toml and env vars: coerce and bound them."""
        categories = parse_names(self.categories) if isinstance(self.categories, str) else self.categories
        fixes = {
            "api_base_url": str(self.api_base_url).rstrip("/"),
            "token_store": Path(self.token_store).expanduser(),
            "categories": tuple(categories),
            "min_interval_seconds": int(self.min_interval_seconds),
            "keep_archives": bool(self.keep_archives),
            "strict_permissions": bool(self.strict_permissions),
            "workers": max(1, int(self.workers)),
            "rate_limit": max(0, int(self.rate_limit)),
            "rate_limit_window_seconds": float(self.rate_limit_window_seconds) or 60.0,
            "max_load_attempts": max(1, int(self.max_load_attempts)),
            "forget_on_removal": bool(self.forget_on_removal),
            "store_url": str(self.store_url).strip() or None if self.store_url else None,
            "store_key": str(self.store_key).strip() or None if self.store_key else None,
        }
        for name, value in fixes.items():
            object.__setattr__(self, name, value)  # frozen: set once, here

    @property
    def state_dir(self) -> Path:
        return self.token_store.parent

    @property
    def transfer_store(self) -> Path:
        """``transfers.json`` beside a ``….json`` token store (its rows go to the same SQLite file, and the
        JSON file of earlier versions is moved in); a ``token_store`` naming the SQLite file holds both."""
        return self.state_dir / "transfers.json" if self.token_store.suffix == ".json" else self.token_store

    @property
    def store_location(self) -> str:
        """Where tokens and transfers are kept, for messages: the SQLite file or the masked URL."""
        from .stores import mask_url, sqlite_file_for

        return mask_url(self.store_url) if self.store_url else str(sqlite_file_for(self.token_store))

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
    strict_permissions: bool | None = dlt.config.value,
    workers: int | None = dlt.config.value,
    rate_limit: int | None = dlt.config.value,
    rate_limit_window_seconds: float | None = dlt.config.value,
    max_load_attempts: int | None = dlt.config.value,
    forget_on_removal: bool | None = dlt.config.value,
    store_url: str | None = dlt.config.value,
    store_key: str | None = dlt.secrets.value,
) -> ApiConfig:
    """Every value is optional here; the command that needs one says which key is missing. A key left
    unset keeps ``ApiConfig``'s default; ``ApiConfig.__post_init__`` normalises what config gave."""
    given = {key: value for key, value in locals().items() if value is not None and value != ""}
    for secret in (client_secret, access_token, refresh_token, *(store_key or "").split(",")):
        register_secret(secret.strip() if secret else secret)
    if store_url:
        from .stores import register_url_secrets

        register_url_secrets(store_url)
    return ApiConfig(**{"client_key": None, **given})


@with_config(sections=("sources", "tiktok_portability"))
def load_privacy_settings(
    pseudonymize: bool | None = dlt.config.value,
    pseudonymize_key: str | None = dlt.secrets.value,
    drop_message_text: bool | None = dlt.config.value,
    drop_network_ids: bool | None = dlt.config.value,
    exclude: Any | None = dlt.config.value,
) -> PrivacySettings:
    """The privacy controls as the source will resolve them, validated: the CLI checks them before it
    talks to TikTok or opens an archive (the source checks them again, for orchestrators)."""
    return PrivacySettings.from_config(pseudonymize, pseudonymize_key, drop_message_text, drop_network_ids, exclude)

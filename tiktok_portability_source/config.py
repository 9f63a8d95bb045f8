"""Old import path of the API-mode configuration, kept for one release: use
``tiktok_portability_source.api.config``."""

from .api.config import *  # noqa: F401,F403
from .api.config import ApiConfig, load_api_config, load_privacy_settings  # noqa: F401

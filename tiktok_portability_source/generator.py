"""Old import path of the synthetic export generator, kept for one release: use
``tiktok_portability_source.fake.generator``."""

from .fake.generator import *  # noqa: F401,F403
from .fake.generator import __all__  # noqa: F401

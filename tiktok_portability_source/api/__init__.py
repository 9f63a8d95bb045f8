"""API mode: Login Kit OAuth, the portability endpoints, the transfer state machine and its glue.

``service.ApiService`` wires them: ``auth`` (authorization, token store, rotation), ``client``
(add / check / download / cancel with retries), ``transfers`` (each step persisted before the next),
``ratelimit`` (one limiter shared by every user), ``filestore`` (atomic, locked, owner-only JSON
files), ``webhooks`` (signatures and events), ``scheduling`` (Dagster and Airflow glue) and
``config`` (API-mode configuration from dlt's config).
"""

from .service import DEFAULT_SCOPES, ApiService, require  # noqa: F401  (the old module's names)

__all__ = ["ApiService", "DEFAULT_SCOPES", "require"]

"""Sharing, logins and direct messages (counts and pseudonymised conversations, never message text)."""

from __future__ import annotations

import pandas as pd

from .db import DEFAULT_DATASET, Db, _Source, _source
from .time import _local


def shares_by_method(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """How the user shares (copy link, chat, WhatsApp…): counts and share of all shares."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            SELECT user_id, coalesce(method, '(unknown)') AS method, count(*) AS shares,
                   count(*) / sum(count(*)) OVER (PARTITION BY user_id) AS share
            FROM {src.rel('shares', 'shared_at', 'method')}
            GROUP BY user_id, coalesce(method, '(unknown)') ORDER BY user_id, shares DESC, method""")


def logins_by_device(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """Logins per device model and system, with first and last use: spot a device you don't know."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            SELECT user_id, coalesce(device_model, '(unknown)') AS device_model,
                   coalesce(device_system, '(unknown)') AS device_system, count(*) AS logins,
                   min(logged_in_at) AS first_login_at, max(logged_in_at) AS last_login_at
            FROM {src.rel('logins', 'logged_in_at', 'device_model', 'device_system')}
            GROUP BY ALL ORDER BY user_id, logins DESC, device_model, device_system""")


def logins_by_network(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """Logins per network type (Wi-Fi, 4G…) and carrier."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            SELECT user_id, coalesce(network_type, '(unknown)') AS network_type,
                   coalesce(carrier, '(unknown)') AS carrier, count(*) AS logins
            FROM {src.rel('logins', 'logged_in_at', 'network_type', 'carrier')}
            GROUP BY ALL ORDER BY user_id, logins DESC, network_type, carrier""")


def _conversations_sql(src: _Source, reveal_names: bool) -> str:
    """``m`` = messages without their text; ``names`` = the label shown for each conversation.

    Pseudonyms are ``conversation N`` numbered per user by message count (then first message),
    so they are stable for a given dataset and say nothing about who the other side is. Only
    ``reveal_names=True`` shows the names TikTok gave the conversations.
    """
    rel = src.rel("direct_messages", "sent_at", "conversation", "is_group", "is_own")
    label = ("conversation" if reveal_names else
             "'conversation ' || row_number() OVER (PARTITION BY user_id ORDER BY messages DESC, first_at, "
             "md5(coalesce(conversation, '')))")
    return f"""
        m AS (SELECT user_id, sent_at, conversation, coalesce(is_group, false) AS is_group,
                     coalesce(is_own, false) AS is_own
              FROM {rel} WHERE sent_at IS NOT NULL),
        totals AS (SELECT user_id, conversation, count(*) AS messages, min(sent_at) AS first_at
                   FROM m GROUP BY ALL),
        names AS (SELECT user_id, conversation, coalesce({label}, '(unnamed)') AS label FROM totals)"""


def direct_messages_by_conversation(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                                    reveal_names: bool = False) -> pd.DataFrame:
    """Messages per conversation, sent vs received, first and last message; never message text.

    Conversation names are pseudonymised unless ``reveal_names=True``; senders are never returned.
    """
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH {_conversations_sql(src, reveal_names)}
            SELECT m.user_id, n.label AS conversation, bool_or(m.is_group) AS is_group, count(*) AS messages,
                   count(*) FILTER (WHERE m.is_own) AS sent_by_you,
                   count(*) FILTER (WHERE NOT m.is_own) AS received,
                   min(m.sent_at) AS first_message_at, max(m.sent_at) AS last_message_at
            FROM m JOIN names n ON n.user_id = m.user_id AND n.conversation IS NOT DISTINCT FROM m.conversation
            GROUP BY m.user_id, n.label
            ORDER BY m.user_id, messages DESC, conversation""")


def direct_messages_by_month(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                             reveal_names: bool = False, tz: str | None = None) -> pd.DataFrame:
    """Messages per conversation and calendar month (``month`` = its first day); names as above."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH {_conversations_sql(src, reveal_names)}
            SELECT m.user_id, n.label AS conversation, bool_or(m.is_group) AS is_group,
                   CAST(date_trunc('month', {_local('m.sent_at', tz)}) AS DATE) AS month,
                   count(*) AS messages, count(*) FILTER (WHERE m.is_own) AS sent_by_you
            FROM m JOIN names n ON n.user_id = m.user_id AND n.conversation IS NOT DISTINCT FROM m.conversation
            GROUP BY ALL
            ORDER BY m.user_id, month, conversation""")

"""Privacy controls applied to every row before its key is made: pseudonymise, drop, exclude.

One place for all of it, so archive mode, API mode (CLI, Dagster, Airflow) and the demo, which all
build the same source, honour the same settings:

- ``pseudonymize``: third-party usernames (followers, following, blocked accounts, DM senders and
  conversations, the ``@name`` in video links) become ``u_<16 hex>``: HMAC-SHA256 with a secret key,
  so the same name gives the same pseudonym in every load and process (follower history still
  works) and nobody without the key can test a guessed name against it. The user's own username
  stays as it is (it is already ``user_id`` / ``profile.username``); group chats become ``g_…``.
- ``drop_message_text``: DM ``content`` (and the ``video_id`` read from it) are stored as NULL.
- ``drop_network_ids``: IP addresses, device models / systems, carriers, advertising and device ids
  (``devices``) and locations are NULL.
- ``exclude``: tables not loaded at all.

Columns that are dropped but belong to a row's natural key enter the row key as their keyed hash,
so messages sent in the same second stay distinct without the key (a plain hash) giving the text or
IP back to a dictionary attack; that is why the drop options need the key too. Settings that change
row keys or stored values are fingerprinted (never the key itself, only a keyed check value) in
the dlt state, and a load with different settings is refused: mixing raw and pseudonymised names
in one dataset would split every account in two.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import PrivacyError
from .redaction import register_secret
from .layouts import BY_TABLE, ENTITIES, Entity

if TYPE_CHECKING:
    import pyarrow as pa

KEY_SETTING = "pseudonymize_key"
ENV_PREFIX = "SOURCES__TIKTOK_PORTABILITY__"
MIN_KEY_LENGTH = 16
HEX_LENGTH = 16  # 64 bits: no collision in practice even among millions of names
STATE_KEY = "privacy"



def _columns_of(*classes: str) -> dict[str, tuple[str, ...]]:
    """table -> its columns of these privacy classes (each column's class is declared in layouts.py)."""
    out = {e.table: tuple(name for name, cls in e.privacy_classes.items() if cls in classes) for e in ENTITIES}
    return {table: names for table, names in out.items() if names}


# third-party account names, per table (the user's own name is kept)
USERNAME_COLUMNS = _columns_of("account")
# link columns whose ``…/@name/…`` path segment names an account (video creators, mentioned users)
LINK_COLUMNS = _columns_of("link")
MESSAGE_TEXT_COLUMNS = _columns_of("message")
# network and device identifiers, and locations
NETWORK_ID_COLUMNS = _columns_of("network", "location")
_HANDLE = r"^(?P<pre>[^@]*/@)(?P<name>[^/?#\s]+)(?P<post>.*)$"


def parse_names(value: Any) -> tuple[str, ...]:
    """A list from TOML, or ``"a,b"`` / ``'["a", "b"]'`` from an env var or flag."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.strip().strip("[]").replace('"', "").replace("'", "").split(",")
    return tuple(str(v).strip() for v in value if str(v).strip())


@dataclass(frozen=True)
class PrivacySettings:
    """What to pseudonymise, drop and exclude; ``key`` never shows in a repr."""

    pseudonymize: bool = False
    drop_message_text: bool = False
    drop_network_ids: bool = False
    exclude: frozenset[str] = frozenset()
    key: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_config(cls, pseudonymize: Any = None, pseudonymize_key: str | None = None,
                    drop_message_text: Any = None, drop_network_ids: Any = None,
                    exclude: Any = None) -> PrivacySettings:
        """Validate config values (as dlt resolves them) into settings; refuses what cannot be honoured."""
        excluded = frozenset(parse_names(exclude))
        unknown = sorted(excluded - set(BY_TABLE))
        if unknown:
            raise PrivacyError(f"exclude: unknown table(s) {', '.join(unknown)}; valid: "
                               f"{', '.join(e.table for e in ENTITIES)}")
        settings = cls(_flag(pseudonymize), _flag(drop_message_text), _flag(drop_network_ids), excluded,
                       pseudonymize_key or None)
        if settings.needs_key:
            if not settings.key:
                wanted = ", ".join(settings.keyed_options)
                raise PrivacyError(
                    f"{wanted} needs a secret {KEY_SETTING}: set it in .dlt/secrets.toml under "
                    f"[sources.tiktok_portability] or in the env var {ENV_PREFIX}{KEY_SETTING.upper()} "
                    "(generate one with: python -c \"import secrets; print(secrets.token_urlsafe(32))\"); "
                    "keep it: another key gives other pseudonyms")
            if len(settings.key) < MIN_KEY_LENGTH:
                raise PrivacyError(f"{KEY_SETTING} is too short (fewer than {MIN_KEY_LENGTH} characters): a short "
                                   "key can be guessed, and with it every pseudonym reversed")
            register_secret(settings.key)
        return settings

    @property
    def keyed_options(self) -> tuple[str, ...]:
        return tuple(name for name, on in (("pseudonymize", self.pseudonymize),
                                           ("drop_message_text", self.drop_message_text),
                                           ("drop_network_ids", self.drop_network_ids)) if on)

    @property
    def needs_key(self) -> bool:
        return bool(self.keyed_options)

    def fingerprint(self) -> dict[str, Any]:
        """What a dataset must keep using once loaded: the options that change rows or row keys, and a
        keyed check value that tells keys apart (the key cannot be read from it)."""
        return {"pseudonymize": self.pseudonymize, "drop_message_text": self.drop_message_text,
                "drop_network_ids": self.drop_network_ids,
                "key_check": self._digest("key-check", "")[:HEX_LENGTH] if self.needs_key else None}

    def describe(self) -> str:
        """One line for ``status`` and logs: the switches and whether a key is set, never the key."""
        parts = [f"{name}={'on' if on else 'off'}" for name, on in (
            ("pseudonymize", self.pseudonymize), ("drop_message_text", self.drop_message_text),
            ("drop_network_ids", self.drop_network_ids))]
        parts.append(f"exclude={','.join(sorted(self.exclude)) or '-'}")
        parts.append(f"{KEY_SETTING} {'set' if self.key else 'not set'}")
        return ", ".join(parts)

    def protector(self, owner: str | None) -> Protector | None:
        """The row transform for one archive (None when nothing is to be changed)."""
        return Protector(self, owner) if self.needs_key else None

    def check_dataset(self, state: dict[str, Any]) -> None:
        """Refuse settings other than those the dataset was loaded with; remember them on a first load.

        ``state`` is the source's dlt state (kept in the destination): a dataset loaded before this
        check existed, and so without a fingerprint, counts as loaded with every control off."""
        current = self.fingerprint()
        stored = state.get(STATE_KEY)
        if stored is None and _has_loaded(state):
            stored = PrivacySettings().fingerprint()
        if stored is not None and stored != current:
            changed = [k for k in current if stored.get(k) != current[k]]
            what = ", ".join(f"{k} {'on' if current[k] else 'off'} (was {'on' if stored.get(k) else 'off'})"
                             for k in changed if k != "key_check")
            if "key_check" in changed and stored.get("key_check") and current["key_check"]:
                what = ", ".join(filter(None, (what, f"a different {KEY_SETTING}")))
            raise PrivacyError(f"this dataset was loaded with other privacy settings: {what}; loading would mix "
                               "raw and protected (or differently pseudonymised) rows. Use the settings it was "
                               "loaded with, or load into a new dataset (--dataset) / destination")
        state[STATE_KEY] = current

    def _digest(self, domain: str, value: str) -> str:
        assert self.key is not None
        return hmac.new(self.key.encode(), f"{domain}\x1f{value}".encode(), hashlib.sha256).hexdigest()

    def hashed(self, domain: str, values: Iterable[str]) -> list[str]:
        return [self._digest(domain, v)[:HEX_LENGTH] for v in values]


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _has_loaded(state: Mapping[str, Any]) -> bool:
    """Any per-user window or snapshot time in the source state: rows were loaded before."""
    return any(resource.get(section) for resource in state.get("resources", {}).values()
               for section in ("coverage", "snapshots"))


class Protector:
    """Applies the settings to one archive's columns; vectorised (a keyed hash per *distinct* value)."""

    def __init__(self, settings: PrivacySettings, owner: str | None) -> None:
        self.settings = settings
        self.owner = owner

    def __repr__(self) -> str:
        return f"Protector({self.settings!r})"

    def __call__(self, entity: Entity, columns: dict[str, pa.Array]) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
        """(columns to store, columns to key on): dropped key columns are keyed by their keyed hash."""
        import pyarrow as pa

        stored = dict(columns)
        s = self.settings
        if s.pseudonymize:
            for name in USERNAME_COLUMNS.get(entity.table, ()):
                if name in stored:
                    groups = stored.get("is_group") if name == "conversation" else None
                    stored[name] = self.pseudonyms(stored[name], groups)
            for name in LINK_COLUMNS.get(entity.table, ()):
                if name in stored:
                    stored[name] = self.link_pseudonyms(stored[name])
        keyed = dict(stored)
        dropped = [*(MESSAGE_TEXT_COLUMNS.get(entity.table, ()) if s.drop_message_text else ()),
                   *(NETWORK_ID_COLUMNS.get(entity.table, ()) if s.drop_network_ids else ())]
        key_names = {name for spec in entity.key for name in spec.split("|")}
        for name in dropped:
            if name not in stored:
                continue
            if name in key_names:
                keyed[name] = self._keyed_hash(f"{entity.table}.{name}", stored[name])
            stored[name] = pa.nulls(len(stored[name]), stored[name].type)
        return stored, keyed

    def pseudonyms(self, values: pa.Array, groups: pa.Array | None = None) -> pa.Array:
        """``u_<hex>`` for every name but the owner's (``g_<hex>`` where ``groups`` is true); NULL stays NULL."""
        import pyarrow as pa
        import pyarrow.compute as pc

        digests = self._keyed_hash("username", values)
        prefix: Any = pa.scalar("u_")
        if groups is not None:
            prefix = pc.if_else(pc.fill_null(groups.cast(pa.bool_()), False), "g_", "u_")
        out = pc.binary_join_element_wise(prefix, digests, "")
        if self.owner:
            out = pc.if_else(pc.fill_null(pc.equal(values, self.owner), False), values, out)
        return out

    def link_pseudonyms(self, links: pa.Array) -> pa.Array:
        """``…/@name/video/1`` → ``…/@u_<hex>/video/1``: the same pseudonym as the name elsewhere."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if pa.types.is_null(links.type) or links.null_count == len(links):
            return links
        if isinstance(links, pa.ChunkedArray):
            links = links.combine_chunks()
        # most links (share form) name no account: the regex runs only on those with "/@"
        candidates = pc.fill_null(pc.match_substring(links, "/@"), False)
        if not pc.any(candidates).as_py():
            return links
        parts = pc.extract_regex(links.filter(candidates), _HANDLE)
        names = pc.struct_field(parts, "name")
        rebuilt = pc.binary_join_element_wise(pc.struct_field(parts, "pre"), self.pseudonyms(names),
                                              pc.struct_field(parts, "post"), "")
        return pc.replace_with_mask(links, candidates, pc.coalesce(rebuilt, links.filter(candidates)))

    def _keyed_hash(self, domain: str, values: pa.Array) -> pa.Array:
        """Hex HMAC of every value, computed once per distinct value and mapped back with ``take``."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
        encoded = pc.dictionary_encode(values)
        distinct = encoded.dictionary.to_pylist()
        return pa.array(self.settings.hashed(domain, distinct), pa.string()).take(encoded.indices)


def validate_columns() -> list[str]:
    """Columns named here that no entity has any more (layouts drift): each one is a silent leak."""
    missing = []
    for mapping in (USERNAME_COLUMNS, MESSAGE_TEXT_COLUMNS, NETWORK_ID_COLUMNS):
        for table, names in mapping.items():
            entity = BY_TABLE.get(table)
            known = {c.name for c in entity.columns} | {i.target for i in entity.ids} | {"conversation", "is_group"} \
                if entity else set()
            missing += [f"{table}.{n}" for n in names if n not in known]
    return missing

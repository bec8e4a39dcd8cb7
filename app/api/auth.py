"""Who is calling the API: the owner of an API key, with that owner's roles
(`app.services.access.Grants`), checked by the one role check the chat UI uses too.

    >>> key, entry = new_key("ci-bot", indexes=["team"], access="read")
    >>> callers = Callers(KeyRing([entry]), accounts=None)
    >>> callers.identify(f"Bearer {key}").role_on("team")
    <Role.READER: 1>

A key comes from one of two places. A user's key (`ragqa users key NAME`) lives, hashed, in
the accounts store (`app.services.accounts`) and carries its owner's roles as they are now.
A key of the older keys file stays valid: "read" acts as a reader, "read-write" as a writer
of its indexes.

The keys file (`api_keys_file`, TOML) holds one table per key; `ragqa api-key` prints one:

    [[keys]]
    name = "ci-bot"                 # shown in the log, never checked
    hash = "sha256:9f86d081884c7d65…"
    indexes = ["team", "docs"]      # index names (folder names), or ["*"] for all
    access = "read"                 # or "read-write" (uploads)

`api_keys` (RAGQA_API_KEYS) takes the same entries as a JSON list. A key is 256 random bits,
so one unsalted SHA-256 is enough to make a stolen file useless (nobody can search 2^256
keys) and keeps checking a request to a dictionary look-up; a slow salted hash protects
guessable passwords, which these are not.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.api.errors import ApiError
from app.services.access import OPEN_ACCESS, Grants, Role
from app.services.accounts import AccountStore
from app.services.accounts.credentials import KEY_PREFIX, new_token, token_hash
from ingest.core.errors import RagqaError

ALL = "*"
Access = Literal["read", "read-write"]


class KeysFileError(RagqaError):
    """The keys file or RAGQA_API_KEYS cannot be read or holds an invalid entry."""


class ApiKey(BaseModel):
    """One key's rights (its hash, never the key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    indexes: tuple[str, ...] = Field(min_length=1)
    access: Access = "read"

    def grants(self) -> Grants:
        """This key's rights as roles: read is a reader's, read-write a writer's."""
        role = Role.WRITER if self.access == "read-write" else Role.READER
        return Grants(f"key {self.name or self.hash[7:15]}", dict.fromkeys(self.indexes, role))


def hash_key(key: str) -> str:
    return token_hash(key)


def new_key(name: str, indexes: list[str], access: Access) -> tuple[str, ApiKey]:
    """A fresh random key and its entry (the key itself is shown once and stored nowhere)."""
    key = new_token(KEY_PREFIX)
    return key, ApiKey(name=name, hash=hash_key(key), indexes=tuple(indexes), access=access)


def toml_entry(entry: ApiKey) -> str:
    """The `[[keys]]` table of `entry`, to append to a keys file."""
    indexes = ", ".join(json.dumps(i, ensure_ascii=False) for i in entry.indexes)
    return (f"[[keys]]\nname = {json.dumps(entry.name, ensure_ascii=False)}\n"
            f"hash = \"{entry.hash}\"\nindexes = [{indexes}]\naccess = \"{entry.access}\"\n")


class KeyRing:
    """The keys of the keys file and RAGQA_API_KEYS."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._by_hash = {k.hash: k for k in keys}
        if len(self._by_hash) != len(keys):
            raise KeysFileError("the same API key is listed twice")

    @classmethod
    def load(cls, keys_file: Path | None, inline: str | None) -> KeyRing:
        """The keys of `keys_file` (TOML) and `inline` (a JSON list) together."""
        entries: list[tuple[str, object]] = []
        if keys_file is not None:
            where = f"keys file {keys_file}"
            try:
                data = tomllib.loads(Path(keys_file).read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise KeysFileError(f"{where} does not exist") from None
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise KeysFileError(f"{where} cannot be read: {exc}") from None
            unknown = set(data) - {"keys"}
            if unknown:
                raise KeysFileError(f"{where}: unknown table {sorted(unknown)[0]!r}; "
                                    "write each key as a [[keys]] table")
            entries += [(f"{where}, key {i + 1}", e) for i, e in enumerate(data.get("keys", []))]
        if inline:
            try:
                listed = json.loads(inline)
            except json.JSONDecodeError as exc:
                raise KeysFileError(f"api_keys (RAGQA_API_KEYS) is not a JSON list: {exc}") \
                    from None
            if not isinstance(listed, list):
                raise KeysFileError("api_keys (RAGQA_API_KEYS) must be a JSON list of "
                                    '{"hash", "indexes", "access"} objects')
            entries += [(f"api_keys (RAGQA_API_KEYS), key {i + 1}", e)
                        for i, e in enumerate(listed)]
        keys = []
        for where, entry in entries:
            try:
                keys.append(ApiKey.model_validate(entry))
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"]) or "entry"
                raise KeysFileError(f"{where}: {field}: {err['msg']}") from None
        return cls(keys)

    def __bool__(self) -> bool:
        return bool(self._by_hash)

    def __len__(self) -> int:
        return len(self._by_hash)

    def find(self, key: str) -> ApiKey | None:
        # A dictionary look-up by hash: the time it takes says nothing about the key.
        return self._by_hash.get(hash_key(key))


class Callers:
    """Turns a request's `Authorization` header into the caller's grants.

    Args:
        ring: the keys of the keys file.
        accounts: the accounts store of the served indexes, or None where there is none.
    """

    def __init__(self, ring: KeyRing, accounts: AccountStore | None) -> None:
        self.ring = ring
        self.accounts = accounts

    def secured(self) -> bool:
        """Whether a caller must show a key: there are keys, or users who may make them."""
        return bool(self.ring) or (self.accounts is not None and self.accounts.has_users())

    def identify(self, authorization: str | None) -> Grants:
        """The grants of the key an `Authorization: Bearer KEY` header names; 401 when missing
        or unknown (everything is allowed on a server without keys or users)."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        if token:  # a known key first: one look-up for most requests
            legacy = self.ring.find(token)
            if legacy is not None:
                return legacy.grants()
            grants = self.accounts.key_grants(token) if self.accounts is not None else None
            if grants is not None:
                return grants
        if not self.secured():
            return OPEN_ACCESS
        challenge = {"WWW-Authenticate": "Bearer"}
        if not token:
            raise ApiError(401, "an API key is required: send the header "
                           "'Authorization: Bearer KEY'", code="missing_api_key",
                           headers=challenge)
        raise ApiError(401, "the API key is not valid", code="invalid_api_key",
                       headers=challenge)

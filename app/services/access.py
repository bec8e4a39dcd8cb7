"""Who may do what to which index: the one role check of the chat UI, the API and the CLI.

    >>> grants = Grants("ana", {"team": Role.READER, "docs": Role.WRITER})
    >>> grants.may("team", Action.ASK), grants.may("team", Action.CHANGE)
    (True, False)
    >>> grants.readable(["team", "docs", "hr"])
    ['team', 'docs']
    >>> grants.require("team", Action.CHANGE)
    Traceback (most recent call last):
    ...
    app.services.access.AccessDenied: ana is a reader of 'team': uploading, deleting and \
re-ingesting need the writer role, which an admin can grant

A role is held per index, by its name (a folder's name, a PostgreSQL database's name), or on
`*`, every index. Roles are ordered: a writer may do what a reader may, an admin what a writer
may. Whoever passes a check is named in the trail (`app.services.accounts`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from ingest.core.errors import RagqaError
from ingest.store import Location, is_postgres_url

ALL_INDEXES = "*"


class Role(IntEnum):
    """What a user may do on an index; a higher role includes the lower ones."""

    READER = 1  # ask, retrieve, list documents
    WRITER = 2  # + upload, delete, re-ingest
    ADMIN = 3  # + see the trail and who has access, manage users and keys

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise AccessError(f"no role {name!r}; a role is reader, writer or admin") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class Action(Enum):
    """What a request does, and the role it needs."""

    ASK = Role.READER
    CHANGE = Role.WRITER
    ADMINISTER = Role.ADMIN

    @property
    def needs(self) -> Role:
        return self.value


_DOING = {Action.ASK: "asking", Action.CHANGE: "uploading, deleting and re-ingesting",
          Action.ADMINISTER: "seeing the trail and managing users"}


class AccessError(RagqaError):
    """An account, role or sign-in request that cannot be carried out."""


class AccessDenied(AccessError):
    """The caller's roles do not allow this action on this index (HTTP 403).

    `code` says which: `index_not_allowed` (no role on the index at all) or `role_too_low`."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Grants:
    """The roles of one caller (a signed-in user, a key's owner), by index name or `*`."""

    who: str
    roles: Mapping[str, Role] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", MappingProxyType(dict(self.roles)))

    def role_on(self, index: str) -> Role | None:
        """The highest role held on `index`, directly or through `*`."""
        held = [r for name, r in self.roles.items() if name in (index, ALL_INDEXES)]
        return max(held) if held else None

    def may(self, index: str, action: Action) -> bool:
        role = self.role_on(index)
        return role is not None and role >= action.needs

    def require(self, index: str, action: Action) -> None:
        """Raises AccessDenied, with what would allow it, unless `action` on `index` is allowed."""
        role = self.role_on(index)
        if role is None:
            raise AccessDenied(f"{self.who} has no role on {index!r}", "index_not_allowed")
        if role < action.needs:
            raise AccessDenied(
                f"{self.who} is a {role.label} of {index!r}: {_DOING[action]} need the "
                f"{action.needs.label} role, which an admin can grant", "role_too_low")

    def readable(self, names: Iterable[str]) -> list[str]:
        """Those of `names` this caller may ask, in their order."""
        return [n for n in names if self.may(n, Action.ASK)]


# The caller when nobody has to sign in: the app on loopback, or an API server without users
# or keys (which then answers loopback only). Everything is allowed, as before accounts.
OPEN_ACCESS = Grants("(local user)", {ALL_INDEXES: Role.ADMIN})


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (a host name may resolve to anything,
    so only `localhost` and loopback addresses count)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def index_name(location: Location) -> str:
    """The name roles and API routes use for an index: its folder's name, or the name of the
    PostgreSQL database it lives in."""
    if is_postgres_url(location):
        return urlsplit(str(location)).path.strip("/") or "postgres"
    return Path(location).resolve().name

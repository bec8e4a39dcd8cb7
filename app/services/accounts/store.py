"""Users, their roles per index, their API keys and sign-in sessions, and the trail of who
changed what: one store for the chat UI, the API and `ragqa users`.

    store = AccountStore(Path("indexes/ragqa-accounts.sqlite3"))
    store.add_user("ana", "a long password", actor="admin")
    store.grant("ana", "team", Role.WRITER, actor="admin")
    token = store.sign_in("ana", "a long password")      # the session cookie's value
    store.session_grants(token).may("team", Action.CHANGE)
    # True
    store.trail()[0].action
    # 'role.grant'

Failed sign-ins are counted per name in the database, so every app process sees them: after
`max_failures` wrong passwords within `window_s` seconds the name is locked until the oldest
of them is that old, whatever password is tried. Removing a user or changing a password ends
that user's sessions; keys stay with a changed password and go with a removed user.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from app.services.access import AccessError, Grants, Role
from app.services.accounts.credentials import (
    KEY_PREFIX,
    hash_password,
    new_token,
    password_matches,
    token_hash,
)
from app.services.accounts.database import AccountsDatabase
from ingest.core.clock import utc_now
from ingest.store import Location

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class SignInRefused(AccessError):
    """A wrong name or password, or a name locked after too many of them."""


@dataclass(frozen=True)
class SignInLimits:
    """How many wrong passwords a name may have within a window before it is locked."""

    max_failures: int = 5
    window_s: float = 15 * 60

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window_s <= 0:
            raise ValueError("max_failures must be at least 1 and window_s above 0, not "
                             f"{self.max_failures} and {self.window_s}")


@dataclass(frozen=True)
class UserInfo:
    name: str
    roles: dict[str, str]  # index name or '*' -> role label
    keys: int
    created_at: str


@dataclass(frozen=True)
class TrailEntry:
    """One change: who did what to which index and document (or user), and when (UTC)."""

    id: int
    at: str
    actor: str
    action: str  # upload, delete, reingest, user.add, user.remove, user.password, role.grant,
    #              role.revoke, key.add, key.remove
    index: str
    target: str
    detail: str

    def to_json(self) -> dict:
        return {"id": self.id, "at": self.at, "actor": self.actor, "action": self.action,
                "index": self.index, "target": self.target, "detail": self.detail}


class AccountStore:
    """Args:
        location: a SQLite file or a postgresql:// URL (`database.accounts_location`).
        limits: the sign-in lock.
        session_days: how long a sign-in lasts without signing in again.
    """

    def __init__(self, location: Location, limits: SignInLimits = SignInLimits(),
                 session_days: float = 14) -> None:
        if session_days <= 0:
            raise ValueError(f"session_days must be above 0, not {session_days}")
        self.db = AccountsDatabase(location)
        self.limits = limits
        self.session_s = session_days * 86400

    @property
    def where(self) -> str:
        return self.db.where

    # -- users and roles -------------------------------------------------------------------

    def has_users(self) -> bool:
        if not self.db.exists():
            return False
        with self.db.transaction() as run:
            return bool(run("SELECT 1 FROM ragqa_users LIMIT 1"))

    def add_user(self, name: str, password: str, actor: str) -> None:
        if not _NAME.match(name):
            raise AccessError(f"user name {name!r}: use 1-64 letters, digits and . _ @ -, "
                              "starting with a letter or digit")
        digest = hash_password(password)
        with self.db.transaction() as run:
            if run("SELECT 1 FROM ragqa_users WHERE name = ?", (name,)):
                raise AccessError(f"user {name!r} already exists; `ragqa users passwd {name}` "
                                  "changes the password")
            now = utc_now()
            run("INSERT INTO ragqa_users (name, password_hash, created_at, updated_at) "
                "VALUES (?, ?, ?, ?)", (name, digest, now, now))
            _log(run, actor, "user.add", "", name, "")

    def set_password(self, name: str, password: str, actor: str) -> None:
        digest = hash_password(password)
        with self.db.transaction() as run:
            _require_user(run, name)
            run("UPDATE ragqa_users SET password_hash = ?, updated_at = ? WHERE name = ?",
                (digest, utc_now(), name))
            run("DELETE FROM ragqa_sessions WHERE user_name = ?", (name,))
            run("DELETE FROM ragqa_sign_in_failures WHERE user_name = ?", (name,))
            _log(run, actor, "user.password", "", name, "sessions ended")

    def remove_user(self, name: str, actor: str) -> None:
        with self.db.transaction() as run:
            _require_user(run, name)
            for table in ("ragqa_roles", "ragqa_keys", "ragqa_sessions"):
                run(f"DELETE FROM {table} WHERE user_name = ?", (name,))
            run("DELETE FROM ragqa_users WHERE name = ?", (name,))
            _log(run, actor, "user.remove", "", name, "roles, keys and sessions removed")

    def grant(self, name: str, index: str, role: Role, actor: str) -> None:
        """Sets `name`'s role on `index` (an index name, or '*' for every index)."""
        if not index or "/" in index:
            raise AccessError(f"index {index!r}: give an index's name (its folder's name) or '*'")
        with self.db.transaction() as run:
            _require_user(run, name)
            run("DELETE FROM ragqa_roles WHERE user_name = ? AND index_name = ?", (name, index))
            run("INSERT INTO ragqa_roles (user_name, index_name, role) VALUES (?, ?, ?)",
                (name, index, role.label))
            _log(run, actor, "role.grant", index, name, role.label)

    def revoke(self, name: str, index: str, actor: str) -> None:
        with self.db.transaction() as run:
            _require_user(run, name)
            if not run("SELECT 1 FROM ragqa_roles WHERE user_name = ? AND index_name = ?",
                       (name, index)):
                raise AccessError(f"{name} has no role on {index!r} to revoke")
            run("DELETE FROM ragqa_roles WHERE user_name = ? AND index_name = ?", (name, index))
            _log(run, actor, "role.revoke", index, name, "")

    def users(self) -> list[UserInfo]:
        if not self.db.exists():
            return []
        with self.db.transaction() as run:
            rows = run("SELECT name, created_at FROM ragqa_users ORDER BY name")
            roles = run("SELECT user_name, index_name, role FROM ragqa_roles "
                        "ORDER BY index_name")
            keys = run("SELECT user_name, COUNT(*) FROM ragqa_keys GROUP BY user_name")
        by_user: dict[str, dict[str, str]] = {}
        for user, index, role in roles:
            by_user.setdefault(user, {})[index] = role
        counts = dict(keys)
        return [UserInfo(name, by_user.get(name, {}), counts.get(name, 0), created)
                for name, created in rows]

    def grants_of(self, name: str) -> Grants:
        with self.db.transaction() as run:
            _require_user(run, name)
            return _grants(run, name)

    # -- API keys --------------------------------------------------------------------------

    def new_key(self, name: str, label: str, actor: str) -> str:
        """A new API key of `name`, carrying `name`'s roles; returned once, stored hashed."""
        key = new_token(KEY_PREFIX)
        with self.db.transaction() as run:
            _require_user(run, name)
            run("INSERT INTO ragqa_keys (key_hash, user_name, label, created_at) "
                "VALUES (?, ?, ?, ?)", (token_hash(key), name, label, utc_now()))
            _log(run, actor, "key.add", "", name, label)
        return key

    def keys(self, name: str) -> list[tuple[str, str]]:
        """`name`'s keys as (label, created_at), oldest first (the keys themselves are gone)."""
        with self.db.transaction() as run:
            _require_user(run, name)
            return [(label, at) for label, at in run(
                "SELECT label, created_at FROM ragqa_keys WHERE user_name = ? "
                "ORDER BY created_at", (name,))]

    def remove_keys(self, name: str, label: str | None, actor: str) -> int:
        """Removes `name`'s keys labelled `label` (None: all of them); returns how many."""
        where, params = ("AND label = ?", (name, label)) if label is not None else ("", (name,))
        with self.db.transaction() as run:
            _require_user(run, name)
            count = len(run(f"SELECT 1 FROM ragqa_keys WHERE user_name = ? {where}", params))
            if count == 0:
                raise AccessError(f"{name} has no key" + (f" labelled {label!r}" if label
                                                          is not None else ""))
            run(f"DELETE FROM ragqa_keys WHERE user_name = ? {where}", params)
            _log(run, actor, "key.remove", "", name, f"{count} key(s)" + (
                f" labelled {label}" if label is not None else ""))
        return count

    def key_grants(self, key: str) -> Grants | None:
        """The roles of the owner of `key`; None for a key this store does not hold."""
        if not self.db.exists():
            return None
        with self.db.transaction() as run:
            found = run("SELECT user_name FROM ragqa_keys WHERE key_hash = ?", (token_hash(key),))
            return _grants(run, found[0][0]) if found else None

    # -- sign-in ---------------------------------------------------------------------------

    def sign_in(self, name: str, password: str) -> str:
        """A new session token for `name`; raises SignInRefused for a wrong name or password
        (the same message for both) and while the name is locked."""
        now = time.time()
        since = now - self.limits.window_s
        with self.db.transaction() as run:
            failures = [t for (t,) in run(
                "SELECT failed_at FROM ragqa_sign_in_failures WHERE user_name = ? AND "
                "failed_at > ? ORDER BY failed_at", (name, since))]
            found = run("SELECT password_hash FROM ragqa_users WHERE name = ?", (name,))
        if len(failures) >= self.limits.max_failures:
            wait = failures[-self.limits.max_failures] + self.limits.window_s - now
            raise SignInRefused(f"too many wrong passwords for {name}: signing in as {name} is "
                                f"locked for {max(1, round(wait / 60))} more min")
        # Outside the transaction: argon2 takes a moment, and must not hold the write lock.
        if not password_matches(found[0][0] if found else None, password):
            with self.db.transaction() as run:
                run("INSERT INTO ragqa_sign_in_failures (user_name, failed_at) VALUES (?, ?)",
                    (name, now))
                run("DELETE FROM ragqa_sign_in_failures WHERE failed_at < ?",
                    (now - 2 * self.limits.window_s,))
            raise SignInRefused("wrong user name or password")
        token = new_token()
        with self.db.transaction() as run:
            run("DELETE FROM ragqa_sign_in_failures WHERE user_name = ?", (name,))
            run("DELETE FROM ragqa_sessions WHERE expires_at < ?", (now,))
            run("INSERT INTO ragqa_sessions (token_hash, user_name, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)", (token_hash(token), name, utc_now(), now + self.session_s))
        return token

    def session_grants(self, token: str) -> Grants | None:
        """The roles of the user signed in with `token`, read now (a role changed since the
        sign-in counts at once); None for an unknown, ended or expired session."""
        if not token or not self.db.exists():
            return None
        with self.db.transaction() as run:
            found = run("SELECT user_name FROM ragqa_sessions WHERE token_hash = ? AND "
                        "expires_at > ?", (token_hash(token), time.time()))
            return _grants(run, found[0][0]) if found else None

    def sign_out(self, token: str) -> None:
        with self.db.transaction() as run:
            run("DELETE FROM ragqa_sessions WHERE token_hash = ?", (token_hash(token),))

    # -- the trail -------------------------------------------------------------------------

    def record(self, actor: str, action: str, index: str = "", target: str = "",
               detail: str = "") -> None:
        with self.db.transaction() as run:
            _log(run, actor, action, index, target, detail)

    def trail(self, index: str | None = None, limit: int = 100) -> list[TrailEntry]:
        """The latest changes first; with `index`, those to that index only."""
        if not self.db.exists():
            return []
        where, params = ("WHERE index_name = ?", (index,)) if index is not None else ("", ())
        with self.db.transaction() as run:
            rows = run("SELECT id, at, actor, action, index_name, target, detail FROM "
                       f"ragqa_trail {where} ORDER BY id DESC LIMIT ?", (*params, limit))
        return [TrailEntry(*row) for row in rows]


def _require_user(run, name: str) -> None:
    if not run("SELECT 1 FROM ragqa_users WHERE name = ?", (name,)):
        raise AccessError(f"no user {name!r}; `ragqa users list` shows them")


def _grants(run, name: str) -> Grants:
    rows = run("SELECT index_name, role FROM ragqa_roles WHERE user_name = ?", (name,))
    return Grants(name, {index: Role.parse(role) for index, role in rows})


def _log(run, actor: str, action: str, index: str, target: str, detail: str) -> None:
    run("INSERT INTO ragqa_trail (at, actor, action, index_name, target, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)", (utc_now(), actor, action, index, target, detail))

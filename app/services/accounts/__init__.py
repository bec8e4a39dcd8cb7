"""Accounts: users with roles per index, their API keys and sessions, and the trail
(`store.AccountStore`), in a SQLite file beside the index folders or in the index's
PostgreSQL database (`database`); secrets hashed (`credentials`)."""

from app.services.accounts.database import ACCOUNTS_FILE, accounts_location
from app.services.accounts.store import (
    AccountStore,
    SignInLimits,
    SignInRefused,
    TrailEntry,
    UserInfo,
)

__all__ = ["ACCOUNTS_FILE", "AccountStore", "SignInLimits", "SignInRefused", "TrailEntry",
           "UserInfo", "accounts_location"]

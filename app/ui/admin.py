"""What an index's admin sees in the sidebar: who may use the index, a form to set someone's
role on it, and the latest changes (`ragqa users trail` lists them all).

    access_panel(grants, index_dir, accounts)     # nothing for a reader or writer

Users themselves are added from the shell (`ragqa users add`): whoever runs the server
decides who has an account; an admin decides what each account may do with their index.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.services.access import ALL_INDEXES, Action, Grants, Role, index_name
from app.services.accounts import AccountStore
from app.ui.chat import escape_md
from ingest.store import Location

NO_ROLE = "no role"
ROLES = [r.label for r in Role]


def access_panel(grants: Grants, index_dir: Location, accounts: AccountStore | None) -> None:
    name = index_name(index_dir)
    if accounts is None or not grants.may(name, Action.ADMINISTER):
        return
    with st.expander("Access and changes", icon=":material/shield_person:"):
        users = accounts.users()
        for user in users:
            role = Grants(user.name, {i: Role.parse(r) for i, r in user.roles.items()}
                          ).role_on(name)
            if role is not None:
                st.caption(f"{escape_md(user.name)} — {role.label}")
        _role_form(grants, name, [u.name for u in users], accounts)
        entries = [e for e in accounts.trail(limit=200)
                   if e.index in (name, "", ALL_INDEXES)][:20]
        st.dataframe([{"when (UTC)": e.at, "who": e.actor, "what": e.action,
                       "on": Path(e.target).name if e.index else e.target, "detail": e.detail}
                      for e in entries], hide_index=True, key="trail")


def _role_form(grants: Grants, index: str, names: list[str], accounts: AccountStore) -> None:
    """Sets a user's role on this index (a role on every index is `ragqa users`'s to give)."""
    with st.form("set-role", border=False):
        user = st.selectbox("User", names, key="role-user")
        role = st.selectbox(f"Role on {index}", [*ROLES, NO_ROLE], key="role-role")
        if not st.form_submit_button("Set role", key="role-submit"):
            return
    grants.require(index, Action.ADMINISTER)  # the roles of this run, read from the store now
    if role == NO_ROLE:
        accounts.revoke(user, index, actor=grants.who)
        st.success(f"{user} has no role on {index} now.")
    else:
        accounts.grant(user, index, Role.parse(role), actor=grants.who)
        st.success(f"{user} is now {role} of {index}.")

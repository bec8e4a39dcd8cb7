"""Sign-in to the chat: who is asking, and with which roles, for each run of the page.

    grants = signed_in(settings, accounts)    # or the sign-in page is drawn and the run stops
    sign_out_button(accounts)

No sign-in is asked for when the UI listens on loopback (`host`) and the request did not come
through a proxy, unless `sign_in = "always"`: then the one person at the machine may do
everything, as before accounts. A reverse proxy on the same machine reaches a loopback UI too,
so a request carrying a proxy's forwarding header is asked to sign in all the same. Otherwise a user
signs in with a name and password (`ragqa users add`); the session is a random token kept
hashed in the accounts store and in the browser as the `ragqa_session` cookie, so it survives
a reload and any app process of a team server can read it. The user's roles are read from the
store on every run: a role granted or taken away counts at once, a sign-out or a new password
ends the session everywhere.

Streamlit's `st.context.cookies` only reads the cookies of the page's request, so the cookie
is set by a one-line script (`st.html(..., unsafe_allow_javascript=True)`) with nothing in it
but the token, which is URL-safe base64.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from app.config import Settings
from app.services.access import OPEN_ACCESS, Grants, is_loopback
from app.services.accounts import AccountStore, SignInRefused
from app.ui.chat import escape_md

COOKIE = "ragqa_session"
_TOKEN = "session_token"
# Set by Caddy, nginx (as configured in README "Sharing with a team") and most other proxies.
PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def sign_in_required(s: Settings, headers) -> bool:
    """Whether this page's visitor must sign in (`headers`: those of the page's request)."""
    if s.app.sign_in == "always" or not is_loopback(s.app.host):
        return True
    names = {str(name).lower() for name in headers} if isinstance(headers, Mapping) else set()
    return bool(names & set(PROXY_HEADERS))


def signed_in(s: Settings, accounts: AccountStore | None) -> Grants:
    """The grants of whoever runs this page now; draws the sign-in page and stops the run when
    nobody is signed in."""
    if not sign_in_required(s, st.context.headers):
        return OPEN_ACCESS
    state = st.session_state
    cookie = st.context.cookies.get(COOKIE)
    token = state.get(_TOKEN) or (cookie if isinstance(cookie, str) else None)
    grants = accounts.session_grants(token) if accounts is not None and token else None
    if grants is not None:
        state[_TOKEN] = token
        return grants
    state.pop(_TOKEN, None)
    if state.pop("signed_out", False):
        _set_cookie("", max_age=0)
    page = st.empty()
    with page.container():
        token = _sign_in_form(accounts)
    grants = accounts.session_grants(token) if accounts is not None and token else None
    if grants is None:
        st.stop()
    page.empty()
    state[_TOKEN] = token
    _set_cookie(token, max_age=int(accounts.session_s))
    return grants


def _sign_in_form(accounts: AccountStore | None) -> str | None:
    """The sign-in page; a new session token once a user signed in."""
    st.title("Sign in to ragqa")
    if accounts is None or not accounts.has_users():
        st.error("This server has no accounts yet: add one on the server with `ragqa users add "
                 "NAME --index DIR --role admin`.")
        return None
    with st.form("sign-in", enter_to_submit=True, clear_on_submit=True):
        name = st.text_input("User name", key="sign-in-name", autocomplete="username")
        password = st.text_input("Password", type="password", key="sign-in-password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary", key="sign-in-submit")
    if not submitted:
        return None
    try:
        return accounts.sign_in(name.strip(), password)
    except SignInRefused as exc:
        st.error(str(exc))
        return None


def sign_out_button(grants: Grants, accounts: AccountStore | None) -> None:
    """Who is signed in, and a button that ends the session (nothing on an open UI)."""
    token = st.session_state.get(_TOKEN)
    if accounts is None or not token:
        return
    st.caption(f"Signed in as **{escape_md(grants.who)}**")
    if st.button("Sign out", key="sign-out", icon=":material/logout:"):
        accounts.sign_out(token)
        st.session_state.clear()  # the conversation goes too: the next user must not see it
        st.session_state["signed_out"] = True  # the next run removes the cookie
        st.rerun()


def _set_cookie(token: str, max_age: int) -> None:
    # SameSite=Strict: no other site's page can send it; Secure when served over HTTPS (behind
    # the reverse proxy of README "Sharing with a team").
    st.html(f"<script>document.cookie = '{COOKIE}={token}; path=/; max-age={max_age}; "
            "SameSite=Strict' + (location.protocol === 'https:' ? '; Secure' : '');</script>",
            unsafe_allow_javascript=True)

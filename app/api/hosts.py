"""Refuses requests whose Host header is not a loopback name while the API has no keys.

Without keys the API trusts whoever reaches it, which on 127.0.0.1 is this machine's own
users. A web page in their browser can reach it too, by DNS rebinding: its script asks
`http://evil.example:8000/...` after `evil.example` has been re-pointed to 127.0.0.1, and the
browser sends `Host: evil.example:8000`. Accepting only loopback names in Host shuts that door
(as Jupyter and the Docker daemon do). With keys every request must carry one, so the check
is not needed.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from app.api.errors import error_body

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(header: str) -> str:
    """The name in a Host header, without its port: "[::1]:8000" -> "::1".

    >>> host_name("localhost:8000"), host_name("[::1]:8000"), host_name("127.0.0.1")
    ('localhost', '::1', '127.0.0.1')
    """
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class LoopbackHostOnly:
    """ASGI middleware: 403 (one JSON error) for a request whose Host is not loopback."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope.get("headers") or [])
            host = host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in LOOPBACK_NAMES:
                body = error_body(403, f"Host {host!r} is not allowed: without API keys this "
                                  "server answers only requests addressed to localhost or "
                                  "127.0.0.1 (add keys to serve other names)",
                                  code="host_not_allowed")
                await JSONResponse(body, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)

"""The middlewares every request passes: errors as JSON, the access token, the origin check.

* Errors: an ``HTTPException`` (404, 405, 413 body too large, ...) becomes a JSON body in
  ComfyUI's error shape; any other exception is logged and answered 500 with one line, never
  a traceback.
* Token: with ``--token T`` every request needs ``Authorization: Bearer T`` or ``?token=T``.
* Origin: a browser page from another origin must not drive the server (a web page could
  otherwise POST prompts to 127.0.0.1, which browsers allow). A request whose ``Origin``
  names another host or port than its ``Host`` is refused with 403, whatever the method (the
  WebSocket too), and no ``Access-Control-Allow-Origin`` header is ever sent, so browsers
  keep foreign pages from reading answers. On a loopback address, a ``Host`` that is not a
  loopback name is refused too (DNS rebinding).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from app.server.config import ServerConfig, is_loopback

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def error_response(status: int, kind: str, message: str) -> web.Response:
    """A JSON error in ComfyUI's shape (``{"error": {type, message, details, extra_info}}``)."""
    body = {"error": {"type": kind, "message": message, "details": "", "extra_info": {}},
            "node_errors": {}}
    return web.json_response(body, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = "request_too_large" if exc.status == 413 else "http_error"
        return error_response(exc.status, kind, exc.reason or str(exc.status))
    except Exception:  # a bug must not kill the server or show a traceback to the client
        log.exception("request %s %s failed", request.method, request.path)
        return error_response(500, "server_error", "the server failed on this request "
                                                   "(details are in its log)")


def token_middleware(token: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    expected = token.encode()

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else ""
        given = given or request.query.get("token", "")
        if not hmac.compare_digest(given.encode(), expected):
            return error_response(401, "unauthorized", "a valid access token is required "
                                  "(Authorization: Bearer TOKEN, or ?token=TOKEN)")
        return await handler(request)

    return require_token


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host.lower(), port if port is not None else DEFAULT_PORTS.get(scheme, 80)


def same_origin(origin: str, host: str, scheme: str) -> bool:
    """Whether the page origin ``origin`` is the server the ``Host`` header names."""
    parsed = urlsplit(origin)
    theirs = _host_port(parsed.netloc, parsed.scheme or "http") if parsed.netloc else None
    ours = _host_port(host, scheme)
    return theirs is not None and ours is not None and theirs == ours


def origin_middleware(config: ServerConfig) -> Callable[..., Awaitable[web.StreamResponse]]:
    loopback_only = is_loopback(config.host)

    @web.middleware
    async def check_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if loopback_only:
            named = _host_port(host, "http")
            if named is None or not is_loopback(named[0]):
                log.warning("refused a request for host %r (the server listens on loopback)",
                            host)
                return error_response(403, "forbidden", "this server answers only to "
                                      "localhost / 127.0.0.1")
        origin = request.headers.get("Origin")
        if origin is not None and not same_origin(origin, host, request.scheme):
            log.warning("refused a cross-origin request: Origin %r, Host %r", origin, host)
            return error_response(403, "forbidden", "cross-origin requests are refused")
        return await handler(request)

    return check_origin

"""The dashboard: one static page at ``GET /`` that watches the node over its own JSON-RPC.

The page (``static/index.html``, ``app.js``, ``style.css``; plain JS, no build step) reads
the chain, the validators' signatures, the AICF's jobs, providers and epochs with ``POST /``
and follows ``/ws`` for new heads and job and epoch events (docs/NODE.md, "Dashboard").  The
server side is only these routes: the files are read once from the package and served
from memory, so a request never touches the disk.  The page loads nothing from elsewhere,
and its Content-Security-Policy says so.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

PREFIX = "/dashboard"
"""Where the page's assets are served (``/dashboard/app.js``, ...)."""

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

HEADERS = {
    # Same-origin only: the RPC and /ws it talks to are on this very address.
    "content-security-policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "cache-control": "no-cache",
}


def load_assets() -> dict[str, bytes]:
    """The page's files, from the installed package (``node/dashboard/static``)."""
    static = resources.files(__package__) / "static"
    return {name: (static / name).read_bytes() for name in ASSETS}


def dashboard_routes() -> list[BaseRoute]:
    """``GET /`` (the page) and ``GET /dashboard/<asset>``, for ``make_app``'s ``extra_routes``."""
    assets = load_assets()

    def serve(name: str) -> Response:
        return Response(assets[name], media_type=ASSETS[name], headers=HEADERS)

    async def index(request: Request) -> Response:
        return serve("index.html")

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return Response("not found\n", status_code=404, media_type="text/plain")
        return serve(name)

    return [Route("/", index, methods=["GET"]), Route(PREFIX + "/{name}", asset, methods=["GET"])]

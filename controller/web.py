"""The controller's own pages — a tablet per room (``/tablet/{room}``) and the technician
console (``/console``) — and the API routers they use, mounted by ``controller.api``.

Pages are static files from ``controller/pages/`` (no build step, nothing from a CDN). They
carry no data: everything comes from the API with the page's token, which arrives in the
URL fragment (``#token=…``, never sent to the server) or from a PIN login.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from controller.console import Console, console_router
from controller.live import LiveHub, live_router
from controller.tablet import tablet_router

PAGES = Path(__file__).resolve().parent / "pages"
ASSETS = {"common.js": "text/javascript", "tablet.js": "text/javascript", "console.js": "text/javascript",
          "roomctl.css": "text/css", "icon.svg": "image/svg+xml"}
# Scripts and styles from this server only, no inline code; sockets back to it only.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def pages_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def page(name: str) -> HTMLResponse:
        return HTMLResponse((PAGES / f"{name}.html").read_text(encoding="utf-8"), headers=PAGE_HEADERS)

    @router.get("/tablet/{room_id}")
    async def tablet_page(room_id: str) -> HTMLResponse:
        return page("tablet")

    @router.get("/console")
    async def console_page() -> HTMLResponse:
        return page("console")

    @router.get("/console/")
    async def console_slash() -> RedirectResponse:
        return RedirectResponse("/console")

    @router.get("/ui/{name}")
    async def asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise HTTPException(404, {"error": "NotFound", "message": f"no file {name!r}"})
        return FileResponse(PAGES / name, media_type=ASSETS[name],
                            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    return router


def web_routers(controller, gate) -> list[APIRouter]:
    """Everything the pages need: the pages, the tablet's and the console's API, the live socket."""
    from controller.admin_api import admin_router

    controller.live = LiveHub(controller, gate)
    console = Console(controller)
    return [pages_router(), tablet_router(controller, gate), console_router(controller, gate, console),
            live_router(controller.live), admin_router(controller)]

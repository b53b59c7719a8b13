"""The kiosk's HTTP API and pages, mounted on the controller's FastAPI app.

Roles (bearer tokens from the site config):
- ``kiosk``: scan, name search (name, organisation, seat only), staff sign-in with the
  supervisor PIN, the kiosk page and the big screen — nothing else;
- ``staff``: the staff page too (late list, VIP arrivals, overrides, conflicts — with names);
- ``admin``: everything, including the attendee list and the sign-in sheet export.

Pages are static HTML; they take their token from the URL fragment (never sent to the
server, never in its logs), keep it in the tab's session storage, and send it as a
bearer header — on the WebSocket, as its first message.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from controller.api_models import RequestInvalid
from controller.live import BadHello, receive_hello, refuse, until_the_page_speaks
from kiosk.api_models import (AttendeeRecord, CheckinDecision, ScreenView, SearchHit, StaffView, file_answer,
                              kiosk_errors)
from kiosk.errors import BadCode, InvalidRequest, KioskError, PinRejected, UnknownAttendee
from kiosk.service import KioskService
from kiosk.tokens import is_ref

PAGES = Path(__file__).resolve().parent / "pages"
PAGE_ROLES = {"kiosk": ("kiosk", "staff", "admin"), "screen": ("kiosk", "staff", "admin"), "staff": ("staff", "admin")}


class ScanBody(BaseModel):
    code: str = Field(max_length=4096, description="What the scanner read, or what was typed")
    nonce: str = Field(min_length=1, max_length=64, description="The client's id for this scan: a retry is one check-in")
    list: str | None = Field(None, max_length=64)
    direction: Literal["in", "out"] = "in"


class OverrideBody(BaseModel):
    pin: str = Field(max_length=64)
    nonce: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=200)
    attendee_id: str | None = Field(None, max_length=64)
    code: str | None = Field(None, max_length=4096)
    list: str | None = Field(None, max_length=64)
    direction: Literal["in", "out"] = "in"


class Caller(BaseModel):
    name: str
    role: str


def kiosk_router(service: KioskService, tokens) -> APIRouter:
    router = APIRouter()
    table = [(t.token.get_secret_value().encode(), Caller(name=t.name, role=t.role)) for t in tokens]
    bearer = HTTPBearer(auto_error=False)

    def identify(token: str | None) -> Caller | None:
        offered = (token or "").encode(errors="replace")  # a lone surrogate is no token, not a crash
        found = None
        for secret, who in table:
            if hmac.compare_digest(offered, secret):
                found = who
        return found

    def role(*allowed: str):
        def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
            who = identify(credentials.credentials if credentials else None)
            if who is None:
                raise HTTPException(401, {"error": "Unauthorized", "message": "a valid bearer token is required"},
                                    headers={"WWW-Authenticate": "Bearer"})
            if who.role not in allowed:
                raise HTTPException(403, {"error": "Forbidden", "message": f"needs role {' or '.join(allowed)}"})
            return who
        return check

    desk = role("kiosk", "staff", "admin")
    staff = role("staff", "admin")
    admin = role("admin")

    def typed(exc: KioskError) -> HTTPException:
        status = 403 if isinstance(exc, PinRejected) else 404 if isinstance(exc, UnknownAttendee) else 422
        if isinstance(exc, PinRejected) and exc.locked_for:
            status = 429
        return HTTPException(status, {"error": type(exc).__name__, "message": str(exc),
                                      "field": getattr(exc, "field", None)})

    # --- pages ------------------------------------------------------------------------

    def page(name: str) -> HTMLResponse:
        html = (PAGES / f"{name}.html").read_text(encoding="utf-8")
        settings = {"kiosk": service.config.id, "language": service.config.language,
                    "resultSeconds": service.config.result_seconds, "searchMinChars": service.config.search_min_chars,
                    "lists": [{"id": x.id, "name": x.name} for x in service.config.lists],
                    "defaultList": service.config.default_list}
        html = html.replace("/*SETTINGS*/{}", json.dumps(settings, ensure_ascii=False))
        return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                           "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                                           "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
                                           "connect-src 'self' ws: wss:"})

    @router.get("/kiosk", include_in_schema=False)
    async def kiosk_page() -> HTMLResponse:
        return page("kiosk")

    @router.get("/kiosk/staff", include_in_schema=False)
    async def staff_page() -> HTMLResponse:
        return page("staff")

    @router.get("/kiosk/screen", include_in_schema=False)
    async def screen_page() -> HTMLResponse:
        return page("screen")

    @router.get("/kiosk/common.js", include_in_schema=False)
    async def common_js() -> Response:
        return Response((PAGES / "common.js").read_bytes(), media_type="text/javascript",
                        headers={"Cache-Control": "no-store"})

    # --- the desk ---------------------------------------------------------------------

    @router.post("/api/kiosk/scans", tags=["kiosk"], response_model=CheckinDecision,
                 responses=kiosk_errors(401, 403, 422))
    async def scan(body: ScanBody, who: Caller = Depends(desk)) -> dict[str, Any]:
        """Decide one scan; answered after the check-in is committed. Same nonce again: the first answer."""
        try:
            decision = await service.scan(body.code, nonce=body.nonce, source=f"page:{who.name}", list_id=body.list,
                                          direction=body.direction)
        except KioskError as exc:
            raise typed(exc) from None
        return decision.view()

    @router.get("/api/kiosk/search", tags=["kiosk"], response_model=list[SearchHit],
                responses=kiosk_errors(401, 403, 422))
    async def search(q: str = Query("", max_length=100), who: Caller = Depends(desk)) -> list[dict[str, str]]:
        """Attendees by name: nothing until a few characters; name, organisation and seat only."""
        try:
            return await service.search(q)
        except KioskError as exc:
            raise typed(exc) from None

    @router.post("/api/kiosk/overrides", tags=["kiosk"], response_model=CheckinDecision,
                 responses=kiosk_errors(401, 403, 404, 422, 429))
    async def override(body: OverrideBody, who: Caller = Depends(desk)) -> dict[str, Any]:
        """Sign someone in past a refusal, or without a badge: supervisor PIN and a reason. A wrong
        PIN: 403 (PinRejected); too many in a row: 429 for a while. Nobody by that id: 404."""
        try:
            decision = await service.override(pin=body.pin, staff=who.name, nonce=body.nonce, reason=body.reason,
                                              attendee_id=body.attendee_id, code=body.code, list_id=body.list,
                                              direction=body.direction)
        except BadCode as exc:
            raise HTTPException(422, {"error": type(exc).__name__, "message": f"not a genuine badge: {exc}",
                                      "field": "code"}) from None
        except KioskError as exc:
            raise typed(exc) from None
        return decision.view()

    @router.get("/api/kiosk/photos/{ref}", tags=["kiosk"], response_class=Response,
                responses={**file_answer("The attendee's photo", "image/jpeg", "image/png"),
                           **kiosk_errors(401, 403, 404)})
    async def photo(ref: str, who: Caller = Depends(desk)) -> Response:
        """The photo on an attendee's card (AttendeeCard.has_photo), by badge reference."""
        found = await service.photo(ref) if is_ref(ref) else None
        if found is None:
            raise HTTPException(404, {"error": "NotFound", "message": "no photo"})
        return Response(found[0], media_type=found[1], headers={"Cache-Control": "private, max-age=3600"})

    @router.get("/api/kiosk/screen", tags=["kiosk"], response_model=ScreenView,
                responses=kiosk_errors(401, 403, 422))
    async def screen(list: str | None = Query(None, max_length=64), who: Caller = Depends(desk)) -> dict[str, Any]:
        """The big screen: head count and the seat map — seats only, no names."""
        try:
            return await service.screen_view(list)
        except KioskError as exc:
            raise typed(exc) from None

    # --- staff and organisers ---------------------------------------------------------------

    @router.get("/api/kiosk/status", tags=["kiosk"], response_model=StaffView, responses=kiosk_errors(401, 403))
    async def status(who: Caller = Depends(staff)) -> dict[str, Any]:
        """Counts, late arrivals, recent scans, overrides, conflicts, VIP arrivals, scanners, sync, badges."""
        return await service.staff_view()

    @router.get("/api/kiosk/attendees", tags=["kiosk"], response_model=list[AttendeeRecord],
                responses=kiosk_errors(401, 403))
    async def attendees(who: Caller = Depends(admin)) -> list[dict[str, Any]]:
        """Everyone the desk knows, with their badge reference (admin)."""
        return await service.attendees()

    @router.get("/api/kiosk/export.{kind}", tags=["kiosk"], response_class=Response,
                responses={**file_answer("The sheet, as a CSV (UTF-8 with a BOM) or an Excel workbook", "text/csv",
                                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                           **kiosk_errors(401, 403), 422: {"model": RequestInvalid}})  # a kind it does not make
    async def export(kind: Literal["csv", "xlsx"], who: Caller = Depends(admin)) -> Response:
        """The sign-in sheet (签到表), with times and desks."""
        media = "text/csv; charset=utf-8" if kind == "csv" else \
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(await service.export(kind), media_type=media, headers={
            "Content-Disposition": f'attachment; filename="signin-{service.config.id}.{kind}"',
            "Cache-Control": "no-store"})

    # --- live -------------------------------------------------------------------------

    @router.websocket("/api/kiosk/live")
    async def live(websocket: WebSocket) -> None:
        """First message from the page: {"token": ..., "page": "kiosk"|"staff"|"screen"}; then news."""
        await websocket.accept()
        try:
            hello = await receive_hello(websocket)
            if hello is None:
                return
            page_kind, token = hello.get("page"), hello.get("token")
            if not isinstance(page_kind, str) or not (token is None or isinstance(token, str)):
                raise BadHello('the hello is {"token": "...", "page": "kiosk" | "staff" | "screen"}')
        except BadHello as exc:
            await refuse(websocket, 4400, "error", str(exc), framed=False)
            return
        who = identify(token)
        if who is None or page_kind not in PAGE_ROLES or who.role not in PAGE_ROLES[page_kind]:
            await refuse(websocket, 4403, "denied", "token refused", framed=False)
            return
        listener = service.listen(page_kind)
        complaint: str | None = None
        try:
            await websocket.send_json({"type": "hello", "kiosk": service.config.id, "offline": service.offline})
            receiver = asyncio.create_task(until_the_page_speaks(websocket))
            while not receiver.done():
                getter = asyncio.create_task(listener.queue.get())
                done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                await websocket.send_json(getter.result())
            if receiver.done():
                complaint = receiver.result()
            else:
                receiver.cancel()
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            service.unlisten(listener)
        if complaint is not None:  # desk pages send nothing after their hello
            await refuse(websocket, 4400, "error", complaint, framed=False)

    return router


__all__ = ["kiosk_router", "InvalidRequest"]

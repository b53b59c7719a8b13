"""The HTTP API and the live WebSocket, served by the controller's own process."""

import asyncio

from fastapi import Depends, FastAPI, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from controller.admin_api import document_masked_secrets
from controller.api_models import (CommandResult, ErrorBody, EventRecord, Health, RoomDevice, RoomSummary,
                                   RoomView, SceneSummary, document_request_invalid, errors)
from controller.auth import Caller, Gate
from controller.scenes import SceneNotFound, SceneResult
from controller.selftest import SelfTestReport, render_html
from drivers import registry
from drivers.commands import command_type
from drivers.errors import (
    AuthFailed,
    DeviceBusy,
    DeviceError,
    DeviceRejected,
    DeviceTimeout,
    DeviceUnreachable,
    InvalidCommand,
    ProtocolError,
    Unsupported,
)

# Typed driver errors → HTTP: the caller learns what kind of failure it was without parsing text.
ERROR_STATUS: list[tuple[type[DeviceError], int]] = [
    (Unsupported, 422),
    (InvalidCommand, 422),
    (DeviceBusy, 409),
    (DeviceRejected, 409),
    (AuthFailed, 502),
    (DeviceTimeout, 504),
    (DeviceUnreachable, 503),
    (ProtocolError, 502),
    (DeviceError, 502),
]


# What the live WebSocket forwards: device changes and the progress of routines.
LIVE_KINDS = frozenset({"state", "status", "scene", "selftest", "alert",
                        "playbook", "prompt", "monitoring", "post_meeting", "schedule"})  # the routines' progress


__all__ = ["ERROR_STATUS", "ErrorBody", "create_app"]


def create_app(controller) -> FastAPI:
    # Roles, PIN sessions, origin checks and the audit of writes, for every route (controller/auth.py).
    gate = Gate(controller)
    app = FastAPI(
        title="roomctl",
        version="0.1.0",
        description="Rooms, devices and their live state; typed device commands.",
        dependencies=[gate.dependency()],
    )
    registry.load_all()  # every driver's commands are registered before the schema is built
    CommandBody = command_type()
    caller = gate.caller  # a route that records who acted needs a token (or a PIN session)

    def room_or_404(room_id: str):
        try:
            return controller.site.rooms[room_id]
        except KeyError:
            raise HTTPException(404, {"error": "NotFound", "message": f"no room {room_id!r}"}) from None

    def device_or_404(room_id: str, device_id: str):
        room = room_or_404(room_id)
        try:
            return room.devices[device_id]
        except KeyError:
            raise HTTPException(404, {"error": "NotFound", "message": f"no device {device_id!r} in {room_id}"}) from None

    @app.get("/", include_in_schema=False)
    async def index():
        return RedirectResponse("/docs")

    @app.get("/api/health")
    async def health() -> Health:
        return Health(status="ok", site=controller.config.site, devices=controller.site.status_counts())

    @app.get("/api/rooms", responses=errors(401, 403))
    async def rooms() -> list[RoomSummary]:
        return [room.view(with_devices=False) for room in controller.site.rooms.values()]

    @app.get("/api/rooms/{room_id}", responses=errors(401, 403, 404))
    async def room(room_id: str) -> RoomView:
        return room_or_404(room_id).view()

    @app.get("/api/rooms/{room_id}/devices/{device_id}", responses=errors(401, 403, 404))
    async def device(room_id: str, device_id: str) -> RoomDevice:
        return device_or_404(room_id, device_id).view()

    @app.post("/api/rooms/{room_id}/devices/{device_id}/commands",
              responses=errors(401, 403, 404, 409, 422, 502, 503, 504))
    async def command(room_id: str, device_id: str, body: CommandBody, who: Caller = Depends(caller)) -> CommandResult:
        runtime = device_or_404(room_id, device_id)
        try:
            await controller.site.execute(room_id, device_id, body, actor=who.name)
        except DeviceError as exc:
            status = next(code for kind, code in ERROR_STATUS if isinstance(exc, kind))
            raise HTTPException(status, {"error": type(exc).__name__, "message": str(exc),
                                         "field": getattr(exc, "field", None)}) from None
        return CommandResult(ok=True, device=runtime.view())

    @app.get("/api/rooms/{room_id}/scenes", responses=errors(401, 403, 404))
    async def scenes(room_id: str) -> list[SceneSummary]:
        room_or_404(room_id)
        return [SceneSummary(id=scene_id, name=scene.name or scene_id, steps=len(scene.steps))
                for scene_id, scene in controller.scenes.scenes(room_id).items()]

    @app.post("/api/rooms/{room_id}/scenes/{scene_id}", responses=errors(401, 403, 404))
    async def recall_scene(room_id: str, scene_id: str, who: Caller = Depends(caller)) -> SceneResult:
        """Run a scene; the answer lists each step's result and duration (200 even when a step failed)."""
        room_or_404(room_id)
        try:
            return await controller.scenes.recall(room_id, scene_id, actor=who.name)
        except SceneNotFound:
            raise HTTPException(404, {"error": "NotFound", "message": f"no scene {scene_id!r} in {room_id}"}) from None

    class SelfTestRequest(BaseModel):
        meeting_minutes: float | None = Field(None, gt=0, le=24 * 60)

    @app.post("/api/rooms/{room_id}/selftest", responses=errors(401, 403, 404))
    async def run_selftest(room_id: str, body: SelfTestRequest | None = None,
                           who: Caller = Depends(caller)) -> SelfTestReport:
        """Run the room's self-test unattended (the speak test is marked not done); stored, then answered."""
        room_or_404(room_id)
        return await controller.selftest.run(room_id, meeting_minutes=body.meeting_minutes if body else None,
                                             actor=who.name)

    @app.get("/api/rooms/{room_id}/selftests", responses=errors(401, 403, 404))
    async def selftest_history(room_id: str, limit: int = Query(20, ge=1, le=200)) -> list[SelfTestReport]:
        """Stored self-test reports, the latest first."""
        room_or_404(room_id)
        return await controller.store.selftests(room=room_id, limit=limit)

    @app.get("/api/rooms/{room_id}/selftests/{report_id}.html", response_class=HTMLResponse,
             responses=errors(401, 403, 404))
    async def selftest_page(room_id: str, report_id: str, lang: str = Query("en", pattern="^(en|zh)$")) -> str:
        for report in await controller.store.selftests(room=room_id, limit=200):
            if report["id"] == report_id:
                return render_html(SelfTestReport.model_validate(report), lang)
        raise HTTPException(404, {"error": "NotFound", "message": f"no self-test {report_id!r} in {room_id}"})

    @app.get("/api/events", responses=errors(401, 403))
    async def events(
        room: str | None = Query(None, max_length=64),
        device: str | None = Query(None, max_length=64),
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[EventRecord]:
        """The event log, the latest first."""
        return await controller.store.events(room=room, device=device, limit=limit)

    @app.websocket("/api/ws")
    async def live(websocket: WebSocket) -> None:
        """First a snapshot of every room, then every state and status change as it happens.
        Authorization header (a tablet's token: its room only), or none where api.auth.open_reads allows."""
        who = await gate.websocket_caller(websocket)
        if who is None or who.role in ("kiosk", "staff"):
            await websocket.close(code=4401 if who is None else 4403)
            return
        await websocket.accept()
        mine = (lambda room: room == who.room) if who.role == "tablet" else (lambda room: True)
        with controller.bus.subscribe(limit=1000) as subscription:
            await websocket.send_json({"type": "snapshot",
                                       "rooms": [r.view() for r in controller.site.rooms.values() if mine(r.id)]})
            receiver = asyncio.create_task(_drain(websocket))
            try:
                while not receiver.done():
                    getter = asyncio.create_task(subscription.get())
                    done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                    if getter not in done:
                        getter.cancel()
                        break
                    event = getter.result()
                    if event.kind in LIVE_KINDS and mine(event.room):
                        await websocket.send_json({"type": event.kind, **event.model_dump(mode="json")})
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                receiver.cancel()

    if getattr(controller, "kiosk", None) is not None:  # a check-in desk: its pages and API (kiosk/web.py)
        from kiosk.web import kiosk_router

        app.include_router(kiosk_router(controller.kiosk, controller.config.api.tokens))

    if getattr(controller, "scheduler", None) is not None:  # the day's timeline (controller/schedule_api.py)
        from controller.schedule_api import schedule_router

        app.include_router(schedule_router(controller))
    if getattr(controller, "archive", None) is not None:  # the equipment archive (controller/archive_api.py)
        from controller.archive_api import archive_router

        app.include_router(archive_router(controller, caller))
    if getattr(controller, "playbooks", None) is not None:  # playbooks, prompts, alerts, monitoring, post-meeting
        from controller.routines_api import routines_router

        app.include_router(routines_router(controller, caller))

    from controller.web import web_routers  # the tablet and console pages, their API, /api/live (controller/web.py)

    for router in web_routers(controller, gate):
        app.include_router(router)
    gate.install(app)  # PIN login routes; origin guard and write audit around every route

    build_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:  # built once, then served as cached
            schema = build_openapi()
            document_masked_secrets(schema)
            document_request_invalid(schema)
        return app.openapi_schema

    app.openapi = openapi

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        detail = exc.detail if isinstance(exc.detail, dict) else {"error": "HTTPError", "message": str(exc.detail)}
        return JSONResponse(detail, status_code=exc.status_code, headers=exc.headers)

    return app


async def _drain(websocket: WebSocket) -> None:
    """Read and ignore what the client sends; returns when it disconnects."""
    try:
        while True:
            await websocket.receive_text()
    except (WebSocketDisconnect, RuntimeError):
        return

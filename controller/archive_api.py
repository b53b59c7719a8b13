"""The equipment archive over HTTP: list, one device, CSV export, maintenance entries."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response

from controller.api_models import errors
from controller.archive import ArchiveEntry, MaintenanceRecord, MaintenanceRequest, UnknownDevice

# Who may add to a device's history: the people who do the work, and admins.
MAINTENANCE_ROLES = ("technician", "admin")


def archive_router(controller, caller) -> APIRouter:
    """``caller`` is the API's bearer-token dependency (a Caller with name and role)."""
    router = APIRouter()

    @router.get("/api/archive", responses=errors(401, 403))
    async def archive() -> list[ArchiveEntry]:
        """Every device: identity, function, place, wear, fault and maintenance counts."""
        return await controller.archive.entries()

    @router.get("/api/archive.csv", response_class=Response, responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "One row per device"},
        **errors(401, 403)})
    async def archive_csv() -> Response:
        return Response(await controller.archive.csv(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{controller.config.site}-archive.csv"'})

    @router.get("/api/archive/{room_id}/{device_id}", responses=errors(401, 403, 404))
    async def archive_device(room_id: str, device_id: str) -> ArchiveEntry:
        """One device with its fault history (from the event log) and maintenance entries, the latest first."""
        try:
            return await controller.archive.entry(room_id, device_id)
        except UnknownDevice as exc:
            raise HTTPException(404, {"error": "NotFound", "message": str(exc)}) from None

    @router.post("/api/archive/{room_id}/{device_id}/maintenance", status_code=201,
                 responses=errors(401, 403, 404, 422))
    async def add_maintenance(room_id: str, device_id: str, body: MaintenanceRequest,
                              who=Depends(caller)) -> MaintenanceRecord:
        """Recorded (committed) before the answer; technician or admin tokens only."""
        if who.role not in MAINTENANCE_ROLES:
            raise HTTPException(403, {"error": "Forbidden",
                                      "message": f"a {who.role} token may not add maintenance entries"})
        try:
            return await controller.archive.add_maintenance(room_id, device_id, body, recorded_by=who.name)
        except UnknownDevice as exc:
            raise HTTPException(404, {"error": "NotFound", "message": str(exc)}) from None
        except ValueError as exc:
            raise HTTPException(422, {"error": "BadRequest", "message": str(exc), "field": "at"}) from None

    return router

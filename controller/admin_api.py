"""What only an admin may read: the running site config, its secrets masked."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter

# Driver options are free-form (a projector's password is just a string there): mask by name.
SECRET_KEY = re.compile(r"pass|secret|token|pin|key", re.IGNORECASE)
MASK = "**********"


def masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and SECRET_KEY.search(k) and isinstance(v, (str, int)) and v != ""
                else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def admin_router(controller) -> APIRouter:
    router = APIRouter(tags=["admin"])

    @router.get("/api/config")
    async def config() -> dict[str, Any]:
        """The site config this controller runs, as validated; tokens, PINs and passwords masked."""
        return masked(controller.config.model_dump(mode="json"))

    return router

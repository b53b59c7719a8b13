"""What only an admin may read: the running site config, its secrets masked."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from controller.api_models import errors
from controller.config import SiteConfig

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


def document_masked_secrets(openapi: dict[str, Any]) -> None:
    """The config's secrets (format ``password``) are answered as ``MASK``: the schema says so,
    instead of the lengths and patterns a real token or PIN must have."""

    def relax(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("format") == "password":
                for constraint in ("minLength", "maxLength", "pattern", "writeOnly"):
                    node.pop(constraint, None)
                node["description"] = f"{node.get('description', 'A secret')}; answered masked: {MASK}"
            for child in node.values():
                relax(child)
        elif isinstance(node, list):
            for child in node:
                relax(child)

    relax(openapi.get("components", {}).get("schemas", {}))


def admin_router(controller) -> APIRouter:
    router = APIRouter(tags=["admin"])

    @router.get("/api/config", response_model=SiteConfig, responses=errors(401, 403))
    async def config() -> JSONResponse:
        """The site config this controller runs, as validated; tokens, PINs and passwords masked."""
        # Answered as dumped: validating it against SiteConfig again would refuse the masks
        # (a token's mask is shorter than a token may be).
        return JSONResponse(masked(controller.config.model_dump(mode="json")))

    return router

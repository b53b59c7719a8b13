"""Who may do what on the controller's API, checked in one place.

Callers present a bearer token: one from the config (``api.tokens``, each with a role and,
for a tablet, its room) or a session token from a PIN login (``api.auth.pin_users``) on a
shared device. Roles:

- ``tablet``: one room — its scenes (those on its tablet) and the tablet's controls;
- ``technician``: every room, devices, self-tests, playbooks, the archive;
- ``admin``: all of that, and the config, exports and personal data;
- ``kiosk``, ``staff``: the check-in desk only (its router checks them itself).

What each route needs is data (``RULES``), looked up by the matched route's path; a route
not listed needs a technician (reads: also anonymous callers, where ``api.auth.open_reads``
allows). A tablet naming another room gets 403.

Browser protection: a state-changing request or a WebSocket whose ``Origin`` is neither
the controller's own nor in ``api.auth.allowed_origins`` is refused. Every write —
allowed or refused — is recorded in the event log (kind ``audit``) with who sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from kiosk.config import pin_matches

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TECHNICIAN = frozenset({"technician", "admin"})
ADMIN = frozenset({"admin"})
ROOM_USERS = frozenset({"tablet", "technician", "admin"})
ANY_ROLE = frozenset({"kiosk", "staff", "tablet", "technician", "admin"})
# A session's last request is written to the store at most this often: enough for an idle
# timeout to survive a restart within a minute, without a write per request.
TOUCH_PERSIST_EVERY = timedelta(seconds=60)
# Each further lock after wrong PINs lasts twice as long as the one before, up to this.
MAX_LOCKOUT = 3600.0
SESSION_PREFIX = "s1."


class Caller(BaseModel):
    """Who is calling: a token's or a person's name (the event log's actor), the role, a tablet's room."""

    name: str
    role: str
    room: str | None = None
    via: Literal["token", "session", "anonymous"] = "token"
    session: str | None = Field(None, description="The session's id, for a PIN login")


ANONYMOUS = Caller(name="anonymous", role="anonymous", via="anonymous")


@dataclass(frozen=True)
class Access:
    roles: frozenset[str] = TECHNICIAN
    open_read: bool = False  # callers without a token may read, where api.auth.open_reads allows
    public: bool = False     # no credentials: pages, the login itself, health
    own: bool = False        # the route checks its callers itself (the check-in desk's router)
    refusal: str = "do this"  # "a kiosk token may not <refusal>"


DEFAULT_READ = Access(TECHNICIAN, open_read=True)
DEFAULT_WRITE = Access(TECHNICIAN)

# (method, route path) → who may call it. Tablets reach only what is listed for them, and only
# for the room in their token (path parameter room_id).
RULES: dict[tuple[str, str], Access] = {
    ("GET", "/api/health"): Access(public=True),
    ("GET", "/api/rooms/{room_id}"): Access(ROOM_USERS, open_read=True),
    ("GET", "/api/rooms/{room_id}/scenes"): Access(ROOM_USERS, open_read=True),
    ("POST", "/api/rooms/{room_id}/scenes/{scene_id}"): Access(ROOM_USERS),
    ("GET", "/api/rooms/{room_id}/tablet"): Access(ROOM_USERS, open_read=True),
    ("POST", "/api/rooms/{room_id}/tablet/controls"): Access(ROOM_USERS),
    ("POST", "/api/auth/login"): Access(public=True),
    ("POST", "/api/auth/logout"): Access(ANY_ROLE),
    ("GET", "/api/auth/me"): Access(ANY_ROLE),
    ("GET", "/api/auth/sessions"): Access(ADMIN),
    ("DELETE", "/api/auth/sessions/{session_id}"): Access(ADMIN),
    ("GET", "/api/config"): Access(ADMIN),
    ("POST", "/api/archive/{room_id}/{device_id}/maintenance"): Access(TECHNICIAN, refusal="add maintenance entries"),
}
PREFIX_RULES: list[tuple[str, Access]] = [
    ("/api/kiosk/", Access(own=True)),  # kiosk/web.py: kiosk, staff and admin roles
]


def access_for(method: str, path: str) -> Access:
    rule = RULES.get((method, path))
    if rule is not None:
        return rule
    for prefix, prefixed in PREFIX_RULES:
        if path.startswith(prefix):
            return prefixed
    if not path.startswith("/api/"):
        return Access(public=True)  # pages and their files: static, no data without a token
    return DEFAULT_READ if method in SAFE_METHODS else DEFAULT_WRITE


def _error(status: int, error: str, message: str, **headers: str) -> HTTPException:
    return HTTPException(status, {"error": error, "message": message}, headers=headers or None)


def unauthorized(message: str) -> HTTPException:
    return _error(401, "Unauthorized", message, **{"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> HTTPException:
    return _error(403, "Forbidden", message)


# --- sessions ----------------------------------------------------------------------------


@dataclass
class Session:
    id: str
    token_sha256: str
    name: str
    role: str
    room: str | None
    created: datetime
    expires: datetime  # the absolute end (max_hours after sign-in)
    last_seen: datetime
    persisted_seen: datetime | None = None  # the last_seen the store has; written again a minute on

    def caller(self) -> Caller:
        return Caller(name=self.name, role=self.role, room=self.room, via="session", session=self.id)


class SessionView(BaseModel):
    id: str
    name: str
    role: str
    room: str | None
    created: datetime
    expires: datetime
    last_seen: datetime
    idle_expires: datetime


SESSION_SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_sessions (
    id           TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    room         TEXT,
    created      TEXT NOT NULL,
    expires      TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    ended        TEXT
);
"""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """PIN sessions: in memory for lookups, in SQLite so a controller restart signs nobody out.

    Only a token's SHA-256 is stored; the token itself exists in the page that holds it.
    """

    def __init__(self, store, settings, *, now: Callable[[], datetime]) -> None:
        self._store = store
        self._idle = timedelta(minutes=settings.idle_minutes)
        self._max = timedelta(hours=settings.max_hours)
        self._now = now
        self._by_digest: dict[str, Session] = {}
        self._loaded: asyncio.Task | None = None

    async def ready(self) -> None:
        if self._loaded is None:
            self._loaded = asyncio.ensure_future(self._load())
        await asyncio.shield(self._loaded)

    async def _load(self) -> None:
        rows = await self._store.call(_load_sessions)
        now = self._now()
        for row in rows:
            session = Session(*row[:5], *(datetime.fromisoformat(v) for v in row[5:8]))
            session.persisted_seen = session.last_seen
            if not self._expired(session, now):
                self._by_digest[session.token_sha256] = session

    def _expired(self, session: Session, now: datetime) -> bool:
        return now >= session.expires or now >= session.last_seen + self._idle

    def idle_expires(self, session: Session) -> datetime:
        return min(session.expires, session.last_seen + self._idle)

    async def open(self, name: str, role: str, room: str | None) -> tuple[str, Session]:
        await self.ready()
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = self._now()
        session = Session(id=secrets.token_hex(8), token_sha256=_digest(token), name=name, role=role, room=room,
                          created=now, expires=now + self._max, last_seen=now, persisted_seen=now)
        await self._store.call(_insert_session, session)  # committed before the token is handed out
        self._by_digest[session.token_sha256] = session
        return token, session

    async def find(self, token: str) -> Session | None:
        """The live session for a token (and note that it was used); None if unknown or expired."""
        await self.ready()
        session = self._by_digest.get(_digest(token))
        if session is None:
            return None
        now = self._now()
        if self._expired(session, now):
            await self.end(session, at=now)
            return None
        session.last_seen = now
        if session.persisted_seen is None or now - session.persisted_seen >= TOUCH_PERSIST_EVERY:
            session.persisted_seen = now
            await self._store.call(_touch_session, session.id, now.isoformat())
        return session

    def is_live(self, session_id: str) -> bool:
        now = self._now()
        return any(s.id == session_id and not self._expired(s, now) for s in self._by_digest.values())

    async def end(self, session: Session, *, at: datetime | None = None) -> None:
        self._by_digest.pop(session.token_sha256, None)
        await self._store.call(_end_session, session.id, (at or self._now()).isoformat())

    async def end_by_id(self, session_id: str) -> Session | None:
        await self.ready()
        session = next((s for s in self._by_digest.values() if s.id == session_id), None)
        if session is not None:
            await self.end(session)
        return session

    async def live(self) -> list[Session]:
        await self.ready()
        now = self._now()
        return sorted((s for s in self._by_digest.values() if not self._expired(s, now)), key=lambda s: s.created)


def _load_sessions(db) -> list[tuple]:
    with db:
        db.executescript(SESSION_SCHEMA)
    return db.execute("SELECT id, token_sha256, name, role, room, created, expires, last_seen FROM auth_sessions "
                      "WHERE ended IS NULL").fetchall()


def _insert_session(db, s: Session) -> None:
    with db:
        db.execute("INSERT INTO auth_sessions(id, token_sha256, name, role, room, created, expires, last_seen) "
                   "VALUES (?,?,?,?,?,?,?,?)", (s.id, s.token_sha256, s.name, s.role, s.room, s.created.isoformat(),
                                                s.expires.isoformat(), s.last_seen.isoformat()))


def _touch_session(db, session_id: str, at: str) -> None:
    with db:
        db.execute("UPDATE auth_sessions SET last_seen = ? WHERE id = ?", (at, session_id))


def _end_session(db, session_id: str, at: str) -> None:
    with db:
        db.execute("UPDATE auth_sessions SET ended = ? WHERE id = ? AND ended IS NULL", (at, session_id))


# --- PIN guessing --------------------------------------------------------------------------


class LoginLimiter:
    """Wrong PINs in a row lock the name and the device they came from; each further lock
    lasts twice as long (up to an hour) until a PIN is right."""

    def __init__(self, settings, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = settings.max_failures
        self.lockout = settings.lockout_seconds
        self._monotonic = monotonic
        self._failures: dict[tuple[str, str], int] = {}
        self._locks: dict[tuple[str, str], tuple[float, int]] = {}  # key → (locked until, locks so far)

    def locked_for(self, *keys: tuple[str, str]) -> float:
        """Seconds until every one of ``keys`` may try again (0: now)."""
        now = self._monotonic()
        return max([0.0] + [self._locks[k][0] - now for k in keys if k in self._locks])

    def failed(self, *keys: tuple[str, str]) -> int:
        """Count a wrong PIN; returns the tries left before the lock (0: locked now)."""
        left = self.max_failures
        for key in keys:
            count = self._failures.get(key, 0) + 1
            if count >= self.max_failures:
                _, locks = self._locks.get(key, (0.0, 0))
                seconds = min(self.lockout * 2 ** locks, MAX_LOCKOUT)
                self._locks[key] = (self._monotonic() + seconds, locks + 1)
                count = 0
                left = 0
            else:
                left = min(left, self.max_failures - count)
            self._failures[key] = count
        return left

    def succeeded(self, *keys: tuple[str, str]) -> None:
        for key in keys:
            self._failures.pop(key, None)
            self._locks.pop(key, None)


# --- the gate --------------------------------------------------------------------------------


class BearerCredentials(HTTPBearer):
    """HTTPBearer for HTTP requests and WebSockets alike (FastAPI's own takes a Request only),
    so the OpenAPI schema documents the scheme on every route."""

    def __init__(self) -> None:
        super().__init__(auto_error=False, description="A token from api.tokens, or a session from /api/auth/login")

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:  # type: ignore[override]
        header = request.headers.get("authorization")
        if not header:
            return None
        scheme, _, credentials = header.partition(" ")
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials.strip())


class Gate:
    """The controller's one authority on callers: identifies tokens and sessions, applies RULES,
    guards origins and records writes. ``install(app)`` puts it in front of every route."""

    def __init__(self, controller, *, now: Callable[[], datetime] | None = None) -> None:
        self.controller = controller
        api = controller.config.api
        self.settings = api.auth
        self._tokens = [(t.token.get_secret_value().encode(), Caller(name=t.name, role=t.role, room=t.room))
                        for t in api.tokens]
        self._pin_users = {u.name.casefold(): u for u in api.auth.pin_users}
        # Sessions expire in real time, whatever speed the simulated clock runs at.
        self.sessions = SessionStore(controller.store, api.auth.sessions,
                                     now=now or (lambda: datetime.now(timezone.utc)))
        self.limiter = LoginLimiter(api.auth.login)
        self.bearer = BearerCredentials()
        # A wrong name still costs a scrypt: the answer's timing does not tell names apart.
        self._decoy_pin = "scrypt$" + "00" * 16 + "$" + "00" * 64

    # --- identifying ------------------------------------------------------------------------

    async def identify(self, token: str | None) -> Caller | None:
        """The caller a token stands for; None when it stands for nobody."""
        if not token:
            return None
        offered = token.encode()
        found = None
        for secret, who in self._tokens:  # compare with every token: the time taken tells nothing
            if hmac.compare_digest(offered, secret):
                found = who
        if found is not None:
            return found
        if token.startswith(SESSION_PREFIX):
            session = await self.sessions.find(token)
            if session is not None:
                return session.caller()
        return None

    def anonymous_may_read(self, connection: HTTPConnection) -> bool:
        mode = self.settings.open_reads
        if mode == "everywhere":
            return True
        if mode == "nowhere":
            return False
        return _is_local(connection)

    def still_valid(self, who: Caller) -> bool:
        """A session can end while its socket is open (expiry, sign-out, an admin ending it)."""
        return who.via != "session" or (who.session is not None and self.sessions.is_live(who.session))

    # --- the dependencies -----------------------------------------------------------------

    async def authorize(self, connection: HTTPConnection, credentials: HTTPAuthorizationCredentials | None = None
                        ) -> None:
        """Every route's first dependency (installed app-wide). WebSockets say who they are in
        their endpoint (browsers cannot set their headers), so they pass here."""
        if connection.scope["type"] != "http":
            return
        route = connection.scope.get("route")
        path = getattr(route, "path", connection.url.path)
        method = connection.scope["method"]
        access = access_for("GET" if method == "HEAD" else method, path)
        if access.own:
            return
        if access.public:  # a stale token in the header does not stop anyone signing in again
            with contextlib.suppress(HTTPException):
                connection.state.caller = await self._from_credentials(credentials)
            return
        who = await self._from_credentials(credentials)
        if who is not None:
            connection.state.caller = who
        else:
            if credentials is None and access.open_read and method in SAFE_METHODS and self.anonymous_may_read(connection):
                connection.state.caller = ANONYMOUS
                return
            raise unauthorized("a bearer token is required")
        if who.role not in access.roles:
            raise forbidden(f"a {who.role} token may not {access.refusal}")
        if who.role == "tablet":
            self._tablet_scope(who, connection.path_params)

    def _tablet_scope(self, who: Caller, params: dict[str, Any]) -> None:
        room = params.get("room_id")
        if room is None or room != who.room:
            raise forbidden(f"this tablet controls {who.room} only")
        scene = params.get("scene_id")
        if scene is not None and room in self.controller.site.rooms:
            from controller.tablet import tablet_scene_ids

            if scene not in tablet_scene_ids(self.controller.config.room(room)):
                raise forbidden(f"scene {scene!r} is not on this room's tablet")

    async def _from_credentials(self, credentials: HTTPAuthorizationCredentials | None) -> Caller | None:
        if credentials is None:
            return None
        if credentials.scheme.lower() != "bearer":
            raise unauthorized("a bearer token is required")
        who = await self.identify(credentials.credentials)
        if who is None:
            raise unauthorized("unknown or expired token")
        return who

    async def caller(self, connection: HTTPConnection) -> Caller:
        """For a route that needs to know who acts (the event log's actor): a token is required."""
        who = getattr(connection.state, "caller", None)
        if who is None or who.via == "anonymous":
            credentials = await self.bearer(connection)
            who = await self._from_credentials(credentials)
            if who is None:
                raise unauthorized("a bearer token is required")
            connection.state.caller = who
        return who

    async def websocket_caller(self, connection: HTTPConnection, token: str | None = None) -> Caller | None:
        """A socket's caller: the token it sent (first message or Authorization header), or an
        anonymous reader where open_reads allows; None when refused."""
        if token is None:
            header = connection.headers.get("authorization", "")
            scheme, _, value = header.partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else None
        if token:
            return await self.identify(token)
        return ANONYMOUS if self.anonymous_may_read(connection) else None

    # --- installing -------------------------------------------------------------------------

    def dependency(self):
        async def authorize(connection: HTTPConnection,
                            credentials: HTTPAuthorizationCredentials | None = Depends(self.bearer)) -> None:
            await self.authorize(connection, credentials)
        return Depends(authorize)

    def install(self, app) -> None:
        app.add_middleware(OriginGuard, allowed=self.settings.allowed_origins)
        app.add_middleware(WriteAudit, bus=self.controller.bus)  # outermost: it sees refusals too
        app.include_router(self.router())

    # --- PIN login ------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(tags=["auth"])
        errors = {401: {"model": AuthError}, 403: {"model": AuthError}, 429: {"model": AuthError}}

        @router.post("/api/auth/login", responses=errors)
        async def login(body: LoginRequest, connection: HTTPConnection) -> LoginResult:
            """Sign in with name and PIN on a shared device; answers a session token. Wrong PINs
            lock the name and the device for ``api.auth.login.lockout_seconds`` (429)."""
            connection.state.caller = Caller(name=body.user, role="unknown", via="session")  # the audit's actor
            keys = (("user", body.user.casefold()), ("client", _client(connection)))
            wait = self.limiter.locked_for(*keys)
            if wait > 0:
                raise _error(429, "LockedOut", f"too many wrong PINs: try again in {wait:.0f} s",
                             **{"Retry-After": str(max(1, round(wait)))})
            user = self._pin_users.get(body.user.casefold())
            configured = user.pin.get_secret_value() if user is not None else self._decoy_pin
            right = await asyncio.to_thread(pin_matches, configured, body.pin) and user is not None
            if not right:
                left = self.limiter.failed(*keys)
                self.controller.bus.publish("auth", data={"event": "login_failed", "tries_left": left},
                                            actor=body.user)
                raise _error(401, "PinRejected", "wrong name or PIN" + (f" ({left} tries left)" if left else
                                                                        "; locked for a while"))
            self.limiter.succeeded(*keys)
            token, session = await self.sessions.open(user.name, user.role, user.room)
            connection.state.caller = session.caller()
            self.controller.bus.publish("auth", room=user.room, data={"event": "login", "session": session.id,
                                                                      "role": user.role}, actor=user.name)
            return LoginResult(token=token, name=user.name, role=user.role, room=user.room,
                               expires=session.expires, idle_minutes=self.settings.sessions.idle_minutes)

        @router.post("/api/auth/logout", responses=errors)
        async def logout(who: Caller = Depends(self.caller)) -> LogoutResult:
            """End this session (a config token cannot be signed out: it stays valid)."""
            ended = False
            if who.via == "session" and who.session is not None:
                ended = await self.sessions.end_by_id(who.session) is not None
                self.controller.bus.publish("auth", data={"event": "logout", "session": who.session}, actor=who.name)
            return LogoutResult(ended=ended)

        @router.get("/api/auth/me", responses=errors)
        async def me(who: Caller = Depends(self.caller)) -> Caller:
            """Who this token is: name, role, a tablet's room."""
            return who

        @router.get("/api/auth/sessions", responses=errors)
        async def sessions() -> list[SessionView]:
            """Signed-in people (admin)."""
            return [SessionView(id=s.id, name=s.name, role=s.role, room=s.room, created=s.created, expires=s.expires,
                                last_seen=s.last_seen, idle_expires=self.sessions.idle_expires(s))
                    for s in await self.sessions.live()]

        @router.delete("/api/auth/sessions/{session_id}", responses={**errors, 404: {"model": AuthError}})
        async def end_session(session_id: str, who: Caller = Depends(self.caller)) -> LogoutResult:
            """Sign someone out (admin): a lost tablet, a technician who left."""
            if await self.sessions.end_by_id(session_id) is None:
                raise _error(404, "NotFound", f"no live session {session_id!r}")
            self.controller.bus.publish("auth", data={"event": "ended", "session": session_id}, actor=who.name)
            return LogoutResult(ended=True)

        return router


class LoginRequest(BaseModel):
    user: str = Field(min_length=1, max_length=100, description="The name in api.auth.pin_users")
    pin: str = Field(min_length=1, max_length=64)


class LoginResult(BaseModel):
    token: str = Field(description="Send as Authorization: Bearer; it ends when idle or at expires")
    name: str
    role: str
    room: str | None
    expires: datetime
    idle_minutes: float


class LogoutResult(BaseModel):
    ended: bool


class AuthError(BaseModel):
    error: str
    message: str


# --- middleware -----------------------------------------------------------------------------


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _client(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else "unknown"


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def _is_local(connection: HTTPConnection) -> bool:
    """A caller on this machine that addressed this machine by a loopback name: not a web page
    that rebound its own DNS name to 127.0.0.1."""
    try:
        client = ipaddress.ip_address(_client(connection))
    except ValueError:
        return False
    host = (connection.headers.get("host") or "").lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return client.is_loopback and (name in LOCAL_HOSTS or name.startswith("127."))


class OriginGuard:
    """Refuse state-changing requests and WebSockets that a page of another origin sent.

    Browsers always send ``Origin`` on those; a request without one comes from a program
    (the CLI, curl), which no other site can make a browser send.
    """

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.allowed = frozenset(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket" or (kind == "http" and scope["method"] not in SAFE_METHODS):
            origin = _header(scope, b"origin")
            if origin is not None and not self._allowed(origin, scope):
                await self._refuse(scope, receive, send, origin)
                return
        await self.app(scope, receive, send)

    def _allowed(self, origin: str, scope: Scope) -> bool:
        origin = origin.lower()
        if origin in self.allowed:
            return True
        host = (_header(scope, b"host") or "").lower()
        scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
        return bool(host) and origin == f"{scheme}://{host}"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, origin: str) -> None:
        log.warning("refused a %s from origin %s", scope["type"], origin)
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 4403})
            return
        body = ('{"error": "Forbidden", "message": "cross-origin request refused"}').encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class WriteAudit:
    """Record every state-changing request in the event log (kind ``audit``): who, what, the answer."""

    def __init__(self, app: ASGIApp, bus) -> None:
        self.app = app
        self.bus = bus

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        status = {"code": 500}

        async def watch(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            who: Caller | None = state.get("caller")
            params = scope.get("path_params") or {}
            self.bus.publish("audit", room=params.get("room_id") if isinstance(params.get("room_id"), str) else None,
                             actor=who.name if who is not None else "anonymous",
                             data={"method": scope["method"], "path": scope["path"], "status": status["code"],
                                   "role": who.role if who is not None else None,
                                   "via": who.via if who is not None else None,
                                   "client": scope["client"][0] if scope.get("client") else None})

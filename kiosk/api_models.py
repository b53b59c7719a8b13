"""What the kiosk's API answers, as pydantic models: the OpenAPI schema documents every answer,
and FastAPI checks each answer against its model before it leaves.

They describe the dicts the desk already builds (``Decision.view``, ``reports.staff_view`` with
what ``KioskService.staff_view`` adds, ``KioskService.screen_view``...). A model here must keep
every key those dicts carry, with no key added: a field left out is a field the kiosk, staff
and big-screen pages stop getting.

Times come two ways: a decision's are UTC, as the store keeps them (``IsoTime``, ``+00:00``);
the staff page's are local wall-clock text in the desk's time zone (``LocalTime``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from controller.api_models import IsoTime, RequestInvalid
from kiosk.checkin import Result
from kiosk.scanners import ScannerStatus

LocalTime = Annotated[str, Field(description="Local time in the desk's time zone: YYYY-MM-DD HH:MM:SS",
                                 examples=["2025-06-01 09:12:05"])]
Direction = Literal["in", "out"]


class KioskErrorBody(BaseModel):
    """Every 4xx answer of the kiosk: what kind of failure, in words, and the request field at fault."""

    error: str = Field(description="A kiosk error's kind (kiosk/errors.py): InvalidRequest, PinRejected, "
                                   "UnknownAttendee, BadSignature and the other bad codes; or Unauthorized, "
                                   "Forbidden, NotFound")
    message: str
    field: str | None = Field(None, description="The request field at fault (nonce, list, code, attendee_id...); "
                                                "absent on a refused token or a missing photo")


def kiosk_errors(*codes: int) -> dict[int | str, dict]:
    """``responses=`` for the error answers a kiosk route may give. A 422 is either the desk's own
    refusal (InvalidRequest, a bad code) or a request that does not fit the schema (FastAPI's)."""
    return {code: {"model": KioskErrorBody | RequestInvalid if code == 422 else KioskErrorBody} for code in codes}


def file_answer(description: str, *media: str) -> dict[int | str, dict]:
    """``responses=`` for a route that answers a file (a photo, the sign-in sheet), not JSON."""
    return {200: {"description": description,
                  "content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in media}}}


# --- the desk: a scan's or an override's answer ----------------------------------------------------

class AttendeeCard(BaseModel):
    """What the desk may show of the person in front of it."""

    ref: str = Field(description="The badge's reference; the photo is at /api/kiosk/photos/{ref}")
    name: str
    organisation: str
    title: str
    seat: str
    vip: bool
    has_photo: bool


class PreviousEntry(BaseModel):
    at: IsoTime
    kiosk: str = Field(description="The desk that let them in")


class CheckinDecision(BaseModel):
    """The decision on one scan or override (``Decision.view``); every key is always there."""

    result: Result
    nonce: str
    list: str
    direction: Direction
    at: IsoTime
    kiosk: str
    source: str = Field(description="page:<token name>, scanner:<scanner id> or staff (an override)")
    attendee: AttendeeCard | None = Field(description="None for a code that names nobody here (invalid, revoked)")
    previous: PreviousEntry | None = Field(description="already_checked_in: when and where they went in")
    detail: str | None = Field(description="invalid, revoked: why")
    late: bool
    repeated: bool = Field(description="The same nonce again: the first answer, nothing new recorded")
    offline: bool = Field(description="Decided while the desk could not reach the other desks")
    override: str | None = Field(description="An override's reason")
    seq: int | None = Field(description="The entry's number in this desk's log, once recorded")
    colour: Literal["green", "amber", "red"]


class SearchHit(BaseModel):
    """A name search finds name, organisation and seat only (and the id to sign them in by)."""

    attendee_id: str
    name: str
    organisation: str
    seat: str


# --- the big screen: counts and seats, no names ----------------------------------------------------

class ListCounts(BaseModel):
    list: str
    name: str
    expected: int = Field(description="People on the list")
    signed_in: int = Field(description="People who went in at least once")
    present: int = Field(description="People whose latest scan is an entry")
    late: int = Field(description="People whose first entry came after the meeting started")
    not_arrived: int
    conflicts: int = Field(description="Entries two desks let through, or on a badge since revoked")


class SeatState(BaseModel):
    seat: str
    number: int = Field(description="The seat's number in its row (0: none in its name)")
    inside: bool = Field(alias="in", description="Its holder is in")


class SeatRow(BaseModel):
    row: str
    seats: list[SeatState]


class ScreenView(BaseModel):
    list: str
    name: str
    counts: ListCounts
    rows: list[SeatRow]


# --- staff: with names ---------------------------------------------------------------------------

class PersonFields(BaseModel):
    """Who an entry is about; all None (vip false) when the badge names nobody here."""

    attendee_id: str | None
    name: str | None
    organisation: str | None
    seat: str | None
    vip: bool


class LateArrival(PersonFields):
    list: str
    at: LocalTime
    kiosk: str


class RecentScan(PersonFields):
    at: LocalTime
    kiosk: str
    source: str = Field(description="desk (a check-in in this desk's log), page:<token name>, scanner:<id>, staff")
    result: Result
    list: str
    direction: Direction
    detail: str | None = Field(description="Why refused, or an override's reason")


class OverrideRecord(PersonFields):
    at: LocalTime
    kiosk: str
    staff: str | None = Field(description="Who signed them in")
    reason: str
    list: str


class ConflictEntry(BaseModel):
    at: LocalTime
    kiosk: str
    offline: bool


class ConflictView(PersonFields):
    """Two desks let one person in with no exit between; or an entry on a badge already revoked
    (first and second are then the same entry)."""

    list: str
    ref: str
    first: ConflictEntry
    second: ConflictEntry
    revoked: bool = Field(description="The badge has been revoked since")


class VipArrival(PersonFields):
    at: LocalTime
    kiosk: str
    list: str


class SyncPeer(BaseModel):
    origin: str
    kiosk: str
    head: int = Field(description="The latest entry the peer said it has")
    held: int = Field(description="Its entries held here with no gap")


class SyncView(BaseModel):
    """Replication with the other desks of the site."""

    connected: bool = Field(description="The broker is reachable")
    origin: str = Field(description="This desk's log")
    peers: list[SyncPeer]
    published: int
    applied: int
    rejected: int
    replayed: int
    badges_applied: int = Field(description="Revocations and key changes learnt from other desks")
    last_rejection: str | None


class SyncOff(BaseModel):
    """This desk does not sync."""

    model_config = ConfigDict(extra="forbid")  # tells it apart from a SyncView

    connected: None


class BadgeKey(BaseModel):
    id: int
    retired: bool


class BadgesView(BaseModel):
    """Which badges count here: what two desks compare."""

    revoked: int = Field(description="How many badges are revoked")
    digest: str = Field(description="The start of the digest of revocations and keys")
    keys: list[BadgeKey]


class ScannerView(BaseModel):
    id: str
    status: ScannerStatus
    reason: str | None


class StaffView(BaseModel):
    """The staff page: counts, late arrivals, recent scans, overrides, conflicts, VIP arrivals,
    and the desk's own state (sync, badges, scanners)."""

    counts: list[ListCounts]
    late: list[LateArrival]
    recent: list[RecentScan]
    overrides: list[OverrideRecord]
    conflicts: list[ConflictView]
    vip_arrivals: list[VipArrival]
    kiosk: str
    sync: SyncView | SyncOff
    badges: BadgesView
    scanners: list[ScannerView]


# --- organisers ----------------------------------------------------------------------------------

class AttendeeRecord(BaseModel):
    id: str
    ref: str
    name: str
    organisation: str
    title: str
    seat: str
    vip: bool
    blocked: bool = Field(description="Refused at the desk whatever their badge")

"""What the API answers, as pydantic models: the OpenAPI schema documents every answer, and
FastAPI checks each answer against its model before it leaves.

Most of these describe dicts that the site, the store and the routines build (``DeviceRuntime.view``,
``Prompt.view``, ``Monitor.view``, the post-meeting record...). A model here must keep every key
those dicts carry: a field a model leaves out is a field clients stop getting.

Timestamps the routines write as text (``datetime.isoformat()``: ``+00:00``) are passed through as
written (``IsoTime``); parsing them into ``datetime`` would re-render them (``Z``).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType

from controller.alerts import Alert
from controller.playbook_config import PlaybookStep, Text
from controller.playbooks import PlaybookRun
from controller.schedule import Step
from drivers.status import Status

# Any JSON value, recursively: what a device reports as a state (a number, text, a flag, a list of
# lamps, a level per channel...) and what free-form details and event data hold.
JsonValue = TypeAliasType(
    "JsonValue",
    Union[str, int, float, bool, None, list["JsonValue"], dict[str, "JsonValue"]],  # noqa: UP007 (recursive alias)
)

IsoTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: what kind of failure, in words, and the request field at fault."""

    error: str
    message: str
    field: str | None = None


class ValidationIssue(BaseModel):
    model_config = ConfigDict(extra="allow")  # pydantic's error details (ctx...) as they come

    loc: list[str | int] = Field(description="Where: body, query or path, then the field")
    msg: str
    type: str
    input: JsonValue = None


class RequestInvalid(BaseModel):
    """A request that does not fit the schema (FastAPI's own answer)."""

    detail: list[ValidationIssue]


def errors(*codes: int) -> dict[int | str, dict]:
    """``responses=`` for the error answers a route may give. A 422 is either the route's own
    refusal (ErrorBody) or a request that does not fit the schema (RequestInvalid)."""
    return {code: {"model": ErrorBody | RequestInvalid if code == 422 else ErrorBody} for code in codes}


def document_request_invalid(openapi: dict) -> None:
    """A route that documents a 422 of its own may still answer FastAPI's (a body that is not
    JSON, a field of the wrong type): its schema says either, wherever a router left that out."""
    if "RequestInvalid" not in openapi.get("components", {}).get("schemas", {}):
        return
    invalid = {"$ref": "#/components/schemas/RequestInvalid"}
    for item in openapi.get("paths", {}).values():
        for operation in item.values():
            answer = operation.get("responses", {}).get("422", {}).get("content", {}).get("application/json")
            if answer is None:
                continue
            schema = answer.get("schema", {})
            branches = schema.get("anyOf", [schema])
            if invalid not in branches and {"$ref": "#/components/schemas/HTTPValidationError"} not in branches:
                answer["schema"] = {"anyOf": [*branches, invalid], "title": schema.get("title", "Refused")}


# --- rooms and devices ---------------------------------------------------------------------------

RoomStatus = Literal["ok", "attention", "starting"]


class Health(BaseModel):
    status: Literal["ok"]
    site: str
    devices: dict[Status, int] = Field(description="How many devices are in each status")


class RoomDevice(BaseModel):
    """A device as it runs in its room (``DeviceRuntime.view``)."""

    id: str
    room: str
    name: str
    driver: str
    address: str | None = Field(description="host:port, serial port or MQTT topic")
    status: Status
    reason: str | None = Field(description="Why it is not online, in words")
    capabilities: list[str]
    state: dict[str, JsonValue] = Field(description="What the device last reported, by state key "
                                                    "(power, input, lamps, levels...), as JSON")


class RoomSummary(BaseModel):
    """A room in the list: its devices' statuses only."""

    id: str
    name: str
    status: RoomStatus
    attended: bool = Field(description="A staff member stays in the room (from the T-20 reminder on)")
    device_status: dict[str, Status] = Field(description="Each device's status, by device id")


class RoomView(BaseModel):
    """One room with its devices in full."""

    id: str
    name: str
    status: RoomStatus
    attended: bool
    devices: list[RoomDevice]


class CommandResult(BaseModel):
    ok: bool
    device: RoomDevice = Field(description="The device after the command")


class SceneSummary(BaseModel):
    id: str
    name: str
    steps: int = Field(description="How many steps the scene has")


class EventRecord(BaseModel):
    """One event of the log: a state or status change, a command, an error, a routine's progress..."""

    seq: int
    at: IsoTime
    kind: str
    room: str | None
    device: str | None
    actor: str | None = Field(description="Who caused it: a token's name, supervisor, scheduler...")
    data: dict[str, JsonValue]


# --- the schedule ----------------------------------------------------------------------------------

class ScheduleEntry(BaseModel):
    at: IsoTime
    room: str
    booking: str
    title: str
    start: IsoTime
    end: IsoTime
    step: Step
    action: str = Field(description="What handlers register for: selftest, scene:ready, monitor_start...")
    details: dict[str, JsonValue] = Field(description="selftest: meeting_minutes, purpose; climate: band, deadline, "
                                                      "lead_minutes; ready: scene...")
    status: Literal["pending", "running", "done", "failed", "unhandled", "missed"]


class ScheduleDay(BaseModel):
    date: str = Field(json_schema_extra={"format": "date"})
    timezone: str
    entries: list[ScheduleEntry]
    attended: dict[str, str] = Field(description="Rooms a staff member stays in: the booking's id, by room")
    registered_actions: dict[str, int] = Field(description="How many handlers each action has")


# --- playbooks, prompts, monitoring ----------------------------------------------------------------

class PlaybookSummary(BaseModel):
    kind: str
    title: Text
    escalate: bool
    steps: list[PlaybookStep]


class PlaybookRunView(PlaybookRun):
    waiting_prompt: str | None = Field(description="The prompt the run waits on a technician to answer")


class StepConfirmed(BaseModel):
    ok: bool
    run: str
    answered_by: str


class PromptAnswered(BaseModel):
    ok: bool
    prompt: str
    answered_by: str


class PromptView(BaseModel):
    """A question a routine waits on a technician to answer; what else it carries depends on its source."""

    # A routine may add context of its own: kept, whatever its name.
    model_config = ConfigDict(extra="allow")

    id: str
    room: str
    message: dict[str, str] = Field(description="en, zh")
    timeout_s: float
    asked_at: IsoTime
    source: Literal["selftest", "playbook", "post_meeting"] | None = None
    prompt_kind: str | None = Field(None, description="selftest: what the check asks (speak...)")
    device: str | None = None
    channel: int | None = None
    talker: str | None = Field(None, description="selftest: technician or simulated")
    run: str | None = Field(None, description="playbook: the run's id")
    kind: str | None = Field(None, description="playbook: the fault kind")
    record: str | None = Field(None, description="post_meeting: the routine's id")
    step: int | str | None = Field(None, description="playbook: the step's number; post_meeting: switch_off, "
                                                     "damage_check or sign")
    mic: str | None = None


class MonitorView(BaseModel):
    """A room's meeting patrol: running, or the last one that ran."""

    room: str
    running: bool
    started_at: IsoTime
    until: IsoTime
    booking: str | None
    remaining_minutes: float
    active_alerts: list[Alert]
    alerts_raised: int


class MonitoringIdle(BaseModel):
    """No patrol has run in the room since the controller started."""

    model_config = ConfigDict(extra="forbid")  # tells it apart from a MonitorView that has stopped

    room: str
    running: Literal[False]


class MonitoringStopped(BaseModel):
    room: str
    running: Literal[False]
    was_running: bool


# --- post-meeting ----------------------------------------------------------------------------------
# A step appears when it starts ({started_at, state: running}); its other fields come when it ends.

class MicInventory(BaseModel):
    device: str
    channel: int
    mic: str
    spare: bool
    status: Literal["not_switched_off", "missing", "unknown", "switched_off", "off"]
    used: bool = Field(description="Heard during the meeting")


class SpareMic(BaseModel):
    mic: str
    status: Literal["not_switched_off", "missing", "unknown", "switched_off", "off"]


class SwitchOffPrompt(BaseModel):
    prompt: str
    answer: Literal["confirmed", "declined", "unanswered"]
    by: str | None


class InventoryStep(BaseModel):
    started_at: IsoTime
    state: Literal["running", "complete", "incomplete"]
    mics: list[MicInventory] | None = None
    missing: list[str] | None = None
    not_switched_off: list[str] | None = None
    unknown: list[str] | None = None
    spares: list[SpareMic] | None = None
    switch_off: SwitchOffPrompt | None = Field(None, description="When transmitters were still on")
    finished_at: IsoTime | None = None


class DamageCheck(BaseModel):
    mic: str
    device: str
    channel: int
    result: Literal["undamaged", "damaged_or_missing", "not_confirmed"]
    by: str | None
    note: str | None
    at: IsoTime | None


class DamageChecksStep(BaseModel):
    started_at: IsoTime
    state: Literal["running", "confirmed", "not_all_confirmed"]
    mics: list[DamageCheck] | None = None
    not_confirmed: list[str] | None = None
    damaged_or_missing: list[str] | None = None
    finished_at: IsoTime | None = None


class RoomAction(BaseModel):
    what: str
    ok: bool
    error: str | None = None
    failed: list[str] | None = Field(None, description="A scene's failed steps")


class ActionsStep(BaseModel):
    started_at: IsoTime
    state: Literal["running", "done", "failed", "skipped"]
    actions: list[RoomAction] | None = None
    detail: str | None = None
    finished_at: IsoTime | None = None


class SessionLogStep(BaseModel):
    started_at: IsoTime
    state: Literal["running", "signed", "not_signed"]
    log: str | None = Field(None, description="The signed session log's id")
    signed_by: str | None = None
    signed_at: IsoTime | None = None
    sha256: str | None = None
    signed_at_prompt: bool | None = None
    detail: str | None = None
    finished_at: IsoTime | None = None


class PostMeetingSteps(BaseModel):
    inventory: InventoryStep | None = None
    damage_checks: DamageChecksStep | None = None
    baseline: ActionsStep | None = None
    shutdown: ActionsStep | None = None
    session_log: SessionLogStep | None = None


class SessionSpan(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: IsoTime | None = Field(alias="from", description="When the meeting's monitoring started")
    to: IsoTime
    booking: str | None


class PostMeetingRecord(BaseModel):
    """The post-meeting routine as stored: rewritten after every step.

    Answered with only the keys the record has (a step not started yet is absent)."""

    id: str
    room: str
    room_name: str
    booking: str | None
    technician: str | None = Field(description="Who signs the session log; none: whoever answers the prompt")
    actor: str
    started_at: IsoTime
    finished_at: IsoTime | None
    state: Literal["running", "done", "aborted", "failed"]
    steps: PostMeetingSteps
    session: SessionSpan | None = None
    error: str | None = None


class SessionLog(BaseModel):
    id: str
    room: str
    signed_by: str
    signed_at: IsoTime
    sha256: str
    content: str = Field(description="The canonical JSON the signature covers")
    verified: bool = Field(description="The content still hashes to sha256")

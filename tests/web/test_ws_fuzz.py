"""The live sockets under malformed input, over real sockets to the real server (uvicorn, in a
thread): Hypothesis sends random text, JSON of every wrong shape, binary, deeply nested and
oversized frames, bad and missing tokens, foreign origins and rebound host names — to
``/api/live`` (the console's and the tablets' socket) and to the check-in desk's
``/api/kiosk/live`` — while a well-behaved console page stays connected beside them.

Whatever is sent:
- the server never errors: no 5xx at the handshake, nothing at ERROR in its log (an
  unhandled exception in a socket's handler, a task that failed unseen);
- a foreign origin is refused at the handshake (403); a token that stands for nobody gets
  ``denied`` and close code 4403;
- a malformed hello, or anything a page sends after it, gets ``error`` with a reason and 4400;
- the well-behaved page keeps hearing the venue's changes.

Bounded: ``EXAMPLES`` per property, derandomized, no example database; about 20 s in all.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import queue
import socket
import threading
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from controller.live import HELLO_MAX_CHARS
from sites import DESK, TOKENS, WITHIN, ServedInThread, auth, hall_yaml

EXAMPLES = 300  # per property: each is a connection of its own, a few milliseconds on loopback
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                # `fuzzed` is checked once after all of a test's examples, on purpose
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
# Above uvicorn's frame limit (ws_max_size, 16 MiB): refused by the protocol layer, with 1009.
OVERSIZED = 17 * 1024 * 1024
ROLE_OF = {token: role for role, token in TOKENS.items()}
ROOM_ROLES = {"technician", "admin", "tablet", "annex-tablet"}


# --- what the server says ----------------------------------------------------------------------------


# uvicorn's websockets-sansio layer decodes text frames itself: on bytes that are not UTF-8 it
# answers 1007, as it should, but logs the client's bytes at ERROR with a traceback. Not an
# exception in the controller's handler; counted apart (see the UTF-8 test), not as a problem.
NOT_UTF8 = ("uvicorn.error", "Invalid UTF-8 sequence received from client.")


class ServerLog(logging.Handler):
    """What the server logs at ERROR or above. uvicorn's loggers do not reach the root logger,
    so the handler sits on both; the test's own socket clients are left out."""

    LOGGERS = ("", "uvicorn")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("websockets.client"):
            self.records.append(record)

    def attach(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)

    def detach(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)

    def problems(self, *, collect: bool = True) -> list[str]:
        if collect:
            gc.collect()  # a task that failed unseen says so when it is collected
        return [self.format(record) for record in self.records if not_utf8(record) is False]

    def not_utf8(self) -> int:
        return sum(1 for record in self.records if not_utf8(record))


def not_utf8(record: logging.LogRecord) -> bool:
    return (record.name, record.getMessage()) == NOT_UTF8


class Watcher:
    """A well-behaved console page: says hello, then only listens (in a thread of its own)."""

    def __init__(self, url: str, token: str) -> None:
        self.socket = open_socket(url)
        self.socket.send(json.dumps({"token": token}))
        self.heard: queue.Queue[dict] = queue.Queue()
        self.ended: str | None = None
        self.thread = threading.Thread(target=self._listen, name="well-behaved page", daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        try:
            for frame in self.socket:
                for message in json.loads(frame):
                    self.heard.put(message)
            self.ended = "closed"
        except ConnectionClosed as closed:
            self.ended = f"closed: {closed}"

    def hears(self, wanted, *, within: float = WITHIN) -> dict:
        """The first message from now on that ``wanted`` accepts; fails after ``within`` s."""
        while True:
            try:
                message = self.heard.get(timeout=within)
            except queue.Empty:
                raise AssertionError(f"the well-behaved page heard nothing wanted within {within:g} s "
                                     f"(its socket: {self.ended or 'open'})") from None
            if wanted(message):
                return message

    def close(self) -> None:
        self.socket.close()
        self.thread.join(WITHIN)


@dataclass
class Venue:
    url: str
    log: ServerLog
    watcher: Watcher
    display_on: bool = False

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://")

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")


@pytest.fixture(scope="module")
def venue(tmp_path_factory):
    served = ServedInThread(hall_yaml(tmp_path_factory.mktemp("ws-fuzz"), mqtt=False, annex_extra=DESK))
    controller = served.start()
    log = ServerLog()
    log.attach()  # after the start: uvicorn sets its loggers up as it starts
    watcher = Watcher(controller.url, TOKENS["technician"])
    watcher.hears(lambda m: m["type"] == "snapshot")
    try:
        yield Venue(controller.url, log, watcher)
    finally:
        watcher.close()
        log.detach()
        served.stop()


@pytest.fixture
def fuzzed(venue):
    """The venue, checked after the test: nothing logged, and the well-behaved page still hears."""
    venue.log.records.clear()
    yield venue
    assert venue.log.problems() == []
    the_watcher_still_hears_the_venue(venue)


def the_watcher_still_hears_the_venue(venue: Venue) -> None:
    """The technician switches the annex display on (or off): the well-behaved page sees it."""
    venue.display_on = not venue.display_on
    answer = httpx.post(f"{venue.url}/api/rooms/annex/devices/display/commands", headers=auth("technician"),
                        json={"type": "power", "on": venue.display_on}, timeout=WITHIN)
    assert answer.status_code == 200, answer.text
    power = "on" if venue.display_on else "off"
    venue.watcher.hears(lambda m: m["type"] == "state" and m["room"] == "annex" and m["device"] == "display"
                        and m["data"].get("power") == power)
    assert venue.watcher.ended is None


# --- talking to it ---------------------------------------------------------------------------------


def open_socket(url: str, path: str = "/api/live", *, origin: str | None = "own", sock=None):
    ws = url.replace("http://", "ws://") + path
    return connect(ws, origin=url if origin == "own" else origin, sock=sock, proxy=None, compression=None,
                   max_size=None, open_timeout=WITHIN, close_timeout=WITHIN, user_agent_header=None)


@dataclass
class Answer:
    messages: list[dict]
    code: int | None  # the close code the server sent; None: the socket is open (welcomed)

    @property
    def kinds(self) -> list[str]:
        return [m.get("type") for m in self.messages]


NO_CLOSE_FRAME = 1006  # what RFC 6455 calls a connection that ended without a close frame


def answer_of(sock, *, welcomed_by: str = "snapshot", framed: bool = True) -> Answer:
    """What the server says until it closes, or until ``welcomed_by`` (the page is in)."""
    messages: list[dict] = []
    try:
        while True:
            frame = json.loads(sock.recv(timeout=WITHIN))
            batch = frame if framed else [frame]
            messages += batch
            if any(m.get("type") == welcomed_by for m in batch):
                sock.close()
                return Answer(messages, None)
    except ConnectionClosed as closed:
        return Answer(messages, closed.rcvd.code if closed.rcvd is not None else NO_CLOSE_FRAME)


def refused_with_reason(answer: Answer, code: int, kind: str = "error") -> bool:
    return (answer.code == code and answer.kinds == [kind]
            and isinstance(answer.messages[0].get("reason"), str) and answer.messages[0]["reason"] != "")


# --- what to send ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
tokens = st.sampled_from(sorted(TOKENS.values())) | st.text(max_size=40) | json_values
rooms = st.lists(st.sampled_from(["hall", "annex", "attic"]) | st.text(max_size=10), max_size=4) | json_values
nearly_hellos = st.fixed_dictionaries({}, optional={"token": tokens, "rooms": rooms, "page": json_values})
frames = st.one_of(
    st.text(max_size=300),                                     # any text
    st.binary(max_size=300),                                   # a binary frame
    json_values.map(json.dumps),                               # JSON of any shape
    nearly_hellos.map(json.dumps),                             # shaped like a hello, or nearly
    st.integers(1_000, 100_000).map(lambda depth: "[" * depth + "]" * depth),     # deeper than any parser goes
    st.integers(HELLO_MAX_CHARS, 4 * HELLO_MAX_CHARS).map(lambda n: json.dumps({"token": "t" * n})),  # too long
)

WELCOMED, REFUSED, DENIED = "welcomed", "refused", "denied"


def expected_answer(frame: str | bytes) -> str:
    """The live socket's rules (controller/live.py), for a page on this machine."""
    if isinstance(frame, bytes) or len(frame) > HELLO_MAX_CHARS:
        return REFUSED
    try:
        hello = json.loads(frame)
    except (ValueError, RecursionError):
        return REFUSED
    if not isinstance(hello, dict):
        return REFUSED
    token, asked = hello.get("token"), hello.get("rooms")
    if token is not None and not isinstance(token, str):
        return REFUSED
    if asked is not None and not (isinstance(asked, list) and all(isinstance(room, str) for room in asked)):
        return REFUSED
    if token and any(0xD800 <= ord(c) <= 0xDFFF for c in token):
        return REFUSED
    if not token:
        return WELCOMED  # an anonymous reader: api.auth.open_reads is "loopback" (the default)
    return WELCOMED if ROLE_OF.get(token) in ROOM_ROLES else DENIED


# --- /api/live -----------------------------------------------------------------------------------------


@FUZZ
@given(frame=frames)
@example(frame=b"\x00\xff")
@example(frame="[" * 5000 + "]" * 5000)
@example(frame='{"token": "\\ud800"}')
@example(frame=json.dumps({"token": TOKENS["kiosk"]}))
@example(frame=json.dumps({"token": TOKENS["tablet"], "rooms": "hall"}))
@example(frame=json.dumps({"token": 12345}))
@example(frame=json.dumps({"token": ""}))
@example(frame="")
def test_a_malformed_hello_is_refused_with_its_reason_and_a_close_code(fuzzed, frame):
    with open_socket(fuzzed.url) as sock:
        sock.send(frame)
        answer = answer_of(sock)
    nothing_logged(fuzzed)
    outcome = expected_answer(frame)
    if outcome == WELCOMED:
        assert answer.code is None and answer.kinds[:2] == ["hello", "snapshot"], answer
    elif outcome == DENIED:
        assert refused_with_reason(answer, 4403, "denied"), answer
    else:
        assert refused_with_reason(answer, 4400), answer


@FUZZ
@given(frame=frames)
@example(frame=json.dumps({"token": TOKENS["technician"]}))  # a second hello is no better
@example(frame=b"")
def test_anything_a_page_sends_after_its_hello_closes_it_with_a_reason(fuzzed, frame):
    with open_socket(fuzzed.url) as sock:
        sock.send(json.dumps({"token": TOKENS["tablet"]}))
        hello, snapshot = json.loads(sock.recv(timeout=WITHIN)), json.loads(sock.recv(timeout=WITHIN))
        assert (hello[0]["type"], snapshot[0]["type"]) == ("hello", "snapshot")
        sock.send(frame)
        answer = answer_of(sock, welcomed_by="never")
    nothing_logged(fuzzed)
    assert answer.code == 4400 and answer.kinds[-1] == "error", answer
    assert set(answer.kinds[:-1]) <= {"state", "status", "scene", "ping"}, answer  # live events may come first


def test_text_that_is_not_utf8_is_refused_by_the_protocol_before_and_after_the_hello(fuzzed):
    with open_socket(fuzzed.url) as sock:
        sock.send(b"\xff\xfe{", text=True)
        assert answer_of(sock).code == 1007  # RFC 6455 §7.4.1: data inconsistent with the message type
    with open_socket(fuzzed.url) as sock:
        sock.send(json.dumps({"token": TOKENS["technician"]}))
        assert answer_of(sock).code is None
    with open_socket(fuzzed.url) as sock:
        sock.send(json.dumps({"token": TOKENS["technician"]}))
        sock.recv(timeout=WITHIN), sock.recv(timeout=WITHIN)
        sock.send(b"\xc3\x28", text=True)
        assert answer_of(sock, welcomed_by="never").code == 1007
    assert fuzzed.log.not_utf8() == 2  # uvicorn's own log line for each (NOT_UTF8); nothing else logged


def test_a_frame_over_the_size_limit_is_refused_and_the_server_carries_on(fuzzed):
    # 1009 (RFC 6455 §7.4.1: message too big) is sent; the server then drops the connection with
    # the rest of the frame unread, and the kernel's reset may overtake the close frame.
    too_big = {1009, NO_CLOSE_FRAME}
    with open_socket(fuzzed.url) as sock:
        with contextlib.suppress(ConnectionClosed):  # closed while it was still sending
            sock.send("x" * OVERSIZED)
        assert answer_of(sock).code in too_big
    with open_socket(fuzzed.url) as sock:
        sock.send(json.dumps({"token": TOKENS["technician"]}))
        sock.recv(timeout=WITHIN), sock.recv(timeout=WITHIN)
        with contextlib.suppress(ConnectionClosed):
            sock.send(b"\x00" * OVERSIZED)
        assert answer_of(sock, welcomed_by="never").code in too_big


own_origin_variants = st.sampled_from(["{own}", "{OWN}", "{own}/", "https://{host}", "ws://{host}", "null",
                                       "http://localhost:{port}", "http://127.0.0.1", "http://evil.example",
                                       "http://{host}.evil.example", "http://evil.example#{host}"])
origins = own_origin_variants | st.from_regex(r"\A[a-z]{1,6}://[a-z0-9.\-]{1,24}(:[0-9]{1,5})?\Z")


@FUZZ
@given(origin=origins)
def test_a_socket_from_another_origin_is_refused_at_the_handshake(fuzzed, origin):
    port = fuzzed.host.rsplit(":", 1)[1]
    origin = origin.format(own=fuzzed.url, OWN=fuzzed.url.upper(), host=fuzzed.host, port=port)
    if origin.lower() == fuzzed.url:
        with open_socket(fuzzed.url, origin=origin) as sock:
            sock.send(json.dumps({"token": TOKENS["technician"]}))
            assert answer_of(sock).code is None
        return
    for path in ("/api/live", "/api/kiosk/live"):
        with pytest.raises(InvalidStatus) as refused:
            open_socket(fuzzed.url, path, origin=origin)
        assert refused.value.response.status_code == 403, (path, origin)


def test_a_page_that_rebound_its_host_name_to_the_controller_gets_no_anonymous_socket(fuzzed):
    """DNS rebinding: evil.example now resolves to the controller, and its page (same origin as
    far as the browser knows) opens the socket without a token. Anonymous reads are for
    callers that address this machine by a loopback name."""
    port = int(fuzzed.host.rsplit(":", 1)[1])
    rebound = f"http://evil.example:{port}"
    with socket.create_connection(("127.0.0.1", port), timeout=WITHIN) as tcp, \
            open_socket(rebound, origin=rebound, sock=tcp) as sock:
        sock.send(json.dumps({}))
        assert refused_with_reason(answer_of(sock), 4403, "denied")
    with socket.create_connection(("127.0.0.1", port), timeout=WITHIN) as tcp, \
            open_socket(rebound, origin=rebound, sock=tcp) as sock:
        sock.send(json.dumps({"token": TOKENS["tablet"]}))  # with a token it is a page like any other
        assert answer_of(sock).code is None


def test_many_sockets_come_and_go_while_the_well_behaved_page_listens(fuzzed):
    """Pages connecting and dropping at once, some before saying anything: the hub's one bus
    subscription stops with the last page and starts again with the next."""
    for round_ in range(20):
        sockets = [open_socket(fuzzed.url) for _ in range(5)]
        for sock in sockets[: round_ % 5]:
            sock.send(json.dumps({"token": TOKENS["tablet"]}))
        for sock in sockets:
            sock.close()
    the_watcher_still_hears_the_venue(fuzzed)


# --- /api/kiosk/live ------------------------------------------------------------------------------------

KIOSK_PAGES = {"kiosk": {"kiosk", "admin"}, "screen": {"kiosk", "admin"}, "staff": {"admin"}}
kiosk_hellos = st.fixed_dictionaries({}, optional={"token": tokens,
                                                   "page": st.sampled_from(sorted(KIOSK_PAGES)) | json_values})
kiosk_frames = frames | kiosk_hellos.map(json.dumps)


def kiosk_welcomes(frame: str | bytes) -> bool:
    try:
        hello = json.loads(frame)
    except (ValueError, RecursionError):
        return False
    if not isinstance(hello, dict) or not isinstance(hello.get("page"), str) or not isinstance(hello.get("token"), str):
        return False
    return ROLE_OF.get(hello["token"]) in KIOSK_PAGES.get(hello["page"], ())


@FUZZ
@given(frame=kiosk_frames)
@example(frame=b"\x00")  # a binary hello
@example(frame="[" * 5000 + "]" * 5000)  # nested deeper than the parser goes
@example(frame=json.dumps({"token": TOKENS["kiosk"], "page": []}))  # a page that is not a name
@example(frame=json.dumps({"token": "\ud800", "page": "kiosk"}))  # a lone surrogate for a token
def test_a_malformed_hello_on_the_desks_socket_is_refused_with_a_close_code(fuzzed, frame):
    the_desks_socket_refuses(fuzzed, frame)


@FUZZ
@given(frame=kiosk_hellos.map(json.dumps))
@example(frame=json.dumps({"token": TOKENS["kiosk"], "page": "kiosk"}))
@example(frame=json.dumps({"token": TOKENS["kiosk"], "page": "staff"}))
@example(frame=json.dumps({"token": TOKENS["technician"], "page": "screen"}))
@example(frame=json.dumps({"token": "nobody", "page": "kiosk"}))
def test_the_desks_socket_takes_desk_tokens_for_their_pages_only(fuzzed, frame):
    the_desks_socket_refuses(fuzzed, frame)


@FUZZ
@given(frame=frames)
@example(frame=b"\x00")
@example(frame=json.dumps({"token": TOKENS["kiosk"], "page": "staff"}))  # a second hello is no better
def test_anything_a_desk_page_sends_after_its_hello_closes_it_with_a_reason(fuzzed, frame):
    with open_socket(fuzzed.url, "/api/kiosk/live") as sock:
        sock.send(json.dumps({"token": TOKENS["kiosk"], "page": "kiosk"}))
        assert json.loads(sock.recv(timeout=WITHIN))["type"] == "hello"
        sock.send(frame)
        answer = answer_of(sock, welcomed_by="never", framed=False)
    nothing_logged(fuzzed)
    assert answer.code == 4400 and answer.kinds[-1] == "error", answer


def the_desks_socket_refuses(venue: Venue, frame: str | bytes) -> None:
    with open_socket(venue.url, "/api/kiosk/live") as sock:
        sock.send(frame)
        answer = answer_of(sock, welcomed_by="hello", framed=False)
    if kiosk_welcomes(frame):
        assert answer.code is None and answer.kinds == ["hello"], answer
    else:
        assert answer.code in (4400, 4403), answer
        assert refused_with_reason(answer, answer.code, "denied" if answer.code == 4403 else "error"), answer
    nothing_logged(venue)


def nothing_logged(venue: Venue) -> None:
    """Per example, so that Hypothesis names the frame that made the server log an error."""
    assert venue.log.problems(collect=False) == []

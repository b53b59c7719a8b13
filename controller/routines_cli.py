"""`roomctl playbook ...`, `roomctl monitor ...`, `roomctl post-meeting ...`.

With --config the routine runs in this process (connecting to the devices itself,
starting simulators for simulated ones) and asks its technician steps at this
terminal; otherwise it asks a running controller over the API and answers the steps
it waits on from this terminal. Without a terminal nobody answers: a playbook step
then escalates at its timeout, a damage check is recorded as not confirmed.

Exit codes: 0 fixed (or no fault found), 1 escalated or not all done, 2 bad config or
request, 3 could not run.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from controller.local import CannotRun, local_controller

EXIT_OK, EXIT_NOT_FIXED, EXIT_CONFIG, EXIT_COULD_NOT_RUN = 0, 1, 2, 3
# Devices must be online before a playbook can judge them; simulated ones take under a second.
CONNECT_WAIT = 15.0
# How often the remote mode asks a controller how its run is going.
REMOTE_POLL = 0.5
HTTP_TIMEOUT = 30.0


def add_routine_commands(commands) -> None:
    playbook = commands.add_parser("playbook", help="fault playbooks (预案): run one, list runs, show a run")
    actions = playbook.add_subparsers(metavar="ACTION")

    run = actions.add_parser("run", help="run a room's playbook for a fault kind")
    run.add_argument("room")
    run.add_argument("kind", help="device-offline, projector-lamp, mic-battery-low, clipping, ...")
    run.add_argument("--device", help="the device with the fault (default: found by roomctl)")
    run.add_argument("--channel", type=int, help="its channel, for mic and mixer faults")
    _where(run)
    run.set_defaults(run=lambda args: asyncio.run(_playbook_run(args)))

    listing = actions.add_parser("list", help="a room's playbook runs, the latest first")
    listing.add_argument("room")
    listing.add_argument("--url", default="http://127.0.0.1:8080", help="a running controller's API")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_playbook_list)

    show = actions.add_parser("show", help="one run, step by step")
    show.add_argument("run_id")
    show.add_argument("--url", default="http://127.0.0.1:8080", help="a running controller's API")
    show.add_argument("--json", action="store_true")
    show.add_argument("--lang", choices=("en", "zh"), default="en")
    show.set_defaults(run=_playbook_show)

    post = commands.add_parser("post-meeting", help="the post-meeting routine: count, check, restore, shut down, sign")
    post.add_argument("room")
    post.add_argument("--technician", required=True, help="who signs the session log")
    _where(post)
    post.set_defaults(run=lambda args: asyncio.run(_post_meeting(args)))

    monitor = commands.add_parser("monitor", help="start or stop a room's monitoring on a running controller")
    monitor.add_argument("action", choices=("start", "stop", "status"))
    monitor.add_argument("room")
    monitor.add_argument("--minutes", type=float, help="meeting length from now (start)")
    monitor.add_argument("--url", default="http://127.0.0.1:8080", help="a running controller's API")
    monitor.add_argument("--token", default=os.environ.get("ROOMCTL_TOKEN"), help="bearer token ($ROOMCTL_TOKEN)")
    monitor.set_defaults(run=_monitor)


def _where(parser) -> None:
    parser.add_argument("--config", type=Path, help="run here against this site config (else ask --url)")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="a running controller's API")
    parser.add_argument("--token", default=os.environ.get("ROOMCTL_TOKEN"), help="bearer token ($ROOMCTL_TOKEN)")
    parser.add_argument("--lang", choices=("en", "zh"), default="en")
    parser.add_argument("--json", action="store_true", help="print the record as JSON")


# --- the terminal as a technician ---------------------------------------------------------


class TerminalAnswers:
    """Reads answers from standard input in a daemon thread (a prompt that times out must not
    keep the process alive waiting for a line), one question at a time."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._lock = asyncio.Lock()
        loop = asyncio.get_running_loop()

        def read() -> None:
            for line in sys.stdin:
                loop.call_soon_threadsafe(self._lines.put_nowait, line)
            loop.call_soon_threadsafe(self._lines.put_nowait, None)

        threading.Thread(target=read, name="terminal answers", daemon=True).start()

    async def ask(self, message: dict[str, str], timeout_s: float) -> bool | None:
        """True done, False not done, None no answer (end of input)."""
        async with self._lock:
            print(f"\n>>> {message[self.lang]}\n    [Enter = done / n = not done] (within {timeout_s:g} s) ",
                  end="", flush=True)
            line = await self._lines.get()
            if line is None:
                self._lines.put_nowait(None)
                return None
            return line.strip().lower() not in ("n", "no", "否")


def _terminal_responder(terminal: TerminalAnswers):
    from controller.prompts import Answer, Reply

    async def respond(prompt) -> Reply | None:
        answer = await terminal.ask(prompt.message, prompt.timeout)
        if answer is None:
            return None
        return Reply(Answer.CONFIRMED if answer else Answer.DECLINED, by=os.environ.get("USER") or "terminal")

    return respond


# --- in this process ------------------------------------------------------------------------


async def _local(args, work) -> int:
    try:
        async with local_controller(args.config, args.room) as controller:
            await _wait_until_known(controller, args.room)  # what stays offline is the playbook's business
            if sys.stdin.isatty():
                controller.prompts.add_responder(_terminal_responder(TerminalAnswers(args.lang)))
            return await work(controller)
    except CannotRun as exc:
        return exc.code


async def _wait_until_known(controller, room_id: str) -> None:
    """Until every device of the room has answered or failed once: none is still connecting."""
    from drivers.status import Status

    devices = list(controller.site.rooms[room_id].devices.values())
    with controller.bus.subscribe() as changes:
        try:
            async with asyncio.timeout(CONNECT_WAIT):
                while any(d.supervisor.status is Status.CONNECTING for d in devices):
                    await changes.get()
        except TimeoutError:
            pass  # still connecting: the playbook judges it as it is


async def _playbook_run(args) -> int:
    if args.config is None:
        return await _remote_playbook(args)

    async def work(controller) -> int:
        from controller.playbooks import PlaybookError

        try:
            run = await controller.playbooks.run(args.room, args.kind, device=args.device, channel=args.channel,
                                                 actor=os.environ.get("USER") or "cli")
        except PlaybookError as exc:
            print(f"roomctl: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        return _print_run(run.model_dump(mode="json"), args)

    return await _local(args, work)


async def _post_meeting(args) -> int:
    if args.config is None:
        return await _remote_post_meeting(args)

    async def work(controller) -> int:
        record = await controller.post_meeting.run(args.room, technician=args.technician,
                                                   actor=os.environ.get("USER") or "cli")
        return _print_post_meeting(record, args)

    return await _local(args, work)


# --- against a running controller -------------------------------------------------------------


def _request(url: str, *, token: str | None = None, body: dict | None = None, method: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                     headers=headers)
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
        return json.load(response)


async def _call(*args, **kwargs):
    return await asyncio.to_thread(_request, *args, **kwargs)


def _http_failure(exc: Exception, url: str) -> int:
    if isinstance(exc, urllib.error.HTTPError):
        print(f"roomctl: {exc.code}: {exc.read().decode(errors='replace')}", file=sys.stderr)
        return EXIT_CONFIG if exc.code in (401, 403, 404, 422) else EXIT_COULD_NOT_RUN
    print(f"roomctl: no controller answers at {url}: {exc}", file=sys.stderr)
    return EXIT_COULD_NOT_RUN


async def _follow_remote(args, start: str, body: dict, *, running: Callable[[dict], bool], poll: Callable[[dict], str],
                         owner_key: str, answer: Callable[[dict, dict, bool], tuple[str, dict]]) -> dict | int:
    """Start a routine on a running controller, answer its steps from this terminal until it ends.

    ``running(state)`` says whether it goes on; ``poll(state)`` is the path to read it
    again; prompts whose ``owner_key`` names it are this routine's; ``answer(state,
    prompt, done)`` gives the path and body that answer one. Returns the last state, or
    an exit code when the controller could not be reached or refused.
    """
    if not args.token:
        print("roomctl: a token is needed: --token or $ROOMCTL_TOKEN", file=sys.stderr)
        return EXIT_CONFIG
    base = args.url.rstrip("/")
    terminal = TerminalAnswers(args.lang) if sys.stdin.isatty() else None
    try:
        state = await _call(f"{base}{start}", token=args.token, body=body)
        asked: set[str] = set()
        while running(state):
            prompts = await _call(f"{base}/api/prompts?room={args.room}") if terminal is not None else []
            fresh = [p for p in prompts if p.get(owner_key) == state["id"] and p["id"] not in asked]
            for prompt in fresh:
                asked.add(prompt["id"])
                done = await terminal.ask(prompt["message"], prompt["timeout_s"])
                if done is None:
                    continue  # end of input: the step times out on the controller
                path, reply = answer(state, prompt, done)
                try:
                    await _call(f"{base}{path}", token=args.token, body=reply)
                except urllib.error.HTTPError as exc:
                    if exc.code != 409:  # 409: the step timed out meanwhile and the routine went on
                        raise
            if not fresh:
                await asyncio.sleep(REMOTE_POLL)
            state = await _call(f"{base}{poll(state)}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _http_failure(exc, args.url)
    return state


async def _remote_playbook(args) -> int:
    body = {k: v for k, v in (("device", args.device), ("channel", args.channel)) if v is not None}
    run = await _follow_remote(
        args, f"/api/rooms/{args.room}/playbooks/{args.kind}", body,
        running=lambda run: run["outcome"] == "running", poll=lambda run: f"/api/playbook-runs/{run['id']}",
        owner_key="run", answer=lambda run, prompt, done: (f"/api/playbook-runs/{run['id']}/confirm", {"done": done}))
    return run if isinstance(run, int) else _print_run(run, args)


async def _remote_post_meeting(args) -> int:
    record = await _follow_remote(
        args, f"/api/rooms/{args.room}/post-meeting", {"technician": args.technician},
        running=lambda record: record["state"] == "running", poll=lambda record: f"/api/post-meeting/{record['id']}",
        owner_key="record", answer=lambda record, prompt, done: (f"/api/prompts/{prompt['id']}", {"confirmed": done}))
    return record if isinstance(record, int) else _print_post_meeting(record, args)


def _playbook_list(args) -> int:
    try:
        runs = _request(f"{args.url.rstrip('/')}/api/playbook-runs?room={args.room}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _http_failure(exc, args.url)
    if args.json:
        print(json.dumps(runs, indent=2, ensure_ascii=False))
        return EXIT_OK
    for run in runs:
        print(f"{run['started_at'][:19]}  {run['id']}  {run['kind']:28} {run['subject']:24} {run['outcome']}")
    return EXIT_OK


def _playbook_show(args) -> int:
    try:
        run = _request(f"{args.url.rstrip('/')}/api/playbook-runs/{args.run_id}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _http_failure(exc, args.url)
    return _print_run(run, args)


def _monitor(args) -> int:
    base = f"{args.url.rstrip('/')}/api/rooms/{args.room}/monitoring"
    try:
        if args.action == "status":
            print(json.dumps(_request(base), indent=2, ensure_ascii=False))
            return EXIT_OK
        if not args.token:
            print("roomctl: a token is needed: --token or $ROOMCTL_TOKEN", file=sys.stderr)
            return EXIT_CONFIG
        body = {"minutes": args.minutes} if args.action == "start" and args.minutes else {}
        print(json.dumps(_request(f"{base}/{args.action}", token=args.token, body=body), indent=2, ensure_ascii=False))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _http_failure(exc, args.url)
    return EXIT_OK


# --- printing -----------------------------------------------------------------------------------


def _print_run(run: dict, args) -> int:
    if getattr(args, "json", False):
        print(json.dumps(run, indent=2, ensure_ascii=False))
    else:
        lang = getattr(args, "lang", "en")
        print(f"{run['title'][lang]} — {run['subject']} ({run['room']}): {run['outcome'].upper()}  [run {run['id']}]")
        for step in run["steps"]:
            detail = f"  — {step['detail']}" if step.get("detail") else ""
            who = f" (by {step['answered_by']})" if step.get("answered_by") else ""
            print(f"  {step['index']:>2}. {step['kind']:8} {step['what'][lang]}: {step['outcome']}{who}{detail}")
        alternate = (run.get("escalation") or {}).get("alternate_room")
        if alternate:
            print(f"  alternate room: {alternate['name'] + ' (' + alternate['room'] + ')' if alternate['room'] else 'none free and ready'}")
    return EXIT_OK if run["outcome"] in ("resolved", "mitigated", "no_fault") else EXIT_NOT_FIXED


def _print_post_meeting(record: dict, args) -> int:
    if getattr(args, "json", False):
        print(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        steps = record.get("steps", {})
        inventory = steps.get("inventory", {})
        print(f"post-meeting {record['room_name']}: {record['state']}  [{record['id']}]")
        print(f"  inventory: {inventory.get('state')}"
              + (f"; missing: {', '.join(inventory['missing'])}" if inventory.get("missing") else "")
              + (f"; not switched off: {', '.join(inventory['not_switched_off'])}"
                 if inventory.get("not_switched_off") else ""))
        checks = steps.get("damage_checks", {})
        for check in checks.get("mics", []):
            print(f"  damage check {check['mic']}: {check['result']}" + (f" ({check['note']})" if check["note"] else ""))
        for name in ("baseline", "shutdown"):
            print(f"  {name}: {steps.get(name, {}).get('state')}")
        log = steps.get("session_log", {})
        print(f"  session log: {log.get('state')}" + (f" by {log['signed_by']} at {log['signed_at']}, sha256 "
                                                      f"{log['sha256']}" if log.get("state") == "signed" else ""))
    complete = (record.get("state") == "done"
                and record["steps"].get("inventory", {}).get("state") == "complete"
                and record["steps"].get("damage_checks", {}).get("state") == "confirmed")
    return EXIT_OK if complete else EXIT_NOT_FIXED

"""`roomctl selftest`: run a room's self-test with live progress, print the report.

With --config the self-test runs in this process (it connects to the devices itself,
starting simulators for simulated ones); otherwise it asks a running controller.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from controller.local import CannotRun, local_controller
from controller.selftest import (EXIT_CONFIG, EXIT_COULD_NOT_RUN, EXIT_NOT_READY, EXIT_READY, SelfTestReport,
                                 render_html, render_text)

# Devices must be online before they can be judged; simulated ones take under a second.
CONNECT_WAIT = 15.0
BAR_WIDTH = 24


def add_selftest_command(commands) -> None:
    parser = commands.add_parser("selftest", help="run a room's pre-meeting self-test")
    parser.add_argument("room")
    parser.add_argument("--config", type=Path, help="run here against this site config (else ask --url)")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="a running controller's API")
    parser.add_argument("--token", default=os.environ.get("ROOMCTL_TOKEN"), help="bearer token ($ROOMCTL_TOKEN)")
    parser.add_argument("--duration", type=float, help="meeting length in minutes (batteries must last it)")
    parser.add_argument("--lang", choices=("en", "zh"), default="en")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--html", type=Path, help="also write the report as a self-contained HTML page")
    parser.add_argument("--history", action="store_true", help="list past reports instead of running one")
    parser.set_defaults(run=lambda args: asyncio.run(_selftest(args)))


async def _selftest(args) -> int:
    if args.config is not None:
        return await _here(args)
    return _remote(args)


async def _here(args) -> int:
    try:
        async with local_controller(args.config, args.room) as controller:
            if args.history:
                _print_history(await controller.store.selftests(room=args.room), args)
                return EXIT_READY
            await controller.wait_until_online(CONNECT_WAIT)  # what stays offline fails its own check
            planned = len(controller.selftest.plan(args.room))
            progress = asyncio.create_task(_show_progress(controller, args.room, planned))
            at_terminal = sys.stdin.isatty()
            report = await controller.selftest.run(args.room, meeting_minutes=args.duration, attended=at_terminal,
                                                   prompt=_terminal_prompt(args.lang) if at_terminal else None)
            progress.cancel()
            return _print_report(report, args)
    except CannotRun as exc:
        return exc.code


def _remote(args) -> int:
    base = f"{args.url.rstrip('/')}/api/rooms/{args.room}"
    try:
        if args.history:
            with urllib.request.urlopen(f"{base}/selftests", timeout=30) as response:
                _print_history(json.load(response), args)
            return EXIT_READY
        if not args.token:
            print("roomctl: a token is needed: --token or $ROOMCTL_TOKEN", file=sys.stderr)
            return EXIT_CONFIG
        body = json.dumps({"meeting_minutes": args.duration}).encode()
        request = urllib.request.Request(f"{base}/selftest", data=body, method="POST",
                                         headers={"Authorization": f"Bearer {args.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=900) as response:
            report = SelfTestReport.model_validate(json.load(response))
    except urllib.error.HTTPError as exc:
        print(f"roomctl: {exc.code}: {exc.read().decode(errors='replace')}", file=sys.stderr)
        return EXIT_CONFIG if exc.code in (401, 404, 422) else EXIT_COULD_NOT_RUN
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"roomctl: no controller answers at {args.url}: {exc}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    return _print_report(report, args)


def _print_report(report: SelfTestReport, args) -> int:
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(render_text(report, args.lang))
    if args.html is not None:
        args.html.write_text(render_html(report, args.lang), encoding="utf-8")
        print(f"report: {args.html}", file=sys.stderr)
    return EXIT_READY if report.ready else EXIT_NOT_READY


def _print_history(reports: list[dict], args) -> None:
    if args.json:
        print(json.dumps(reports, indent=2))
        return
    for report in reports:
        counts = {}
        for result in report["results"]:
            counts[result["verdict"]] = counts.get(result["verdict"], 0) + 1
        summary = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items()))
        print(f"{report['started_at'][:19]}  {report['id']}  {'ready' if report['ready'] else 'NOT READY':9}  {summary}")


async def _show_progress(controller, room: str, planned: int) -> None:
    """A line per judged check and a bar, on stderr, so stdout stays the report."""
    done = 0
    with controller.bus.subscribe() as events:
        while True:
            event = await events.get()
            if event.kind != "selftest" or event.room != room or event.data.get("event") != "check":
                continue
            done += 1
            filled = BAR_WIDTH * done // max(planned, 1)
            print(f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done}/{planned}  "
                  f"{event.device}: {event.data['check']} {event.data['verdict']}", file=sys.stderr, flush=True)


def _terminal_prompt(lang: str):
    async def ask(request) -> bool:
        """Ask on the terminal; Enter confirms, 'n' declines."""
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(None, lambda: input(f"{request.message[lang]} [Enter = yes / n] "))
        return answer.strip().lower() not in ("n", "no", "否")

    return ask

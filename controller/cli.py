"""`roomctl`: the demo, the controller, status, config checks and simulators."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from controller.config import ConfigError, json_schema, load_config
from controller.loop import install as install_loop
from controller.tables import render_status

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
# Simulated devices come up in well under a second; real ones may need a few.
DEMO_CHECK_TIMEOUT = 20.0
SCENE_CALL_TIMEOUT = 600.0

EXIT_OK, EXIT_NOT_READY, EXIT_CONFIG = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_CONFIG
    install_loop()
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roomctl", description="On-site controller of a meeting venue.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what drivers and supervisors do")
    commands = parser.add_subparsers(metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the demo venue on simulators")
    demo.add_argument("--config", type=Path, default=DEMO_CONFIG, help="site config (default: the demo venue)")
    demo.add_argument("--check", action="store_true", help="wait until every device is online, print the table, exit")
    demo.add_argument("--timeout", type=float, default=DEMO_CHECK_TIMEOUT, help="seconds --check waits")
    demo.add_argument("--port", type=int, help="API port (default: the config's; --check uses a free one)")
    demo.set_defaults(run=lambda a: asyncio.run(_demo(a)))

    serve = commands.add_parser("serve", help="run the controller for a site config")
    serve.add_argument("config", type=Path)
    serve.add_argument("--port", type=int, help="API port (default: the config's)")
    serve.set_defaults(run=lambda a: asyncio.run(_serve(a)))

    status = commands.add_parser("status", help="the device table of a running controller")
    status.add_argument("--url", default="http://127.0.0.1:8080", help="the controller's API")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=_status)

    scene = commands.add_parser("scene", help="recall a room's scene on a running controller")
    scene.add_argument("room")
    scene.add_argument("scene")
    scene.add_argument("--url", default="http://127.0.0.1:8080", help="the controller's API")
    scene.add_argument("--token", default=os.environ.get("ROOMCTL_TOKEN"),
                       help="bearer token (default: $ROOMCTL_TOKEN)")
    scene.add_argument("--json", action="store_true")
    scene.set_defaults(run=_scene)

    from controller.selftest_cli import add_selftest_command

    add_selftest_command(commands)

    from controller.archive_cli import add_archive_commands  # `roomctl archive list|show|export|add-maintenance`
    from controller.schedule_cli import add_schedule_command  # `roomctl schedule`: the day's timeline

    add_schedule_command(commands)
    add_archive_commands(commands)

    from controller.routines_cli import add_routine_commands  # `roomctl playbook|post-meeting|monitor ...`

    add_routine_commands(commands)

    config = commands.add_parser("config", help="check a config or print its schema")
    config_commands = config.add_subparsers(metavar="ACTION")
    check = config_commands.add_parser("check", help="report every error with its place; exit 2 if any")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_config_check)
    schema = config_commands.add_parser("schema", help="print the JSON Schema of site configs")
    schema.set_defaults(run=lambda a: print(json.dumps(json_schema(), indent=2)) or EXIT_OK)

    from kiosk.cli import add_kiosk_commands  # `roomctl kiosk ...`: the check-in desks' commands

    add_kiosk_commands(commands)

    sim = commands.add_parser("sim", help="run one device simulator")
    _add_simulator_commands(sim.add_subparsers(metavar="PROTOCOL"))
    return parser


# --- demo and serve -------------------------------------------------------------------


async def _demo(args) -> int:
    config = _load_or_report(args.config)
    if config is None:
        return EXIT_CONFIG
    with tempfile.TemporaryDirectory(prefix="roomctl-demo-") as scratch:
        updates = {}
        if args.check:
            # A check must not collide with a running demo: its own port and store.
            updates = {"api": config.api.model_copy(update={"port": 0}), "store": str(Path(scratch) / "check.sqlite3")}
        if args.port is not None:
            updates["api"] = config.api.model_copy(update={"port": args.port})
        config = config.model_copy(update=updates)
        return await _run_controller(config, check=args.check, check_timeout=args.timeout)


async def _serve(args) -> int:
    config = _load_or_report(args.config)
    if config is None:
        return EXIT_CONFIG
    if args.port is not None:
        config = config.model_copy(update={"api": config.api.model_copy(update={"port": args.port})})
    return await _run_controller(config, check=False)


async def _run_controller(config, *, check: bool, check_timeout: float = DEMO_CHECK_TIMEOUT) -> int:
    from controller.app import Controller  # the heavy imports only for commands that need them

    controller = Controller(config)
    try:
        await controller.start()
    except OSError as exc:
        print(f"roomctl: cannot start: {exc}", file=sys.stderr)
        await controller.stop()
        return 3
    try:
        print(f"roomctl {config.site}: API at {controller.url}  (docs: {controller.url}/docs)", flush=True)
        print(f"  technician console: {controller.url}/console", flush=True)
        for room in config.rooms:
            print(f"  tablet, {room.name or room.id}: {controller.url}/tablet/{room.id}", flush=True)
        if check:
            missing = await controller.wait_until_online(check_timeout)
            print(render_status(controller.site), flush=True)
            if missing:
                print("not online after {:g} s:".format(check_timeout), file=sys.stderr)
                for line in missing:
                    print(f"  {line}", file=sys.stderr)
                return EXIT_NOT_READY
            print("every device is online", flush=True)
            return EXIT_OK
        await _run_until_stopped(controller)
        return EXIT_OK
    finally:
        await controller.stop()


async def _run_until_stopped(controller) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    with controller.bus.subscribe() as changes:
        print(render_status(controller.site), flush=True)
        while not stop.is_set():
            getter = asyncio.ensure_future(changes.get())
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            getter.cancel()
            stopper.cancel()
            if stop.is_set():
                break
            if getter in done and getter.result().kind == "status":
                await asyncio.sleep(0.3)  # let a burst of changes settle into one table
                while not changes.queue.empty():
                    changes.queue.get_nowait()
                print(render_status(controller.site), flush=True)
    print("stopping", flush=True)


def _load_or_report(path: Path):
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return None


def _config_check(args) -> int:
    config = _load_or_report(args.file)
    if config is None:
        return EXIT_CONFIG
    devices = sum(len(r.devices) for r in config.rooms)
    print(f"{args.file}: ok — site {config.site}, {len(config.rooms)} rooms, {devices} devices")
    return EXIT_OK


def _status(args) -> int:
    url = args.url.rstrip("/")
    try:
        rooms = []
        for room in _get_json(f"{url}/api/rooms"):
            rooms.append(_get_json(f"{url}/api/rooms/{room['id']}"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"roomctl: no controller answers at {url}: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(rooms, indent=2))
    else:
        from controller.tables import render_rooms

        print(render_rooms(rooms))
    return EXIT_OK


def _scene(args) -> int:
    if not args.token:
        print("roomctl: a token is needed: --token or $ROOMCTL_TOKEN", file=sys.stderr)
        return EXIT_CONFIG
    url = f"{args.url.rstrip('/')}/api/rooms/{args.room}/scenes/{args.scene}"
    request = urllib.request.Request(url, method="POST", headers={"Authorization": f"Bearer {args.token}"})
    try:
        # A scene may wait for projectors to warm up: allow it minutes, not seconds.
        with urllib.request.urlopen(request, timeout=SCENE_CALL_TIMEOUT) as response:
            result = json.load(response)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        print(f"roomctl: {exc.code}: {body}", file=sys.stderr)
        return EXIT_CONFIG if exc.code in (401, 404) else 3
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"roomctl: no controller answers at {args.url}: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['room']} / {result['scene']}: {'ok' if result['ok'] else 'FAILED'} "
              f"in {result['duration_ms'] / 1000:.2f} s" + (" (cancelled by a newer recall)" if result["cancelled"] else ""))
        for step in result["steps"]:
            mark = "ok " if step["ok"] else "ERR"
            device = f"{step['device']}: " if step["device"] else ""
            error = f"  — {step['error']}: {step['detail']}" if step["error"] else ""
            print(f"  {mark} {step['step']:>5}  {device}{step['what']}  ({step['duration_ms']:.0f} ms){error}")
        for playbook in result.get("playbooks_requested", []):
            print(f"  playbook requested: {playbook}")
    return EXIT_OK if result["ok"] else EXIT_NOT_READY


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


# --- simulators -------------------------------------------------------------------------


def _add_simulator_commands(subparsers) -> None:
    from simulators.base import simulators

    site = subparsers.add_parser("site", help="every simulator of a site config, in one process")
    site.add_argument("config", type=Path)
    site.set_defaults(run=lambda a: asyncio.run(_sim_site(a)))
    for protocol, sim_class in sorted(simulators().items()):
        sub = subparsers.add_parser(protocol, help=sim_class.description or f"{protocol} simulator")
        if sim_class.endpoint_kind() == "tcp":
            sub.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
            sub.add_argument("--port", type=int, default=0, help="port (default: a free one)")
        sub.add_argument("--fault", action="append", default=[], help="start with this fault injected")
        sim_class.add_arguments(sub)
        sub.set_defaults(run=lambda a, cls=sim_class: asyncio.run(_sim(cls, a)))


async def _sim(sim_class, args) -> int:
    from simulators.runner import run_standalone

    options = {k: v for k, v in vars(args).items() if k not in ("run", "verbose", "fault") and v is not None}
    await run_standalone(sim_class.from_options(options), faults=args.fault)
    return EXIT_OK


async def _sim_site(args) -> int:
    """Run the simulators of every device in a site config and say where each listens.

    MQTT devices need a broker: the config's (``mqtt: host``), or an embedded one started
    here on ``mqtt.embedded_port`` (a free port when 0) — point a controller at it with
    ``mqtt: {host: 127.0.0.1, port: P}``. Control lines on standard input:
    ``ROOM/DEVICE inject FAULT [key=value...]``, ``ROOM/DEVICE clear [FAULT]``, and
    ``broker restart`` (the embedded broker only).
    """
    from controller.app import broker_settings
    from controller.clock import Clock
    from controller.mqtt_broker import EmbeddedBroker
    from controller.simulation import start_simulators
    from simulators.runner import apply_control_line

    config = _load_or_report(args.config)
    if config is None:
        return EXIT_CONFIG
    clock = Clock(config.clock.speed)
    broker = endpoint = None
    if config.uses_mqtt():
        if not config.mqtt.external:
            broker = EmbeddedBroker(config.mqtt.embedded_port)
            await broker.start()
            print(f"mqtt broker listening {broker.address}", flush=True)
        settings = broker_settings(config, broker)
        endpoint = {"host": settings.host, "port": settings.port, "username": settings.username,
                    "password": settings.password}
    placed: dict = {}
    try:
        _, started = await start_simulators(config, clock, broker=endpoint, every_device=True, placed=placed)
    except (OSError, ValueError) as exc:
        print(f"roomctl: cannot start the simulators: {exc}", file=sys.stderr)
        if broker is not None:
            await broker.stop()
        return 3
    for where, sim in placed.items():
        driver = config.room(where.split("/")[0]).devices
        driver = next(d.driver for d in driver if d.id == where.split("/")[1])
        print(f"{where} {driver} listening {sim.address}", flush=True)
    print("ready", flush=True)

    async def control(line: str) -> str:
        words = line.split()
        if words[:2] == ["broker", "restart"]:
            if broker is None:
                return "error: no embedded broker here to restart"
            await broker.restart()
            return f"broker restarted on {broker.address}"
        if len(words) < 2 or words[0] not in placed:
            return "error: `ROOM/DEVICE inject FAULT [k=v...]`, `ROOM/DEVICE clear [FAULT]` or `broker restart`"
        sim = placed[words[0]]
        rest = " ".join(words[1:])
        if getattr(sim, "transport", "") == "mqtt":  # one simulator serves many devices: name which
            device_name = _simulated_name(config, words[0])
            rest += f" device={device_name}"
        return apply_control_line(sim, rest)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reader_task = asyncio.create_task(_read_site_control(control))
    try:
        await stop.wait()
    finally:
        reader_task.cancel()
        for sim in started:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sim.stop(), 3.0)
        if broker is not None:
            await broker.stop()
    return EXIT_OK


def _simulated_name(config, where: str) -> str:
    """The name a shared MQTT simulator knows a device by: its friendly name or topic."""
    room_id, device_id = where.split("/", 1)
    device = next(d for d in config.room(room_id).devices if d.id == device_id)
    return device.options.get("friendly_name") or device.options.get("topic") or device_id


async def _read_site_control(control) -> None:
    import os
    import stat

    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or sys.stdin.isatty()):
        return  # a file or /dev/null: nothing to watch (epoll cannot watch regular files)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (OSError, ValueError):
        return  # no stdin to watch
    while line := await reader.readline():
        if reply := await control(line.decode(errors="replace")):
            print(reply, flush=True)


if __name__ == "__main__":
    sys.exit(main())

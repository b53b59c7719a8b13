"""`roomctl`: the demo, the controller, status, config checks and simulators."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from controller.config import ConfigError, json_schema, load_config
from controller.tables import render_status

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
# Simulated devices come up in well under a second; real ones may need a few.
DEMO_CHECK_TIMEOUT = 20.0

EXIT_OK, EXIT_NOT_READY, EXIT_CONFIG = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_CONFIG
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

    config = commands.add_parser("config", help="check a config or print its schema")
    config_commands = config.add_subparsers(metavar="ACTION")
    check = config_commands.add_parser("check", help="report every error with its place; exit 2 if any")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_config_check)
    schema = config_commands.add_parser("schema", help="print the JSON Schema of site configs")
    schema.set_defaults(run=lambda a: print(json.dumps(json_schema(), indent=2)) or EXIT_OK)

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


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


# --- simulators -------------------------------------------------------------------------


def _add_simulator_commands(subparsers) -> None:
    from simulators.base import simulators

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


if __name__ == "__main__":
    sys.exit(main())

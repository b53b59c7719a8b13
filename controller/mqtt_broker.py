"""The embedded MQTT broker: amqtt, in the controller's own event loop.

Started when a site has MQTT devices (or asks for the fleet topics) and names no
broker of its own, so the demo and a laptop need nothing else. It binds 127.0.0.1
only — an embedded broker is for this machine; a venue that wants its MQTT surface
on the network runs a real broker (Mosquitto, a cluster) and names it in the config.

amqtt keeps retained messages in memory: a restart of the controller loses them, and
the devices' own retained availability comes back when they reconnect (Zigbee2MQTT
and Tasmota both publish theirs again on every connect).

``python -m controller.mqtt_broker [--port P]`` runs it alone (benchmarks use that),
printing ``listening 127.0.0.1:P`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import time

from amqtt.broker import Broker

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# How long a port just freed may still refuse a new listener (TIME_WAIT, a slow close).
REBIND_TIMEOUT = 5.0

# amqtt logs every packet at INFO and its own races (a PUBACK twice, a message to a client
# that just left) at WARNING; the controller logs what matters (connections) itself.
for _noisy in ("amqtt", "transitions"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)


def broker_config(port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{HOST}:{port}"}},
        # Only the plugins we want: anonymous clients on loopback, no $SYS chatter, no packet logging.
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


class _SubscriptionTable(dict):
    """Iterates over a snapshot of its keys.

    amqtt 0.12.1 walks its subscription table on every client connect with an ``await``
    inside the loop; a subscription arriving meanwhile from another client changed the
    dict under it ("dictionary changed size during iteration") and dropped the
    connecting client. Iterating a snapshot is what that loop needs.
    """

    def __iter__(self):
        return iter(list(super().keys()))


class _Broker(Broker):
    """amqtt's broker with two upstream defects worked around (both seen with 0.12.1)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._subscriptions = _SubscriptionTable()

    async def _publish_retained_messages_for_subscription(self, subscription, session) -> None:
        # On connect, amqtt sends a client the retained messages of every filter that *any*
        # client holds. MQTT 3.1.1 §3.3.1.3 sends retained messages for the client's own new
        # subscriptions only: skip filters this session does not hold.
        holders = self._subscriptions.get(subscription[0], ())
        if not any(holder.client_id == session.client_id for holder, _ in holders):
            return
        await super()._publish_retained_messages_for_subscription(subscription, session)


class EmbeddedBroker:
    def __init__(self, port: int = 0) -> None:
        self.requested_port = port
        self.port: int | None = None
        self._broker: Broker | None = None

    @property
    def host(self) -> str:
        return HOST

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._broker is not None

    async def start(self) -> None:
        """Listen on the configured port, or a free one; keep that port across restarts."""
        port = self.port if self.port is not None else self.requested_port
        deadline = time.monotonic() + REBIND_TIMEOUT
        while True:
            broker = _Broker(broker_config(port))
            try:
                await broker.start()
                break
            except Exception as exc:  # amqtt wraps the OSError of a taken port in BrokerError
                if port == 0 or time.monotonic() > deadline:
                    raise OSError(f"the embedded MQTT broker cannot listen on {HOST}:{port}: {exc}") from exc
                await asyncio.sleep(0.1)  # the old listener of a restart is still closing
        self._broker = broker
        sockets = broker._servers["default"].instance.sockets  # amqtt has no public accessor for the bound port
        self.port = sockets[0].getsockname()[1]
        log.info("embedded MQTT broker listening on %s", self.address)

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is None:
            return
        # Stop accepting first: amqtt's shutdown drops the sessions before it closes its
        # listeners, and clients reconnecting in between would live on in a stopped broker.
        for server in broker._servers.values():
            server.instance.close()
        # Then drop every client's connection ourselves: amqtt's shutdown waits for each
        # session's reader to stop, which (seen on uvloop) can wait out the timeout below
        # and leave clients connected to a broker that is gone.
        for _session, handler in list(broker._sessions.values()):
            writer = getattr(getattr(handler, "writer", None), "_writer", None)
            if writer is not None:
                writer.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(broker.shutdown(), 5.0)
        for server in broker._servers.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.instance.wait_closed(), 1.0)

    async def restart(self) -> None:
        """Stop and start on the same port: every client is dropped, retained messages are lost."""
        await self.stop()
        await self.start()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


async def _main(port: int) -> None:
    broker = EmbeddedBroker(port)
    await broker.start()
    print(f"listening {broker.address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await broker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="roomctl's embedded MQTT broker, alone")
    parser.add_argument("--port", type=int, default=0)
    from controller.loop import install

    install()
    asyncio.run(_main(parser.parse_args().port))

"""MQTT on paho-mqtt 2.x (v2 callback API), bridged to asyncio.

One ``MqttConnection`` per broker is shared by every device on it: a building's fifty
lights are fifty subscriptions on one TCP connection, not fifty connections. Each
device sees the broker through its own ``MqttTransport`` (the ``MessageTransport``
interface): it subscribes to its topics, reads the messages routed to it, publishes.

paho's network loop runs in its own thread (``loop_start``) and does the blocking
work there: connect, read, write, keep-alive pings, reconnect with backoff. Its
callbacks never touch asyncio objects directly; they hand each event to the event
loop with ``call_soon_threadsafe``. Nothing here blocks the event loop.

Rules from the MQTT specification that this module keeps:
- subscriptions are restored on every (re)connect — the broker may have restarted and
  forgotten them (clean session) — and the broker then sends the retained messages
  again, which devices take as last-known state;
- retained messages are flagged as such (``Message.retained``) so a driver can tell
  "last known" from "just happened";
- the controller's own availability is a last will: the broker announces ``offline``
  for it when the connection dies without a goodbye.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import paho.mqtt.client as paho

from drivers.errors import AuthFailed, DeviceUnreachable
from drivers.transports.base import Message, MessageTransport

log = logging.getLogger(__name__)

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883
# The broker sits on the venue LAN or this machine: it accepts at once or not at all.
CONNECT_TIMEOUT = 5.0
# Keep-alive: a dead broker (or a dead path to it) is noticed within 1.5× this.
KEEPALIVE = 15
# Reconnect backoff, as the device supervisor's: start fast, never wait more than 3 s.
RECONNECT_MIN_DELAY = 0.25
RECONNECT_MAX_DELAY = 3.0
# A subscription the broker has not acknowledged in this time is lost with the connection.
SUBSCRIBE_TIMEOUT = 5.0
# Messages queued for one device that nobody reads: more means its reader is stuck.
INBOX_LIMIT = 1000

# Why a CONNACK refused us, by reason: these will not fix themselves by retrying.
_REFUSED_CREDENTIALS = {"Bad user name or password", "Not authorized"}


@dataclass(frozen=True)
class BrokerSettings:
    """Where the broker is and how to log in."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None  # None with tls: the system's trusted CAs
    client_id: str = ""  # empty: the broker's random id
    keepalive: int = KEEPALIVE
    # The controller's availability: a retained `online` on connect, `offline` as last will.
    availability_topic: str | None = None

    @property
    def address(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass
class ConnectionStats:
    connects: int = 0
    disconnects: int = 0
    messages_in: int = 0
    messages_out: int = 0
    last_error: str | None = None


_Handler = Callable[[Message], None]


@dataclass(eq=False)
class _Route:
    topic_filter: str
    handler: _Handler


@dataclass
class _Subscription:
    routes: list[_Route] = field(default_factory=list)
    acked: asyncio.Event = field(default_factory=asyncio.Event)


class MqttConnection:
    """One client connection to a broker, shared by every device that uses the broker."""

    def __init__(self, settings: BrokerSettings, *, qos: int = 1) -> None:
        self.settings = settings
        self.qos = qos
        self.stats = ConnectionStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None
        self._connected = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self._refused: Exception | None = None
        self._subscriptions: dict[str, _Subscription] = {}
        self._exact: dict[str, list[_Route]] = collections.defaultdict(list)
        self._wildcards: list[_Route] = []
        self._pending_subacks: dict[int, list[str]] = {}
        self._last: dict[str, Message] = {}  # the last message on each exact topic we route
        self._listeners: list[Callable[[bool], None]] = []
        self._lock = threading.Lock()  # paho's callbacks read the subscription list from its thread
        self._stopping = False

    # --- lifecycle ----------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.settings.address

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        """Start connecting in the background; paho keeps reconnecting until ``stop``."""
        if self._client is not None:
            return
        self._loop = asyncio.get_running_loop()
        s = self.settings
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=s.client_id, clean_session=True)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            context = ssl.create_default_context(cafile=s.ca_file)
            client.tls_set_context(context)
        if s.availability_topic:
            client.will_set(s.availability_topic, b"offline", qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)
        client.on_connect = self._paho_connected
        client.on_disconnect = self._paho_disconnected
        client.on_message = self._paho_message
        client.on_subscribe = self._paho_subscribed
        client.suppress_exceptions = True  # a bug in a callback must not stop the network thread
        self._client = client
        # connect_async resolves and connects in paho's thread, never on the event loop.
        client.connect_async(s.host, s.port, keepalive=s.keepalive)
        client.loop_start()

    async def wait_connected(self, timeout: float = CONNECT_TIMEOUT) -> None:
        if self._refused is not None:
            raise self._refused
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except asyncio.TimeoutError:
            reason = self.stats.last_error or "no answer"
            raise DeviceUnreachable(f"no MQTT broker at {self.address} within {timeout:g} s ({reason})") from None
        if self._refused is not None:
            raise self._refused

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._stopping = True
        if self.connected and self.settings.availability_topic:
            # A goodbye, so the broker does not publish the last will for a clean exit.
            info = client.publish(self.settings.availability_topic, b"offline", qos=1, retain=True)
            await asyncio.to_thread(info.wait_for_publish, 1.0)
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        self._set_connected(False)

    def add_connection_listener(self, listener: Callable[[bool], None]) -> None:
        self._listeners.append(listener)

    def remove_connection_listener(self, listener: Callable[[bool], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # --- routes: who gets which messages ------------------------------------------

    async def subscribe(self, topic_filter: str, handler: _Handler, *, timeout: float = SUBSCRIBE_TIMEOUT) -> _Route:
        """Route messages matching ``topic_filter`` to ``handler``; wait for the broker's SUBACK.

        Fails (DeviceUnreachable) if the broker does not acknowledge within ``timeout`` or
        the connection drops meanwhile; the route is then removed.
        """
        route = _Route(topic_filter, handler)
        wildcard = "+" in topic_filter or "#" in topic_filter
        with self._lock:
            subscription = self._subscriptions.get(topic_filter)
            new = subscription is None
            if new:
                subscription = self._subscriptions[topic_filter] = _Subscription()
            subscription.routes.append(route)
            (self._wildcards.append(route) if wildcard else self._exact[topic_filter].append(route))
        if new and self.connected:
            self._send_subscribe([topic_filter])
        acked = asyncio.ensure_future(subscription.acked.wait())
        lost = asyncio.ensure_future(self._disconnected.wait())
        try:
            await asyncio.wait({acked, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            acked.cancel()
            lost.cancel()
        if not subscription.acked.is_set():
            self.unsubscribe(route)
            raise DeviceUnreachable(f"{self.address} did not acknowledge the subscription to {topic_filter}")
        if not new and (last := self._last.get(topic_filter)) is not None:
            # A newcomer on a filter we already hold: the broker sent its retained message to
            # the first subscriber only (brokers differ on re-subscribing), so hand over the
            # last message seen there, as last-known state.
            self._loop.call_soon(route.handler, Message(last.topic, last.payload, retained=True))
        return route

    def unsubscribe(self, route: _Route) -> None:
        with self._lock:
            subscription = self._subscriptions.get(route.topic_filter)
            if subscription is None or route not in subscription.routes:
                return
            subscription.routes.remove(route)
            if route in self._wildcards:
                self._wildcards.remove(route)
            else:
                routes = self._exact.get(route.topic_filter, [])
                if route in routes:
                    routes.remove(route)
                if not routes:
                    self._exact.pop(route.topic_filter, None)
                    self._last.pop(route.topic_filter, None)
            last = not subscription.routes
            if last:
                del self._subscriptions[route.topic_filter]
        if last and self._client is not None and self.connected:
            self._client.unsubscribe(route.topic_filter)

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int | None = None, retain: bool = False) -> None:
        """Queue a message for the broker; paho's thread sends it (and, QoS 1, resends it)."""
        if self._client is None:
            raise DeviceUnreachable(f"{self.address}: not started")
        if not self.connected:
            raise DeviceUnreachable(f"{self.address}: not connected to the broker")
        info = self._client.publish(topic, payload, qos=self.qos if qos is None else qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_QUEUE_SIZE):
            raise DeviceUnreachable(f"{self.address}: publish failed ({paho.error_string(info.rc)})")
        self.stats.messages_out += 1

    # --- paho's thread → event loop ----------------------------------------------

    def _send_subscribe(self, filters: list[str]) -> None:
        client = self._client
        if client is None or not filters:
            return
        result, mid = client.subscribe([(f, self.qos) for f in filters])
        if result == paho.MQTT_ERR_SUCCESS:
            self._pending_subacks[mid] = list(filters)

    def _paho_connected(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._loop.call_soon_threadsafe(self._on_refused, str(reason_code))
            return
        self._loop.call_soon_threadsafe(self._on_connected)

    def _paho_disconnected(self, client, userdata, flags, reason_code, properties) -> None:
        self._loop.call_soon_threadsafe(self._on_disconnected, str(reason_code))

    def _paho_message(self, client, userdata, message: paho.MQTTMessage) -> None:
        # Runs in paho's thread: build the immutable Message here, dispatch on the loop.
        self._loop.call_soon_threadsafe(self._dispatch, Message(message.topic, message.payload, bool(message.retain)))

    def _paho_subscribed(self, client, userdata, mid, reason_codes, properties) -> None:
        self._loop.call_soon_threadsafe(self._on_subscribed, mid)

    # --- on the event loop --------------------------------------------------------

    def _on_connected(self) -> None:
        self.stats.connects += 1
        self._refused = None
        self.stats.last_error = None
        log.info("MQTT connected to %s", self.address)
        if self.settings.availability_topic and self._client is not None:
            self._client.publish(self.settings.availability_topic, b"online", qos=1, retain=True)
        for subscription in self._subscriptions.values():
            subscription.acked.clear()
        # Restore every subscription: after a broker restart it knows none of them.
        self._send_subscribe(list(self._subscriptions))
        self._set_connected(True)

    def _on_refused(self, reason: str) -> None:
        self.stats.last_error = f"refused: {reason}"
        log.warning("MQTT broker %s refused the connection: %s", self.address, reason)
        if reason in _REFUSED_CREDENTIALS:
            self._refused = AuthFailed(f"MQTT broker {self.address} refused the login: {reason}")

    def _on_disconnected(self, reason: str) -> None:
        if self.connected and not self._stopping:
            self.stats.disconnects += 1
            log.warning("MQTT connection to %s lost: %s", self.address, reason)
        self.stats.last_error = reason
        self._set_connected(False)

    def _on_subscribed(self, mid: int) -> None:
        for topic_filter in self._pending_subacks.pop(mid, []):
            subscription = self._subscriptions.get(topic_filter)
            if subscription is not None:
                subscription.acked.set()

    def _set_connected(self, connected: bool) -> None:
        if connected == self.connected:
            return
        (self._connected.set if connected else self._connected.clear)()
        (self._disconnected.clear if connected else self._disconnected.set)()
        for listener in list(self._listeners):
            try:
                listener(connected)
            except Exception:  # one device's bug must not keep the news from the others
                log.exception("MQTT connection listener failed")

    def _dispatch(self, message: Message) -> None:
        self.stats.messages_in += 1
        routes = self._exact.get(message.topic, ())
        if routes:
            self._last[message.topic] = message
        for route in itertools.chain(tuple(routes), tuple(self._wildcards)):
            if route in routes or paho.topic_matches_sub(route.topic_filter, message.topic):
                try:
                    route.handler(message)
                except Exception:
                    log.exception("MQTT handler for %s failed", route.topic_filter)


class _Lost:
    """Put in a device's inbox when the broker connection drops."""


_LOST = _Lost()


class MqttTransport(MessageTransport):
    """One device's view of a shared broker connection."""

    def __init__(self, connection: MqttConnection, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.connection = connection
        self.connect_timeout = connect_timeout
        self._routes: list[_Route] = []
        self._inbox: asyncio.Queue[Message | _Lost] | None = None
        self.dropped = 0  # messages lost to a full inbox

    @property
    def address(self) -> str:
        return self.connection.address

    async def open(self) -> None:
        await self.connection.start()
        await self.connection.wait_connected(self.connect_timeout)
        self._inbox = asyncio.Queue(INBOX_LIMIT)
        self.connection.add_connection_listener(self._on_connection)

    async def subscribe(self, topic_filter: str) -> None:
        if self._inbox is None:
            raise DeviceUnreachable(f"{self.address}: transport not open")
        self._routes.append(await self.connection.subscribe(topic_filter, self._deliver, timeout=self.connect_timeout))

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        if self._inbox is None:
            raise DeviceUnreachable(f"{self.address}: transport not open")
        self.connection.publish_nowait(topic, payload, qos=qos, retain=retain)

    async def messages(self) -> AsyncIterator[Message]:
        """Messages on the subscribed topics; raises DeviceUnreachable when the broker goes."""
        while True:
            inbox = self._inbox
            if inbox is None:
                raise DeviceUnreachable(f"{self.address}: transport closed")
            item = await inbox.get()
            if item is _LOST:
                raise DeviceUnreachable(f"lost the MQTT broker at {self.address}")
            yield item

    async def close(self) -> None:
        self.connection.remove_connection_listener(self._on_connection)
        routes, self._routes = self._routes, []
        for route in routes:
            self.connection.unsubscribe(route)
        inbox, self._inbox = self._inbox, None
        if inbox is not None and not inbox.full():
            inbox.put_nowait(_LOST)  # a reader still waiting ends instead of hanging

    def _deliver(self, message: Message) -> None:
        inbox = self._inbox
        if inbox is None:
            return
        try:
            inbox.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1

    def _on_connection(self, connected: bool) -> None:
        if not connected and self._inbox is not None:
            try:
                self._inbox.put_nowait(_LOST)
            except asyncio.QueueFull:
                self._inbox.get_nowait()
                self._inbox.put_nowait(_LOST)

"""Transports carry bytes or messages and know nothing of protocols."""

from drivers.transports.base import DatagramTransport, MessageTransport, StreamTransport

__all__ = ["StreamTransport", "DatagramTransport", "MessageTransport"]

"""The one status vocabulary shown everywhere: API, pages, MQTT, logs."""

from enum import StrEnum


class Status(StrEnum):
    CONNECTING = "connecting"  # opening the transport or handshaking
    ONLINE = "online"          # answering and healthy
    OFFLINE = "offline"        # not answering; the supervisor keeps retrying
    FAULT = "fault"            # answering, but reports a hardware fault (lamp, fan, cover...)
    BAD_CONFIG = "bad_config"  # our side is wrong: wrong password, wrong address kind

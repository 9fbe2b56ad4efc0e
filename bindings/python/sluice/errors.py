# SPDX-License-Identifier: Apache-2.0
"""Error codes (proto/sluice.proto, enum ErrorCode) and the exceptions of the client."""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """sluice.v1.ErrorCode. A code this version does not know becomes a pseudo-member named
    ERROR_UNKNOWN_<n> (docs/protocol.md §12: treat it as ERROR_INTERNAL, show the message)."""

    ERROR_NONE = 0
    ERROR_FRAME_TOO_LARGE = 1
    ERROR_FRAME_MALFORMED = 2
    ERROR_OUT_OF_ORDER = 3
    ERROR_UNSUPPORTED_VERSION = 4
    ERROR_FLOOD = 5
    ERROR_SESSION_LIMIT = 6
    ERROR_AUTH_FAILED = 7
    ERROR_SHUTTING_DOWN = 8
    ERROR_WINDOW_EXCEEDED = 20
    ERROR_UNKNOWN_CHANNEL = 21
    ERROR_CHANNEL_ID_IN_USE = 22
    ERROR_INVALID_ARGUMENT = 23
    ERROR_DENIED = 24
    ERROR_CLOSED = 25
    ERROR_RESET = 26
    ERROR_INTERNAL = 27
    ERROR_REFUSED = 40
    ERROR_TIMED_OUT = 41
    ERROR_NAME_NOT_FOUND = 42
    ERROR_DNS_TEMPORARY = 43
    ERROR_UNREACHABLE = 44
    ERROR_ADDRESS_IN_USE = 45
    ERROR_ACCESS = 46
    ERROR_TLS_HANDSHAKE_FAILED = 60
    ERROR_TLS_HANDSHAKE_TIMEOUT = 61
    ERROR_TLS_PROTOCOL_VERSION = 62
    ERROR_TLS_UNKNOWN_CA = 63
    ERROR_TLS_CERT_EXPIRED = 64
    ERROR_TLS_BAD_HOSTNAME = 65
    ERROR_TLS_CERT_INVALID = 66
    ERROR_TLS_CERT_REQUIRED = 67
    ERROR_TLS_BAD_CERTIFICATE = 68
    ERROR_TLS_DECRYPT_ERROR = 69
    ERROR_TLS_NO_ALPN = 70
    ERROR_TLS_TRUNCATED = 71
    ERROR_TLS_RENEGOTIATION_REFUSED = 72
    ERROR_TLS_BAD_TRUST = 73
    ERROR_TLS_OTHER = 79

    @classmethod
    def _missing_(cls, value):
        if isinstance(value, int) and not isinstance(value, bool):
            member = int.__new__(cls, value)
            member._name_ = "ERROR_UNKNOWN_%d" % value
            member._value_ = value
            return member
        return None

    def __str__(self) -> str:
        return "%s (%d)" % (self.name, self.value)


class Family(enum.IntEnum):
    """sluice.v1.Family."""

    FAMILY_ANY = 0
    FAMILY_IPV4 = 1
    FAMILY_IPV6 = 2


class SluiceError(Exception):
    """A failure reported by the daemon, or found by the client.

    ``code`` is the daemon's ErrorCode (an ErrorCode member: ``.name`` and ``int()``), or None
    for a failure the client found itself (the daemon closed the socket, a bad frame, a call on
    a closed object). ``message`` is the daemon's one-line message (or the client's)."""

    def __init__(self, code: ErrorCode | int | None, message: str = ""):
        if code is not None and not isinstance(code, ErrorCode):
            code = ErrorCode(int(code))
        self.code = code
        self.message = message
        if code is None:
            text = message or "sluice error"
        elif message:
            text = "%s: %s" % (code, message)
        else:
            text = str(code)
        super().__init__(text)


class SessionError(SluiceError):
    """The session is over: the daemon sent an Error frame (``code`` is its code), closed the
    socket (``code`` None), or broke the protocol (``code`` None, see ``__cause__``). Every
    later call on the client raises the same exception."""


class ClosedError(SluiceError):
    """A call on a channel, listener or client that has been closed or has ended; ``code`` is
    the status the end carried when there was one (ERROR_NONE for a clean end)."""


class DecodeError(SluiceError, ValueError):
    """Bytes that are not a valid sluice.v1 message (codec). code: ERROR_FRAME_MALFORMED."""

    def __init__(self, message: str):
        super().__init__(ErrorCode.ERROR_FRAME_MALFORMED, message)


class FrameTooLargeError(DecodeError):
    """A frame length over the session's maximum. code: ERROR_FRAME_TOO_LARGE."""

    def __init__(self, length: int, maximum: int):
        SluiceError.__init__(self, ErrorCode.ERROR_FRAME_TOO_LARGE,
                             "frame of %d bytes over the maximum of %d" % (length, maximum))
        self.length = length
        self.maximum = maximum

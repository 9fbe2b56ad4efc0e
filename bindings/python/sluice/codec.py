# SPDX-License-Identifier: Apache-2.0
"""A small protobuf wire codec for exactly the messages of proto/sluice.proto, and the framing of
docs/protocol.md §2 (4-byte big-endian length + one Frame message).

Messages are plain dicts keyed by field name. Decoding fills every field: scalars with their
proto3 default when absent, sub-messages with None, repeated fields with a list, and oneof
members that are not set with None (so presence is visible). Encoding leaves out None and, except
for oneof members, fields equal to their default. A Frame is a pair (body name, message dict).

Malformed input raises DecodeError (a ValueError); a length over the maximum raises
FrameTooLargeError. Unknown fields inside known messages are skipped (§15).
"""

from __future__ import annotations

from .errors import DecodeError, FrameTooLargeError

# Field types: scalar type names, or the name of a message type.
U32, U64, I64, BOOL, ENUM, STRING, BYTES = "uint32", "uint64", "int64", "bool", "enum", "string", "bytes"
_SCALARS = {U32, U64, I64, BOOL, ENUM, STRING, BYTES}
_VARINT_TYPES = {U32, U64, I64, BOOL, ENUM}

R = True  # repeated

# The one table of field numbers, by hand from proto/sluice.proto:
#   message -> {field number: (field name, type, repeated)}
SCHEMA: dict[str, dict[int, tuple]] = {
    "Status": {1: ("code", ENUM, False), 2: ("message", STRING, False)},
    "ServerHello": {1: ("versions", U32, R), 2: ("daemon", STRING, False), 3: ("nonce", BYTES, False)},
    "Hello": {1: ("version", U32, False), 2: ("client_name", STRING, False),
              3: ("max_frame", U32, False), 4: ("auth_public_key", BYTES, False),
              5: ("auth_signature", BYTES, False)},
    "Welcome": {1: ("version", U32, False), 2: ("session_id", U64, False),
                3: ("max_frame", U32, False), 4: ("default_window", U32, False),
                5: ("max_channels", U32, False), 6: ("max_listeners", U32, False),
                7: ("session_budget", U64, False)},
    "TcpTarget": {1: ("host", STRING, False), 2: ("port", U32, False), 3: ("family", ENUM, False)},
    "UnixTarget": {1: ("path", STRING, False)},
    "UdpTarget": {1: ("host", STRING, False), 2: ("port", U32, False), 3: ("family", ENUM, False)},
    "TlsClientOptions": {1: ("server_name", STRING, False), 2: ("alpn", STRING, R),
                         3: ("insecure_skip_verify", BOOL, False), 4: ("system", BOOL, False),
                         5: ("store", STRING, False), 6: ("ca_pem", BYTES, False),
                         7: ("handshake_timeout_ms", U32, False)},
    "Open": {1: ("channel_id", U32, False), 2: ("tcp", "TcpTarget", False),
             3: ("unix_socket", "UnixTarget", False), 4: ("udp", "UdpTarget", False),
             5: ("tls", "TlsClientOptions", False), 6: ("connect_timeout_ms", U32, False),
             7: ("window", U32, False)},
    "PeerCertificate": {1: ("subject", STRING, False), 2: ("issuer", STRING, False),
                        3: ("sans", STRING, R), 4: ("not_before", I64, False),
                        5: ("not_after", I64, False)},
    "TlsResult": {1: ("version", STRING, False), 2: ("cipher", STRING, False),
                  3: ("alpn", STRING, False), 4: ("resumed", BOOL, False),
                  5: ("peer", "PeerCertificate", False)},
    "Opened": {1: ("channel_id", U32, False), 2: ("local_address", STRING, False),
               3: ("remote_address", STRING, False), 4: ("tls", "TlsResult", False),
               5: ("window", U32, False)},
    "OpenFailed": {1: ("channel_id", U32, False), 2: ("status", "Status", False)},
    "Data": {1: ("channel_id", U32, False), 2: ("payload", BYTES, False)},
    "Window": {1: ("channel_id", U32, False), 2: ("increment", U32, False)},
    "Shutdown": {1: ("channel_id", U32, False)},
    "Close": {1: ("channel_id", U32, False), 2: ("status", "Status", False)},
    "TlsServerOptions": {1: ("identity", STRING, False), 2: ("alpn", STRING, R),
                         3: ("require_client_cert", BOOL, False), 4: ("client_trust", STRING, False)},
    "Listen": {1: ("listener_id", U32, False), 2: ("address", STRING, False),
               3: ("port", U32, False), 4: ("backlog", U32, False),
               5: ("tls", "TlsServerOptions", False), 6: ("window", U32, False)},
    "Listening": {1: ("listener_id", U32, False), 2: ("bound_address", STRING, False)},
    "ListenFailed": {1: ("listener_id", U32, False), 2: ("status", "Status", False)},
    "Accepted": {1: ("listener_id", U32, False), 2: ("channel_id", U32, False),
                 3: ("local_address", STRING, False), 4: ("remote_address", STRING, False),
                 5: ("tls", "TlsResult", False), 6: ("window", U32, False)},
    "Unlisten": {1: ("listener_id", U32, False)},
    "ListenerClosed": {1: ("listener_id", U32, False), 2: ("status", "Status", False)},
    "Resolve": {1: ("request_id", U32, False), 2: ("host", STRING, False), 3: ("family", ENUM, False)},
    "ResolvedAddress": {1: ("address", STRING, False), 2: ("family", ENUM, False), 3: ("ttl_s", U32, False)},
    "Resolved": {1: ("request_id", U32, False), 2: ("status", "Status", False),
                 3: ("addresses", "ResolvedAddress", R)},
    "Ping": {1: ("payload", U64, False)},
    "Pong": {1: ("payload", U64, False)},
    "StatsRequest": {1: ("request_id", U32, False)},
    "ChannelStats": {1: ("channel_id", U32, False), 2: ("remote_address", STRING, False),
                     3: ("bytes_in", U64, False), 4: ("bytes_out", U64, False),
                     5: ("send_window", U32, False), 6: ("receive_window", U32, False),
                     7: ("state", STRING, False)},
    "Stats": {1: ("request_id", U32, False), 2: ("sessions", U64, False), 3: ("channels", U64, False),
              4: ("listeners", U64, False), 5: ("bytes_in", U64, False), 6: ("bytes_out", U64, False),
              7: ("uptime_s", U64, False), 8: ("session_channels", "ChannelStats", R)},
    "GoAway": {1: ("deadline_ms", U32, False), 2: ("reason", STRING, False)},
    "Error": {1: ("status", "Status", False)},
    "Frame": {1: ("server_hello", "ServerHello", False), 2: ("hello", "Hello", False),
              3: ("welcome", "Welcome", False), 10: ("open", "Open", False),
              11: ("opened", "Opened", False), 12: ("open_failed", "OpenFailed", False),
              13: ("data", "Data", False), 14: ("window", "Window", False),
              15: ("shutdown", "Shutdown", False), 16: ("close", "Close", False),
              20: ("listen", "Listen", False), 21: ("listening", "Listening", False),
              22: ("listen_failed", "ListenFailed", False), 23: ("accepted", "Accepted", False),
              24: ("unlisten", "Unlisten", False), 25: ("listener_closed", "ListenerClosed", False),
              30: ("resolve", "Resolve", False), 31: ("resolved", "Resolved", False),
              32: ("ping", "Ping", False), 33: ("pong", "Pong", False),
              34: ("stats_request", "StatsRequest", False), 35: ("stats", "Stats", False),
              36: ("go_away", "GoAway", False), 37: ("error", "Error", False)},
}

# oneof groups: message -> {group name: set of field numbers}. Decoding keeps the last member
# seen; encoding refuses more than one.
ONEOFS: dict[str, dict[str, frozenset]] = {
    "TlsClientOptions": {"trust": frozenset({4, 5, 6})},
    "Open": {"target": frozenset({2, 3, 4})},
    "Frame": {"body": frozenset(SCHEMA["Frame"])},
}

# Derived lookups: message -> {field name: (number, type, repeated)}, and oneof membership.
_BY_NAME = {m: {f[0]: (n, f[1], f[2]) for n, f in fields.items()} for m, fields in SCHEMA.items()}
_ONEOF_OF = {m: {n: g for g, ns in groups.items() for n in ns} for m, groups in ONEOFS.items()}
FRAME_BODIES = {name: typ for _, (name, typ, _) in SCHEMA["Frame"].items()}

MAX_HANDSHAKE_FRAME = 65536
_U64 = (1 << 64) - 1
_MAX_DEPTH = 16

# Wire types.
WT_VARINT, WT_I64, WT_LEN, WT_I32 = 0, 1, 2, 5


# Encoding ------------------------------------------------------------------------------------------

def encode_varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 / enum: two's complement over 10 bytes
    if value < 0 or value > _U64:
        raise ValueError("varint out of range: %r" % value)
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return encode_varint((number << 3) | wire_type)


def _check_scalar(typ: str, value, where: str):
    if typ == STRING:
        if not isinstance(value, str):
            raise TypeError("%s: expected str, got %s" % (where, type(value).__name__))
    elif typ == BYTES:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError("%s: expected bytes, got %s" % (where, type(value).__name__))
    elif typ == BOOL:
        if not isinstance(value, bool) and value not in (0, 1):
            raise TypeError("%s: expected bool" % where)
    else:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("%s: expected int, got %s" % (where, type(value).__name__))
        lo, hi = {U32: (0, 0xFFFFFFFF), U64: (0, _U64), I64: (-(1 << 63), (1 << 63) - 1),
                  ENUM: (-(1 << 31), (1 << 31) - 1)}[typ]
        if not lo <= value <= hi:
            raise ValueError("%s: %d out of range for %s" % (where, value, typ))


def _encode_scalar(typ: str, value) -> tuple[int, bytes]:
    """(wire type, encoded value without key)."""
    if typ == STRING:
        raw = value.encode("utf-8")
        return WT_LEN, encode_varint(len(raw)) + raw
    if typ == BYTES:
        raw = bytes(value)
        return WT_LEN, encode_varint(len(raw)) + raw
    if typ == BOOL:
        return WT_VARINT, b"\x01" if value else b"\x00"
    return WT_VARINT, encode_varint(int(value))


def encode_message(message_type: str, msg: dict | None, _depth: int = 0) -> bytes:
    """Encodes msg (a dict of field name -> value) as message_type. Raises KeyError for an
    unknown field name, TypeError/ValueError for a bad value or several oneof members."""
    if message_type not in SCHEMA:
        raise KeyError("unknown message type %r" % message_type)
    if _depth > _MAX_DEPTH:
        raise ValueError("message nesting too deep")
    fields = _BY_NAME[message_type]
    oneof_of = _ONEOF_OF.get(message_type, {})
    msg = msg or {}
    seen_groups: dict[str, str] = {}
    parts = []
    for name, value in msg.items():
        if name not in fields:
            raise KeyError("%s has no field %r" % (message_type, name))
        if value is None:
            continue
        number, typ, repeated = fields[name]
        group = oneof_of.get(number)
        if group is not None:
            if group in seen_groups:
                raise ValueError("%s: oneof %s has both %s and %s"
                                 % (message_type, group, seen_groups[group], name))
            seen_groups[group] = name
        where = "%s.%s" % (message_type, name)
        if repeated:
            if isinstance(value, (str, bytes, dict)):
                raise TypeError("%s: expected a list" % where)
            values = list(value)
            if not values:
                continue
            if typ in _VARINT_TYPES:  # proto3: packed
                body = bytearray()
                for v in values:
                    _check_scalar(typ, v, where)
                    body += _encode_scalar(typ, v)[1]
                parts.append(_key(number, WT_LEN) + encode_varint(len(body)) + bytes(body))
            else:
                for v in values:
                    parts.append(_encode_field(number, typ, v, where, _depth))
            continue
        if typ in _SCALARS:
            _check_scalar(typ, value, where)
            if group is None and not value:  # proto3 default: not encoded
                continue
        parts.append(_encode_field(number, typ, value, where, _depth))
    return b"".join(parts)


def _encode_field(number: int, typ: str, value, where: str, depth: int) -> bytes:
    if typ in _SCALARS:
        _check_scalar(typ, value, where)
        wt, raw = _encode_scalar(typ, value)
        return _key(number, wt) + raw
    if not isinstance(value, dict):
        raise TypeError("%s: expected a dict for %s" % (where, typ))
    raw = encode_message(typ, value, depth + 1)
    return _key(number, WT_LEN) + encode_varint(len(raw)) + raw


def encode_frame_body(body: str, msg: dict | None = None) -> bytes:
    """The bytes of a Frame message with one body (no length prefix)."""
    if body not in FRAME_BODIES:
        raise KeyError("unknown frame body %r" % body)
    return encode_message("Frame", {body: msg or {}})


def encode_frame(body: str, msg: dict | None = None, max_frame: int | None = None) -> bytes:
    """A frame on the wire: 4-byte big-endian length, then the Frame. With max_frame, a frame
    whose length would exceed it raises FrameTooLargeError (nothing is sent)."""
    raw = encode_frame_body(body, msg)
    if max_frame is not None and len(raw) > max_frame:
        raise FrameTooLargeError(len(raw), max_frame)
    return len(raw).to_bytes(4, "big") + raw


# Decoding ------------------------------------------------------------------------------------------

def _read_varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        if shift == 63 and b > 1:
            raise DecodeError("varint over 64 bits")
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint over 10 bytes")


def _convert_varint(typ: str, value: int):
    if typ == U32:
        return value & 0xFFFFFFFF
    if typ == U64:
        return value
    if typ == I64:
        return value - (1 << 64) if value >= 1 << 63 else value
    if typ == BOOL:
        return value != 0
    # enum: int32
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _default(typ: str, repeated: bool):
    if repeated:
        return []
    return {U32: 0, U64: 0, I64: 0, BOOL: False, ENUM: 0, STRING: "", BYTES: b""}.get(typ)


def new_message(message_type: str) -> dict:
    """A message with every field at its default (as decoding an empty buffer gives)."""
    oneof_of = _ONEOF_OF.get(message_type, {})
    return {name: (None if number in oneof_of else _default(typ, rep))
            for number, (name, typ, rep) in SCHEMA[message_type].items()}


def decode_message(message_type: str, data, _depth: int = 0) -> dict:
    """Decodes bytes as message_type into a dict (see the module docstring).
    Raises DecodeError for malformed input."""
    if message_type not in SCHEMA:
        raise KeyError("unknown message type %r" % message_type)
    buf = memoryview(bytes(data)) if not isinstance(data, (bytes, memoryview)) else memoryview(data)
    return _decode(message_type, buf, 0, len(buf), _depth)


def _decode(message_type: str, buf: memoryview, pos: int, end: int, depth: int) -> dict:
    if depth > _MAX_DEPTH:
        raise DecodeError("message nesting too deep")
    schema = SCHEMA[message_type]
    oneof_of = _ONEOF_OF.get(message_type, {})
    groups = ONEOFS.get(message_type, {})
    msg = new_message(message_type)
    while pos < end:
        key, pos = _read_varint(buf, pos, end)
        number, wt = key >> 3, key & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise DecodeError("invalid field number %d" % number)
        # Read the value's extent first (so unknown fields are skipped the same way).
        if wt == WT_VARINT:
            value, pos = _read_varint(buf, pos, end)
        elif wt == WT_I64:
            if end - pos < 8:
                raise DecodeError("truncated fixed64")
            value = bytes(buf[pos:pos + 8])
            pos += 8
        elif wt == WT_I32:
            if end - pos < 4:
                raise DecodeError("truncated fixed32")
            value = bytes(buf[pos:pos + 4])
            pos += 4
        elif wt == WT_LEN:
            length, pos = _read_varint(buf, pos, end)
            if length > end - pos:
                raise DecodeError("length %d runs past the end" % length)
            start, pos = pos, pos + length
            value = None
        else:
            raise DecodeError("unsupported wire type %d (field %d)" % (wt, number))
        field = schema.get(number)
        if field is None:
            continue  # unknown field: skipped
        name, typ, repeated = field
        where = "%s.%s" % (message_type, name)
        if typ in _VARINT_TYPES:
            if wt == WT_VARINT:
                items = [_convert_varint(typ, value)]
            elif wt == WT_LEN and repeated:  # packed
                items = []
                p = start
                while p < pos:
                    v, p = _read_varint(buf, p, pos)
                    items.append(_convert_varint(typ, v))
            else:
                raise DecodeError("%s: wrong wire type %d" % (where, wt))
        else:
            if wt != WT_LEN:
                raise DecodeError("%s: wrong wire type %d" % (where, wt))
            if typ == BYTES:
                items = [bytes(buf[start:pos])]
            elif typ == STRING:
                try:
                    items = [str(buf[start:pos], "utf-8")]
                except UnicodeDecodeError:
                    raise DecodeError("%s: not UTF-8" % where) from None
            else:
                sub = _decode(typ, buf, start, pos, depth + 1)
                if not repeated and msg[name] is not None:
                    # protobuf merges a repeated occurrence of a singular message
                    sub = _merge(typ, msg[name], buf, start, pos, depth)
                items = [sub]
        if repeated:
            msg[name].extend(items)
        else:
            group = oneof_of.get(number)
            if group is not None:
                for other in groups[group]:
                    if other != number:
                        msg[schema[other][0]] = None
            msg[name] = items[-1]
    return msg


def _merge(typ: str, old: dict, buf, start: int, end: int, depth: int) -> dict:
    """Protobuf's merge of a second occurrence of a singular message field: fields present in
    the new bytes replace (repeated: extend) the old ones."""
    new = _decode(typ, buf, start, end, depth + 1)
    fresh = new_message(typ)
    merged = dict(old)
    for number, (name, ftyp, rep) in SCHEMA[typ].items():
        if rep:
            merged[name] = list(old[name]) + list(new[name])
        elif new[name] != fresh[name] or (number in _ONEOF_OF.get(typ, {}) and new[name] is not None):
            merged[name] = new[name]
    return merged


def decode_frame(data) -> tuple[str, dict] | None:
    """Decodes the N bytes of a frame (without the length prefix) into (body name, message).
    N = 0 gives None (an empty frame). Raises DecodeError when the bytes do not decode or carry
    no body this version knows."""
    if len(data) == 0:
        return None
    frame = decode_message("Frame", data)
    body = None
    # the body is the member left set (decoding keeps the last one seen)
    for name in FRAME_BODIES:
        if frame[name] is not None:
            body = name
    if body is None:
        raise DecodeError("frame without a known body")
    return body, frame[body]


class FrameReader:
    """Splits a byte stream into frames. feed() bytes, then frames() yields (body, message) for
    every complete frame (None for an empty frame). The length is checked against max_frame
    from the 4 length bytes alone: FrameTooLargeError. Malformed bodies: DecodeError. After an
    exception the reader is broken: the stream can not be resynchronised."""

    def __init__(self, max_frame: int = MAX_HANDSHAKE_FRAME):
        self.max_frame = max_frame
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data) -> None:
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def next_frame(self):
        """The next complete frame as (body, message), None for an empty frame, or raises
        StopIteration-free: returns the sentinel NEED_MORE when no complete frame is buffered."""
        avail = len(self._buf) - self._pos
        if avail < 4:
            return NEED_MORE
        n = int.from_bytes(self._buf[self._pos:self._pos + 4], "big")
        if n > self.max_frame:
            raise FrameTooLargeError(n, self.max_frame)
        if avail < 4 + n:
            return NEED_MORE
        start = self._pos + 4
        raw = bytes(self._buf[start:start + n])
        self._pos = start + n
        return decode_frame(raw)

    def frames(self):
        while True:
            f = self.next_frame()
            if f is NEED_MORE:
                return
            yield f


class _NeedMore:
    def __repr__(self):
        return "NEED_MORE"


NEED_MORE = _NeedMore()

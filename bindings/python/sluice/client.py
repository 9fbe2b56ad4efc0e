# SPDX-License-Identifier: Apache-2.0
"""A single-threaded client of sluiced (docs/protocol.md).

Every blocking call runs the session's reader while it waits: it reads and sorts every frame
that arrives (for all channels, listeners and requests) until its own condition holds. A client
is used by one thread at a time.

Timeouts are in seconds: None waits without limit, 0 never waits, t > 0 waits at most t. A
timeout raises TimeoutError and does not end the session.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import selectors
import socket
import time

from . import codec
from .errors import ClosedError, DecodeError, ErrorCode, Family, SessionError, SluiceError

PROTOCOL_VERSION = 1
DEFAULT_TIMEOUT = 5.0
_MAX_U32 = 0xFFFFFFFF
_MAX_CLIENT_CHANNEL = (1 << 31) - 1
_DATA_OVERHEAD = 16  # docs/protocol.md §4.3: a payload of max_frame - 16 always fits


def default_socket_path() -> str:
    """The socket path of docs/protocol.md §1: $SLUICE_SOCKET when set and not empty;
    /run/sluice/sluiced.sock for effective uid 0; $XDG_RUNTIME_DIR/sluice/sluiced.sock;
    /tmp/sluice-$UID/sluiced.sock when XDG_RUNTIME_DIR is unset or empty."""
    env = os.environ.get("SLUICE_SOCKET")
    if env:
        return env
    if os.geteuid() == 0:
        return "/run/sluice/sluiced.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "sluice", "sluiced.sock")
    return "/tmp/sluice-%d/sluiced.sock" % os.geteuid()


def _deadline(timeout):
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError("negative timeout")
    return time.monotonic() + timeout


def _status(msg) -> tuple[ErrorCode, str]:
    """(code, message) of an optional Status (absent: ERROR_NONE)."""
    if not msg:
        return ErrorCode.ERROR_NONE, ""
    code = ErrorCode(msg["code"])
    if code == ErrorCode.ERROR_CLOSED:  # §12: not sent by version 1; treat as ERROR_NONE
        code = ErrorCode.ERROR_NONE
    return code, msg["message"]


def _family_number(family) -> int:
    """Accepts 0/4/6 (like the C library) or a Family value (0/1/2)."""
    if family in (0, None):
        return Family.FAMILY_ANY
    if family == 4:
        return Family.FAMILY_IPV4
    if family == 6:
        return Family.FAMILY_IPV6
    if isinstance(family, Family):
        return family
    if family in (1, 2):
        return Family(family)
    raise ValueError("family must be 0, 4 or 6")


@dataclasses.dataclass
class PeerCertificate:
    subject: str = ""
    issuer: str = ""
    sans: list = dataclasses.field(default_factory=list)
    not_before: int = 0
    not_after: int = 0


@dataclasses.dataclass
class TlsInfo:
    version: str = ""
    cipher: str = ""
    alpn: str = ""
    resumed: bool = False
    peer: PeerCertificate | None = None


@dataclasses.dataclass
class ChannelInfo:
    """What Opened or Accepted said about a channel."""

    channel_id: int
    listener_id: int = 0          # the listener's id for an accepted channel, else 0
    local_address: str = ""
    remote_address: str = ""
    send_window: int = 0          # the daemon's initial receive window (Opened/Accepted.window)
    receive_window: int = 0       # ours
    tls: TlsInfo | None = None    # None for plain channels


def _tls_info(msg) -> TlsInfo | None:
    if msg is None:
        return None
    peer = msg["peer"]
    return TlsInfo(version=msg["version"], cipher=msg["cipher"], alpn=msg["alpn"],
                   resumed=msg["resumed"],
                   peer=None if peer is None else PeerCertificate(
                       subject=peer["subject"], issuer=peer["issuer"], sans=list(peer["sans"]),
                       not_before=peer["not_before"], not_after=peer["not_after"]))


class Channel:
    """One network connection relayed by the daemon (Client.open_* or Listener.accept).

    Flow control (docs/protocol.md §6) is kept for the application: at most the receive
    window of payload is buffered, credit goes back in Window frames once half the window has
    been read, and writes send only within the daemon's credit."""

    OPENING, OPEN, CLOSING, CLOSED = "opening", "open", "closing", "closed"

    def __init__(self, client: "Client", channel_id: int, kind: str, recv_window: int):
        self._client = client
        self.id = channel_id
        self.kind = kind                  # "tcp", "unix", "udp"
        self.state = Channel.OPENING
        self.info: ChannelInfo | None = None
        self.send_credit = 0
        self.sent_shutdown = False
        self.recv_window = recv_window    # W, the window we granted
        self.recv_credit = recv_window    # what the daemon may still send
        self.consumed_unreturned = 0
        self.got_shutdown = False
        self.close_sent = False
        self.close_received = False
        # how the channel ended: (code, message) of OpenFailed / Close, or a session fault
        self.end_status: tuple[ErrorCode, str] | None = None
        self._closed_by_user = False
        self._buf = bytearray()                 # stream channels
        self._dgrams: collections.deque = collections.deque()  # UDP

    def __repr__(self):
        return "<sluice.Channel %d %s %s>" % (self.id, self.kind, self.state)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # State ------------------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Payload bytes received and not yet read."""
        return len(self._buf) + sum(len(d) for d in self._dgrams)

    def _has_data(self) -> bool:
        return bool(self._buf) or bool(self._dgrams)

    def _end_error(self) -> SluiceError:
        if self._client._fault is not None and self.end_status is None:
            return self._client._fault
        if self._closed_by_user:
            return ClosedError(None, "channel %d is closed" % self.id)
        code, message = self.end_status or (ErrorCode.ERROR_NONE, "")
        if code == ErrorCode.ERROR_NONE:
            return ClosedError(code, message or "channel %d was closed by the daemon" % self.id)
        return SluiceError(code, message)

    def _check_usable(self):
        if self._closed_by_user:
            raise ClosedError(None, "channel %d is closed" % self.id)

    # Reading ----------------------------------------------------------------------------------

    def read(self, n: int = 65536, timeout: float | None = None) -> bytes:
        """Up to n bytes of payload (UDP: one datagram, cut to n bytes). b"" at the end of the
        peer's direction (its Shutdown, or a clean Close, once everything before it was read).
        Raises TimeoutError, SluiceError with the channel's end code (ERROR_RESET, ...) once
        the buffered bytes are read, or the session's fault."""
        if n <= 0:
            raise ValueError("n must be positive")
        self._check_usable()
        c = self._client
        c._wait(lambda: self._has_data() or self.got_shutdown or self.state == Channel.CLOSED
                or (self.state == Channel.OPEN and c._fault is not None),
                _deadline(timeout))
        if self._dgrams:
            d = self._dgrams.popleft()
            self._consumed(len(d))
            return d[:n]
        if self._buf:
            out = bytes(self._buf[:n])
            del self._buf[:n]
            self._consumed(len(out))
            return out
        if self.got_shutdown:
            return b""
        if self.state == Channel.CLOSED:
            if self.end_status is not None and self.end_status[0] == ErrorCode.ERROR_NONE:
                return b""
            raise self._end_error()
        raise self._end_error()

    def read_exactly(self, n: int, timeout: float | None = None) -> bytes:
        """Exactly n bytes (stream channels); raises EOFError if the stream ends first.
        The timeout covers the whole call."""
        deadline = _deadline(timeout)
        out = bytearray()
        while len(out) < n:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            chunk = self.read(n - len(out), left)
            if not chunk:
                raise EOFError("channel %d ended after %d of %d bytes" % (self.id, len(out), n))
            out += chunk
        return bytes(out)

    def read_all(self, timeout: float | None = None) -> bytes:
        """Everything until the peer's end (b"" read)."""
        deadline = _deadline(timeout)
        out = bytearray()
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            chunk = self.read(1 << 20, left)
            if not chunk:
                return bytes(out)
            out += chunk

    def _consumed(self, k: int):
        self.consumed_unreturned += k
        if (self.consumed_unreturned >= self.recv_window // 2 and self.consumed_unreturned > 0
                and not self.got_shutdown and not self.close_sent and not self.close_received
                and self.state == Channel.OPEN and self._client._fault is None):
            inc = self.consumed_unreturned
            self.consumed_unreturned = 0
            self.recv_credit += inc
            self._client._send("window", {"channel_id": self.id, "increment": inc})

    # Writing ----------------------------------------------------------------------------------

    def write(self, data, timeout: float | None = None) -> int:
        """Sends all of data, waiting for the daemon's credit; returns len(data). UDP: data is
        one datagram (it must fit in the credit and in a frame). On a timeout raises
        TimeoutError with .sent = the bytes sent before it."""
        data = memoryview(bytes(data) if not isinstance(data, (bytes, bytearray, memoryview)) else data)
        c = self._client
        deadline = _deadline(timeout)
        sent = 0
        self._check_writable()
        if not data:
            return 0  # an empty Data does nothing (and counts toward the flood limit)
        if self.kind == "udp":
            limit = c.max_frame - _DATA_OVERHEAD
            if self.info is not None:
                limit = min(limit, self.info.send_window)
            if len(data) > limit:
                raise ValueError("datagram of %d bytes over the limit of %d (frame size or the "
                                 "daemon's window)" % (len(data), limit))
        need = len(data) if self.kind == "udp" else 1
        while True:
            self._check_writable()
            if sent == len(data):
                return sent
            try:
                c._wait(lambda: self.send_credit >= need or self.state != Channel.OPEN
                        or self.sent_shutdown, deadline)
            except TimeoutError as e:
                e.sent = sent
                raise
            self._check_writable()
            if self.kind == "udp":
                chunk = data
            else:
                chunk = data[sent:sent + min(self.send_credit, c.max_frame - _DATA_OVERHEAD)]
            self.send_credit -= len(chunk)
            c._send("data", {"channel_id": self.id, "payload": bytes(chunk)})
            sent += len(chunk)
            if self.kind == "udp":
                return sent

    send = write

    def _check_writable(self):
        self._check_usable()
        if self._client._fault is not None:
            raise self._client._fault
        if self.state == Channel.OPENING:
            return
        if self.state != Channel.OPEN:
            raise self._end_error()
        if self.sent_shutdown:
            raise ClosedError(None, "channel %d: write after shutdown" % self.id)

    def shutdown(self) -> None:
        """Half-close: no more writes; the daemon writes what it has, then closes its write
        side (TCP FIN). Reads go on until the peer's end."""
        self._check_usable()
        if self._client._fault is not None:
            raise self._client._fault
        if self.sent_shutdown or self.state not in (Channel.OPENING, Channel.OPEN):
            return
        self.sent_shutdown = True
        self.send_credit = 0
        self._client._send("shutdown", {"channel_id": self.id})

    def close(self, abort: bool = False) -> None:
        """Ends the channel. abort=False: the daemon writes what it has, then closes cleanly;
        abort=True: it resets the connection (Close ERROR_RESET). Unread data is dropped.
        Never blocks; the id is free once the daemon's Close (or OpenFailed) arrives."""
        if self._closed_by_user:
            return
        self._closed_by_user = True
        self._buf.clear()
        self._dgrams.clear()
        c = self._client
        if self.state in (Channel.OPENING, Channel.OPEN) and not self.close_sent:
            self.state = Channel.CLOSING
            self.close_sent = True
            if c._fault is None and c._sock is not None:
                status = {"code": ErrorCode.ERROR_RESET, "message": "aborted by the client"} \
                    if abort else None
                try:
                    c._send("close", {"channel_id": self.id, "status": status})
                except SluiceError:
                    pass


class Listener:
    """A listening socket of the daemon (Client.listen). accept() returns the connections."""

    def __init__(self, client: "Client", listener_id: int):
        self._client = client
        self.id = listener_id
        self.state = "pending"     # "pending", "live", "closing", "closed"
        self.address = ""          # Listening.bound_address, with the port chosen
        self.end_status: tuple[ErrorCode, str] | None = None
        self.window = 0            # our receive window for each accepted channel
        self._accepted: collections.deque = collections.deque()
        self._unlisten_sent = False

    def __repr__(self):
        return "<sluice.Listener %d %s %s>" % (self.id, self.address, self.state)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def port(self) -> int:
        """The port of address ("127.0.0.1:41234" -> 41234); 0 for a Unix path."""
        host, sep, port = self.address.rpartition(":")
        return int(port) if sep and port.isdigit() and not self.address.startswith(("/", "@")) else 0

    def accept(self, timeout: float | None = None) -> Channel:
        """The next accepted connection, as an OPEN channel. Raises TimeoutError, ClosedError
        once the listener is closed and every connection it accepted has been taken, a
        SluiceError when the listener ended with an error, or the session's fault."""
        c = self._client
        c._wait(lambda: self._accepted or self.state == "closed", _deadline(timeout))
        if self._accepted:
            return self._accepted.popleft()
        code, message = self.end_status or (ErrorCode.ERROR_NONE, "")
        if c._fault is not None and self.end_status is None:
            raise c._fault
        if code == ErrorCode.ERROR_NONE:
            raise ClosedError(code, message or "listener %d is closed" % self.id)
        raise SluiceError(code, message)

    def close(self, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Unlisten, then waits (up to timeout) for ListenerClosed. Channels already accepted go
        on; connections accepted but not yet taken by accept() are closed."""
        c = self._client
        if self.state in ("pending", "live") and not self._unlisten_sent and c._fault is None \
                and c._sock is not None:
            self._unlisten_sent = True
            self.state = "closing" if self.state == "live" else self.state
            c._send("unlisten", {"listener_id": self.id})
            try:
                c._wait(lambda: self.state == "closed", _deadline(timeout))
            except (SluiceError, TimeoutError):
                pass
        while self._accepted:
            self._accepted.popleft().close()

    unlisten = close


class Client:
    """A session with sluiced. Use Client.connect()."""

    def __init__(self):
        self._sock: socket.socket | None = None
        self._sel: selectors.BaseSelector | None = None
        self._reader = codec.FrameReader(codec.MAX_HANDSHAKE_FRAME)
        self._out = bytearray()
        self._fault: SluiceError | None = None
        self._closed = False
        self._channels: dict[int, Channel] = {}
        self._listeners: dict[int, Listener] = {}
        self._next_channel = 1
        self._next_listener = 1
        self._next_request = 1
        self._next_ping = 1
        self._replies: dict[tuple[str, int], dict] = {}
        self._pending: set[tuple[str, int]] = set()
        self._pongs: dict[int, float] = {}
        self.server_hello: dict | None = None
        self.welcome: dict | None = None
        self.max_frame = codec.MAX_HANDSHAKE_FRAME
        self.go_away: tuple[int, str] | None = None   # (deadline_ms, reason) once received
        self.path = ""

    # Lifecycle ----------------------------------------------------------------------------------

    @classmethod
    def connect(cls, path: str | None = None, name: str = "python",
                timeout: float = DEFAULT_TIMEOUT) -> "Client":
        """Connects to the daemon and completes the handshake (timeout covers both). Raises
        OSError (FileNotFoundError, ConnectionRefusedError, ...) when the socket can not be
        reached, TimeoutError, SessionError when the daemon refuses the session (its Error),
        SluiceError(ERROR_UNSUPPORTED_VERSION) when it speaks no version this client does."""
        self = cls()
        self.path = path or default_socket_path()
        deadline = _deadline(timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(self.path)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._sel = selectors.DefaultSelector()
        self._sel.register(sock, selectors.EVENT_READ)
        try:
            self._wait(lambda: self.server_hello is not None, deadline)
            versions = self.server_hello["versions"]
            if PROTOCOL_VERSION not in versions:
                raise SluiceError(ErrorCode.ERROR_UNSUPPORTED_VERSION,
                                  "the daemon speaks versions %s, this client %d"
                                  % (versions, PROTOCOL_VERSION))
            self._send("hello", {"version": PROTOCOL_VERSION, "client_name": name}, deadline)
            self._wait(lambda: self.welcome is not None, deadline)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Closes the session (there is no goodbye frame): the daemon aborts every channel and
        closes every listener. Never blocks."""
        if self._closed:
            return
        self._closed = True
        if self._fault is None:
            self._fault = SessionError(None, "the client is closed")
        self._drop_socket()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def fileno(self) -> int:
        return self._sock.fileno() if self._sock is not None else -1

    @property
    def closed(self) -> bool:
        return self._fault is not None

    @property
    def session_id(self) -> int:
        return self.welcome["session_id"] if self.welcome else 0

    @property
    def default_window(self) -> int:
        return self.welcome["default_window"] if self.welcome else 0

    # Requests -----------------------------------------------------------------------------------

    def ping(self, timeout: float | None = DEFAULT_TIMEOUT) -> float:
        """Round trip to the daemon; returns the rtt in seconds."""
        payload = self._next_ping
        self._next_ping = (self._next_ping + 1) & ((1 << 64) - 1) or 1
        start = time.monotonic()
        self._pongs[payload] = 0.0
        self._send("ping", {"payload": payload})
        try:
            self._wait(lambda: self._pongs.get(payload), _deadline(timeout))
            return self._pongs[payload] - start
        finally:
            self._pongs.pop(payload, None)

    def _request_id(self) -> int:
        rid = self._next_request
        self._next_request = self._next_request % _MAX_U32 + 1
        return rid

    def _request(self, kind: str, body: str, msg: dict, timeout) -> dict:
        rid = self._request_id()
        key = (kind, rid)
        self._pending.add(key)
        msg["request_id"] = rid
        try:
            self._send(body, msg)
            self._wait(lambda: key in self._replies, _deadline(timeout))
            return self._replies.pop(key)
        finally:
            self._pending.discard(key)
            self._replies.pop(key, None)

    def resolve(self, host: str, family=0, timeout: float | None = DEFAULT_TIMEOUT) -> list:
        """Resolves host through the daemon's caching resolver. family: 0 any, 4 or 6 (or a
        Family). Returns [(address, family (4 or 6), ttl_s), ...] in the order the daemon would
        try them. Raises SluiceError (ERROR_NAME_NOT_FOUND, ...; the session goes on)."""
        reply = self._request("resolved", "resolve",
                              {"host": host, "family": _family_number(family)}, timeout)
        code, message = _status(reply["status"])
        if code != ErrorCode.ERROR_NONE:
            raise SluiceError(code, message)
        fam = {Family.FAMILY_IPV4: 4, Family.FAMILY_IPV6: 6}
        return [(a["address"], fam.get(a["family"], 0), a["ttl_s"]) for a in reply["addresses"]]

    def stats(self, timeout: float | None = DEFAULT_TIMEOUT) -> dict:
        """The daemon's counters and this session's channels:
        {"sessions", "channels", "listeners", "bytes_in", "bytes_out", "uptime_s",
         "session_channels": [{"channel_id", "remote_address", "bytes_in", "bytes_out",
                               "send_window", "receive_window", "state"}, ...]}"""
        reply = self._request("stats", "stats_request", {}, timeout)
        out = {k: v for k, v in reply.items() if k != "request_id"}
        out["session_channels"] = [dict(c) for c in reply["session_channels"]]
        return out

    # Channels -----------------------------------------------------------------------------------

    def _channel_id(self) -> int:
        for _ in range(_MAX_CLIENT_CHANNEL):
            cid = self._next_channel
            self._next_channel = self._next_channel % _MAX_CLIENT_CHANNEL + 1
            if cid not in self._channels:
                return cid
        raise SluiceError(ErrorCode.ERROR_SESSION_LIMIT, "no channel id free")

    def _open(self, kind: str, target: dict, tls: dict | None, window: int,
              connect_timeout_ms: int, timeout) -> Channel:
        self._check_session()
        if window < 0 or window > _MAX_U32:
            raise ValueError("window out of range")
        cid = self._channel_id()
        ch = Channel(self, cid, kind, window or self.default_window)
        msg = {"channel_id": cid, "tls": tls, "connect_timeout_ms": connect_timeout_ms,
               "window": window}
        msg.update(target)
        frame = codec.encode_frame("open", msg, self.max_frame)  # too large: nothing sent
        self._channels[cid] = ch
        self._send_raw(frame)
        try:
            self._wait(lambda: ch.state != Channel.OPENING, _deadline(timeout))
        except TimeoutError:
            ch.close()  # cancels the open (§5)
            raise
        if ch.state == Channel.OPEN:
            return ch
        raise ch._end_error()

    def open_tcp(self, host: str, port: int, tls: bool = False, server_name: str | None = None,
                 alpn=None, cafile: str | None = None, insecure: bool = False, window: int = 0,
                 connect_timeout_ms: int = 0, family=0, trust_store: str | None = None,
                 handshake_timeout_ms: int = 0, timeout: float | None = None) -> Channel:
        """Opens a TCP channel (with TLS when tls is True, or when any TLS option is given).
        alpn: a list of protocol names, or "h2,http/1.1". cafile: a PEM file read here and sent
        as ca_pem (only these CAs are trusted). window: our receive window (0: the daemon's
        default). timeout: how long to wait for Opened (None: until the daemon answers, which
        its connect and handshake timeouts bound); on a timeout the open is cancelled.
        Raises SluiceError from OpenFailed (ERROR_REFUSED, ERROR_TLS_UNKNOWN_CA, ...)."""
        tls_msg = None
        if tls or server_name or alpn or cafile or insecure or trust_store:
            tls_msg = _tls_options(server_name, alpn, cafile, insecure, trust_store,
                                   handshake_timeout_ms)
        return self._open("tcp", {"tcp": {"host": host, "port": port,
                                          "family": _family_number(family)}},
                          tls_msg, window, connect_timeout_ms, timeout)

    def open_unix(self, path: str, tls: bool = False, server_name: str | None = None, alpn=None,
                  cafile: str | None = None, insecure: bool = False, window: int = 0,
                  connect_timeout_ms: int = 0, trust_store: str | None = None,
                  handshake_timeout_ms: int = 0, timeout: float | None = None) -> Channel:
        """Opens a channel to a Unix stream socket (a path, or "@name" for an abstract one)."""
        tls_msg = None
        if tls or server_name or alpn or cafile or insecure or trust_store:
            tls_msg = _tls_options(server_name, alpn, cafile, insecure, trust_store,
                                   handshake_timeout_ms)
        return self._open("unix", {"unix_socket": {"path": path}}, tls_msg, window,
                          connect_timeout_ms, timeout)

    def open_udp(self, host: str, port: int, window: int = 0, connect_timeout_ms: int = 0,
                 family=0, timeout: float | None = None) -> Channel:
        """Opens a connected UDP channel: each write is one datagram, each read returns one."""
        return self._open("udp", {"udp": {"host": host, "port": port,
                                          "family": _family_number(family)}},
                          None, window, connect_timeout_ms, timeout)

    def channels(self) -> list:
        """The channels whose id is in use (including ones closing)."""
        return list(self._channels.values())

    # Listeners ----------------------------------------------------------------------------------

    def listen(self, address: str = "", port: int = 0, window: int = 0, backlog: int = 0,
               timeout: float | None = DEFAULT_TIMEOUT) -> Listener:
        """Asks the daemon to listen ("" every address, an IP literal, a Unix path or "@name");
        port 0: any (see Listener.address). window: our receive window for each accepted
        channel. Raises SluiceError from ListenFailed (ERROR_ADDRESS_IN_USE, ...)."""
        self._check_session()
        lid = self._next_listener
        while lid in self._listeners:
            lid = lid % _MAX_U32 + 1
        self._next_listener = lid % _MAX_U32 + 1
        lst = Listener(self, lid)
        lst.window = window or self.default_window
        self._listeners[lid] = lst
        self._send("listen", {"listener_id": lid, "address": address, "port": port,
                              "backlog": backlog, "window": window})
        try:
            self._wait(lambda: lst.state != "pending", _deadline(timeout))
        except TimeoutError:
            lst.close(timeout=0)
            raise
        if lst.state == "live":
            return lst
        code, message = lst.end_status or (ErrorCode.ERROR_INTERNAL, "")
        raise SluiceError(code, message)

    # Processing -------------------------------------------------------------------------------

    def process(self, timeout: float | None = 0) -> None:
        """Reads and sorts whatever frames arrive within timeout (0: only those already there).
        Raises the session's fault, never TimeoutError."""
        deadline = _deadline(timeout)
        fired = []
        try:
            self._wait(lambda: fired, deadline, once=True)
        except TimeoutError:
            pass

    def _check_session(self):
        if self._fault is not None:
            raise self._fault

    def _send(self, body: str, msg: dict | None, deadline=None) -> None:
        self._check_session()
        self._send_raw(codec.encode_frame(body, msg, self.max_frame), deadline)

    def _send_raw(self, frame: bytes, deadline=None) -> None:
        self._out += frame
        # Flush now (reading meanwhile, so the daemon is never blocked on us).
        self._wait(lambda: not self._out, deadline)

    def _wait(self, cond, deadline, once: bool = False) -> None:
        """Reads and sorts frames (writing queued frames as the socket allows) until cond()
        holds. Raises TimeoutError at the deadline, or the session fault."""
        while True:
            if self._fault is not None:
                if cond():
                    return
                raise self._fault
            if not self._out and cond():
                return
            if self._out:
                self._sel.modify(self._sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            if deadline is None:
                wait = None
            else:
                wait = max(0.0, deadline - time.monotonic())
            events = self._sel.select(wait)
            if self._out:
                self._sel.modify(self._sock, selectors.EVENT_READ)
            progressed = False
            for _, mask in events:
                if mask & selectors.EVENT_WRITE and self._out:
                    self._write_some()
                    progressed = True
                if mask & selectors.EVENT_READ and self._fault is None:
                    self._read_some()
                    progressed = True
            if once and progressed:
                if self._fault is not None:
                    raise self._fault
                return
            if deadline is not None and time.monotonic() >= deadline:
                if cond():
                    # Frames still queued (a Window, an answering Close) go out with the
                    # next call; try once now without blocking.
                    if self._out and self._fault is None:
                        self._write_some()
                    return
                if self._fault is not None:
                    raise self._fault
                raise TimeoutError("timed out")

    def _write_some(self):
        try:
            n = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            # EPIPE / ECONNRESET: the daemon may have sent an Error; read it before reporting.
            self._out.clear()
            self._drain_after_write_error(e)
            return
        del self._out[:n]

    def _drain_after_write_error(self, err: OSError):
        try:
            self._sock.setblocking(True)
            self._sock.settimeout(1.0)
            while self._fault is None:
                data = self._sock.recv(1 << 18)
                if not data:
                    break
                self._feed(data)
        except OSError:
            pass
        if self._fault is None:
            self._set_fault(SessionError(None, "writing to the daemon failed: %s" % err))

    def _read_some(self):
        try:
            data = self._sock.recv(1 << 18)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._set_fault(SessionError(None, "reading from the daemon failed: %s" % e))
            return
        if not data:
            self._set_fault(SessionError(None, "the daemon closed the session"))
            return
        self._feed(data)

    def _feed(self, data: bytes):
        self._reader.feed(data)
        while self._fault is None:
            try:
                frame = self._reader.next_frame()
            except DecodeError as e:
                err = SessionError(None, "bad frame from the daemon: %s" % e.message)
                err.__cause__ = e
                self._set_fault(err)
                return
            if frame is codec.NEED_MORE:
                return
            if frame is None:
                continue  # empty frame: no effect
            self._dispatch(*frame)

    def _protocol_error(self, what: str):
        self._set_fault(SessionError(None, "protocol violation by the daemon: %s" % what))

    def _set_fault(self, err: SluiceError):
        if self._fault is not None:
            return
        self._fault = err
        for ch in self._channels.values():
            if ch.state != Channel.CLOSED:
                ch.state = Channel.CLOSED
        for lst in self._listeners.values():
            lst.state = "closed"
        self._channels.clear()
        self._listeners.clear()
        self._drop_socket()

    def _drop_socket(self):
        self._out.clear()
        if self._sel is not None:
            try:
                self._sel.close()
            except Exception:
                pass
            self._sel = None
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    # Dispatch -----------------------------------------------------------------------------------

    def _dispatch(self, body: str, m: dict):
        handler = getattr(self, "_on_" + body, None)
        if handler is None:  # a C->D body
            self._protocol_error("a %s frame" % body)
            return
        handler(m)

    def _on_server_hello(self, m):
        if self.server_hello is not None or self.welcome is not None:
            return self._protocol_error("a second ServerHello")
        self.server_hello = m

    def _on_welcome(self, m):
        if self.server_hello is None or self.welcome is not None:
            return self._protocol_error("Welcome out of order")
        if m["version"] != PROTOCOL_VERSION:
            return self._protocol_error("Welcome for version %d" % m["version"])
        if m["max_frame"] < codec.MAX_HANDSHAKE_FRAME:
            return self._protocol_error("Welcome.max_frame %d" % m["max_frame"])
        self.welcome = m
        self.max_frame = m["max_frame"]
        self._reader.max_frame = m["max_frame"]

    def _on_error(self, m):
        code, message = _status(m["status"])
        self._set_fault(SessionError(code, message))

    def _on_go_away(self, m):
        self.go_away = (m["deadline_ms"], m["reason"])

    def _session_frame(self, name) -> bool:
        if self.welcome is None:
            self._protocol_error("%s before Welcome" % name)
            return False
        return True

    def _on_pong(self, m):
        if not self._session_frame("Pong"):
            return
        if m["payload"] in self._pongs:
            self._pongs[m["payload"]] = time.monotonic()

    def _on_resolved(self, m):
        if self._session_frame("Resolved") and ("resolved", m["request_id"]) in self._pending:
            self._replies[("resolved", m["request_id"])] = m

    def _on_stats(self, m):
        if self._session_frame("Stats") and ("stats", m["request_id"]) in self._pending:
            self._replies[("stats", m["request_id"])] = m

    # channels

    def _answer_close(self, ch: Channel):
        if not ch.close_sent:
            ch.close_sent = True
            self._send_later("close", {"channel_id": ch.id})

    def _send_later(self, body, msg):
        """Queues a frame from inside the reader (it is written by the running wait loop)."""
        self._out += codec.encode_frame(body, msg, self.max_frame)

    def _on_opened(self, m):
        if not self._session_frame("Opened"):
            return
        ch = self._channels.get(m["channel_id"])
        if ch is None or ch.state != Channel.OPENING:
            return  # CLOSING (a cancelled open): discard
        ch.state = Channel.OPEN
        ch.send_credit = 0 if ch.sent_shutdown else m["window"]
        ch.info = ChannelInfo(channel_id=ch.id, local_address=m["local_address"],
                              remote_address=m["remote_address"], send_window=m["window"],
                              receive_window=ch.recv_window, tls=_tls_info(m["tls"]))

    def _on_open_failed(self, m):
        if not self._session_frame("OpenFailed"):
            return
        ch = self._channels.get(m["channel_id"])
        if ch is None or ch.state not in (Channel.OPENING, Channel.CLOSING):
            return
        ch.end_status = _status(m["status"])
        if ch.end_status[0] == ErrorCode.ERROR_NONE:  # never ERROR_NONE per §4.2
            ch.end_status = (ErrorCode.ERROR_INTERNAL, "OpenFailed without a code")
        ch.state = Channel.CLOSED
        del self._channels[ch.id]

    def _on_data(self, m):
        if not self._session_frame("Data"):
            return
        ch = self._channels.get(m["channel_id"])
        if ch is None or ch.state != Channel.OPEN:
            return  # closing: discard; unknown: ignore
        payload = m["payload"]
        if ch.got_shutdown or len(payload) > ch.recv_credit:
            self._channel_fault(ch, ErrorCode.ERROR_WINDOW_EXCEEDED,
                                "%d bytes of Data with %d credit%s" % (
                                    len(payload), ch.recv_credit,
                                    " after Shutdown" if ch.got_shutdown else ""))
            return
        ch.recv_credit -= len(payload)
        if ch.kind == "udp":
            ch._dgrams.append(payload)
        else:
            ch._buf += payload

    def _channel_fault(self, ch: Channel, code: ErrorCode, message: str):
        ch.end_status = (code, message)
        ch.state = Channel.CLOSING
        ch.close_sent = True
        self._send_later("close", {"channel_id": ch.id,
                                   "status": {"code": code, "message": message}})

    def _on_window(self, m):
        if not self._session_frame("Window"):
            return
        ch = self._channels.get(m["channel_id"])
        if ch is None or ch.state != Channel.OPEN:
            return
        if ch.sent_shutdown:
            return  # our direction is done: credit means nothing any more
        if ch.send_credit + m["increment"] > _MAX_U32:
            self._channel_fault(ch, ErrorCode.ERROR_WINDOW_EXCEEDED, "credit past 2^32-1")
            return
        ch.send_credit += m["increment"]

    def _on_shutdown(self, m):
        if not self._session_frame("Shutdown"):
            return
        ch = self._channels.get(m["channel_id"])
        if ch is None or ch.state != Channel.OPEN:
            return
        ch.got_shutdown = True

    def _on_close(self, m):
        if not self._session_frame("Close"):
            return
        ch = self._channels.get(m["channel_id"])
        if ch is None:
            return  # not in use: ignore
        code, message = _status(m["status"])
        if ch.end_status is None:
            ch.end_status = (code, message)
        ch.close_received = True
        self._answer_close(ch)
        ch.state = Channel.CLOSED
        del self._channels[ch.id]

    # listeners

    def _on_listening(self, m):
        if not self._session_frame("Listening"):
            return
        lst = self._listeners.get(m["listener_id"])
        if lst is None or lst.state != "pending":
            return
        lst.address = m["bound_address"]
        lst.state = "closing" if lst._unlisten_sent else "live"

    def _on_listen_failed(self, m):
        if not self._session_frame("ListenFailed"):
            return
        lst = self._listeners.pop(m["listener_id"], None)
        if lst is None:
            return
        lst.end_status = _status(m["status"])
        if lst.end_status[0] == ErrorCode.ERROR_NONE:
            lst.end_status = (ErrorCode.ERROR_INTERNAL, "ListenFailed without a code")
        lst.state = "closed"

    def _on_listener_closed(self, m):
        if not self._session_frame("ListenerClosed"):
            return
        lst = self._listeners.pop(m["listener_id"], None)
        if lst is None:
            return
        lst.end_status = _status(m["status"])
        lst.state = "closed"

    def _on_accepted(self, m):
        if not self._session_frame("Accepted"):
            return
        cid = m["channel_id"]
        if cid <= _MAX_CLIENT_CHANNEL or cid in self._channels:
            return self._protocol_error("Accepted with channel id %d" % cid)
        lst = self._listeners.get(m["listener_id"])
        window = getattr(lst, "window", 0) or self.default_window
        ch = Channel(self, cid, "tcp", window)
        ch.state = Channel.OPEN
        ch.send_credit = m["window"]
        ch.info = ChannelInfo(channel_id=cid, listener_id=m["listener_id"],
                              local_address=m["local_address"],
                              remote_address=m["remote_address"], send_window=m["window"],
                              receive_window=window, tls=_tls_info(m["tls"]))
        if ch.info.local_address.startswith(("/", "@")):
            ch.kind = "unix"
        self._channels[cid] = ch
        if lst is None:
            # A listener we do not know (can not happen with our ids): refuse the connection.
            ch._closed_by_user = True
            ch.state = Channel.CLOSING
            ch.close_sent = True
            self._send_later("close", {"channel_id": cid})
            return
        lst._accepted.append(ch)


def _tls_options(server_name, alpn, cafile, insecure, trust_store, handshake_timeout_ms) -> dict:
    if isinstance(alpn, str):
        alpn = [a for a in alpn.replace(";", ",").split(",") if a]
    if cafile and trust_store:
        raise ValueError("cafile and trust_store are exclusive")
    msg = {"server_name": server_name or "", "alpn": list(alpn or []),
           "insecure_skip_verify": bool(insecure),
           "handshake_timeout_ms": handshake_timeout_ms}
    if cafile:
        with open(cafile, "rb") as f:
            msg["ca_pem"] = f.read()
    elif trust_store:
        msg["store"] = trust_store
    return msg


def connect(path: str | None = None, name: str = "python", timeout: float = DEFAULT_TIMEOUT) -> Client:
    """Client.connect."""
    return Client.connect(path, name, timeout)

# SPDX-License-Identifier: Apache-2.0
"""Integration tests of the Python client against the real sluiced.

SLUICED_PATH names the daemon binary (CTest sets it); PYTHONPATH must reach bindings/python.
Each test class starts its own daemon in a temporary directory and stops it with SIGTERM,
checking that it exits with status 0.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import sluice  # noqa: E402
from sluice import codec  # noqa: E402
from sluice.errors import DecodeError, ErrorCode, FrameTooLargeError, SessionError, SluiceError  # noqa: E402

SLUICED = os.environ.get("SLUICED_PATH", "")


# Peers ---------------------------------------------------------------------------------------------

class EchoServer:
    """A threaded echo server (TCP on loopback, or a Unix stream socket). For each connection
    it echoes until EOF, then shuts its write side down and records the EOF."""

    def __init__(self, unix_path: str | None = None):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()
        self.port = self.address[1] if not unix_path else 0
        self.eof_seen = threading.Event()
        self.received = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._conns.append(conn)
            t = threading.Thread(target=self._echo, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _echo(self, conn: socket.socket):
        conn.settimeout(0.2)
        try:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    self.eof_seen.set()
                    conn.shutdown(socket.SHUT_WR)
                    return
                with self._lock:
                    self.received += len(data)
                conn.settimeout(None)
                conn.sendall(data)
                conn.settimeout(0.2)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self._stop.set()
        self.sock.close()
        self._thread.join(5)
        for t in self._threads:
            t.join(5)


class UdpEcho:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.sock.sendto(data, addr)

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# The daemon ----------------------------------------------------------------------------------------

class DaemonTestCase(unittest.TestCase):
    """Starts sluiced for the class; stops it with SIGTERM at the end (exit status 0)."""

    @classmethod
    def setUpClass(cls):
        if not SLUICED or not os.access(SLUICED, os.X_OK):
            raise unittest.SkipTest("SLUICED_PATH does not name the built sluiced")
        cls.dir = tempfile.mkdtemp(prefix="sluice-py-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.socket_path = os.path.join(cls.dir, "s.sock")
        cls.log = open(os.path.join(cls.dir, "log"), "wb")
        cls.addClassCleanup(cls.log.close)
        cls.daemon = subprocess.Popen(
            [SLUICED, "--foreground", "--socket", cls.socket_path, "--threads", "1"],
            stdin=subprocess.DEVNULL, stdout=cls.log, stderr=subprocess.STDOUT)
        cls.addClassCleanup(cls._kill_daemon)
        deadline = time.monotonic() + 15
        while True:
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(cls.socket_path)
                break
            except OSError:
                if cls.daemon.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("sluiced did not start:\n" + cls._log_text())
                time.sleep(0.05)
            finally:
                probe.close()

    @classmethod
    def _log_text(cls) -> str:
        try:
            cls.log.flush()
            with open(os.path.join(cls.dir, "log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    @classmethod
    def _kill_daemon(cls):
        if cls.daemon.poll() is None:
            cls.daemon.kill()
            cls.daemon.wait(10)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.send_signal(signal.SIGTERM)
        try:
            status = cls.daemon.wait(20)
        except subprocess.TimeoutExpired:
            status = None
        if status != 0:
            raise AssertionError("sluiced exited with status %r after SIGTERM:\n%s"
                                 % (status, cls._log_text()))

    def connect(self, **kw) -> sluice.Client:
        c = sluice.Client.connect(self.socket_path, name="py-test", **kw)
        self.addCleanup(c.close)
        return c


# Codec tests (no daemon) ---------------------------------------------------------------------------

class CodecTest(unittest.TestCase):
    # docs/protocol.md §13.2, byte-exact.
    VECTORS = [
        ("ping", {"payload": 1}, "00 00 00 05 82 02 02 08 01"),
        ("data", {"channel_id": 1, "payload": b"hi"}, "00 00 00 08 6a 06 08 01 12 02 68 69"),
        ("pong", {"payload": 1}, "00 00 00 05 8a 02 02 08 01"),
        ("hello", {"version": 1, "client_name": "demo"},
         "00 00 00 0a 12 08 08 01 12 04 64 65 6d 6f"),
        ("open", {"channel_id": 1, "tcp": {"host": "localhost", "port": 7}},
         "00 00 00 13 52 11 08 01 12 0d 0a 09 6c 6f 63 61 6c 68 6f 73 74 10 07"),
        ("data", {"channel_id": 2147483648, "payload": b"hi"},
         "00 00 00 0c 6a 0a 08 80 80 80 80 08 12 02 68 69"),
        ("window", {"channel_id": 1, "increment": 131072}, "00 00 00 08 72 06 08 01 10 80 80 08"),
        ("shutdown", {"channel_id": 1}, "00 00 00 04 7a 02 08 01"),
        ("close", {"channel_id": 1}, "00 00 00 05 82 01 02 08 01"),
        ("close", {"channel_id": 3, "status": {"code": ErrorCode.ERROR_WINDOW_EXCEEDED}},
         "00 00 00 09 82 01 06 08 03 12 02 08 14"),
    ]

    def test_vectors(self):
        for body, msg, hexbytes in self.VECTORS:
            wire = bytes.fromhex(hexbytes)
            self.assertEqual(codec.encode_frame(body, msg), wire, body)
            got_body, got = codec.decode_frame(wire[4:])
            self.assertEqual(got_body, body)
            for k, v in msg.items():
                if isinstance(v, dict):
                    for k2, v2 in v.items():
                        self.assertEqual(got[k][k2], v2)
                else:
                    self.assertEqual(got[k], v)

    def test_round_trip_nested(self):
        stats = {"request_id": 7, "sessions": 2, "uptime_s": 1 << 40,
                 "session_channels": [{"channel_id": 1, "state": "open", "bytes_in": 5},
                                      {"channel_id": 2147483649, "remote_address": "[::1]:80"}]}
        body, got = codec.decode_frame(codec.encode_frame("stats", stats)[4:])
        self.assertEqual(body, "stats")
        self.assertEqual(got["uptime_s"], 1 << 40)
        self.assertEqual([c["channel_id"] for c in got["session_channels"]], [1, 2147483649])
        self.assertEqual(got["session_channels"][1]["remote_address"], "[::1]:80")
        self.assertEqual(got["session_channels"][1]["state"], "")
        opened = {"channel_id": 1, "tls": {"version": "TLSv1.3", "peer": {
            "subject": "CN=x", "sans": ["DNS:a", "IP:127.0.0.1"], "not_before": -5}}}
        _, got = codec.decode_frame(codec.encode_frame("opened", opened)[4:])
        self.assertEqual(got["tls"]["peer"]["sans"], ["DNS:a", "IP:127.0.0.1"])
        self.assertEqual(got["tls"]["peer"]["not_before"], -5)
        self.assertIsNone(got["tls"]["peer"]["issuer"] or None)
        # packed and unpacked repeated uint32 both decode
        self.assertEqual(codec.decode_message("ServerHello", bytes.fromhex("0a 02 01 02"))["versions"], [1, 2])
        self.assertEqual(codec.decode_message("ServerHello", bytes.fromhex("08 01 08 03"))["versions"], [1, 3])

    def test_oneof(self):
        with self.assertRaises(ValueError):
            codec.encode_message("Frame", {"ping": {}, "pong": {}})
        with self.assertRaises(ValueError):
            codec.encode_message("TlsClientOptions", {"store": "a", "ca_pem": b"b"})
        # a present oneof member with its default value is still encoded
        self.assertEqual(codec.encode_message("TlsClientOptions", {"system": False}), b"\x20\x00")
        # decoding keeps the last member
        raw = codec.encode_message("TlsClientOptions", {"store": "a"}) + \
            codec.encode_message("TlsClientOptions", {"ca_pem": b"pem"})
        got = codec.decode_message("TlsClientOptions", raw)
        self.assertIsNone(got["store"])
        self.assertEqual(got["ca_pem"], b"pem")
        self.assertEqual(codec.decode_frame(bytes.fromhex("82 02 00 8a 02 00"))[0], "pong")

    def test_unknown_fields_skipped(self):
        # Ping with unknown fields of every wire type around payload 5
        raw = bytes.fromhex("10 96 01" "19 0102030405060708" "08 05" "22 03 616263" "2d 01020304")
        self.assertEqual(codec.decode_message("Ping", raw)["payload"], 5)
        frame = bytes.fromhex("82 02") + bytes([len(raw)]) + raw + bytes.fromhex("a0 06 01")
        self.assertEqual(codec.decode_frame(frame), ("ping", {"payload": 5}))

    def test_malformed_raises(self):
        bad = {
            "truncated key varint": b"\x82",
            "truncated body length": b"\x82\x02",
            "length past the end": b"\x6a\x05\x08\x01",
            "inner length past the end": b"\x6a\x04\x12\x09\x68\x69",
            "known field, wrong wire type": b"\x68\x01",
            "inner field wrong wire type": b"\x6a\x02\x0a\x00",
            "no known body": b"\xa0\x06\x01",
            "field number 0": b"\x00\x01",
            "group wire type": b"\x83\x02",
            "varint over 10 bytes": b"\x6a\x0b\x08" + b"\xff" * 10,
            "invalid UTF-8": b"\x5a\x04\x12\x02\xff\xfe",
            "truncated fixed64": b"\x09\x01\x02",
        }
        for what, raw in bad.items():
            with self.assertRaises(DecodeError, msg=what) as cm:
                codec.decode_frame(raw)
            self.assertEqual(cm.exception.code, ErrorCode.ERROR_FRAME_MALFORMED, what)
        self.assertIsNone(codec.decode_frame(b""))  # N = 0: an empty frame

    def test_fuzz_never_crashes(self):
        rng = random.Random(1234)
        seeds = [bytes.fromhex(v[2])[4:] for v in self.VECTORS]
        for i in range(3000):
            if i % 2:
                raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
            else:
                raw = bytearray(rng.choice(seeds))
                for _ in range(rng.randrange(1, 4)):
                    raw[rng.randrange(len(raw))] = rng.randrange(256)
                raw = bytes(raw[:rng.randrange(1, len(raw) + 1)])
            try:
                codec.decode_frame(raw)
            except DecodeError:
                pass

    def test_frame_over_max_rejected(self):
        r = codec.FrameReader(65536)
        r.feed(b"\x00\x01\x00\x00")  # 65,536: fine, waits for the body
        self.assertIs(r.next_frame(), codec.NEED_MORE)
        r = codec.FrameReader(65536)
        r.feed(b"\x00\x01\x00\x01")  # 65,537: rejected from the 4 length bytes alone
        with self.assertRaises(FrameTooLargeError) as cm:
            r.next_frame()
        self.assertEqual(cm.exception.code, ErrorCode.ERROR_FRAME_TOO_LARGE)
        with self.assertRaises(FrameTooLargeError):
            codec.encode_frame("data", {"channel_id": 1, "payload": b"x" * 65536}, max_frame=65536)
        # frames split at every byte boundary reassemble
        wire = b"".join(bytes.fromhex(v[2]) for v in self.VECTORS) + b"\x00\x00\x00\x00"
        r = codec.FrameReader(65536)
        got = []
        for b in wire:
            r.feed(bytes([b]))
            got.extend(r.frames())
        self.assertEqual([f[0] for f in got[:-1]], [v[0] for v in self.VECTORS])
        self.assertIsNone(got[-1])

    def test_error_codes(self):
        e = SluiceError(40, "connection refused")
        self.assertIs(e.code, ErrorCode.ERROR_REFUSED)
        self.assertEqual(e.code.name, "ERROR_REFUSED")
        self.assertEqual(int(e.code), 40)
        self.assertEqual(ErrorCode(999).name, "ERROR_UNKNOWN_999")  # unknown codes are accepted

    def test_default_socket_path(self):
        saved = {k: os.environ.get(k) for k in ("SLUICE_SOCKET", "XDG_RUNTIME_DIR")}
        try:
            os.environ["SLUICE_SOCKET"] = "/x/y.sock"
            self.assertEqual(sluice.default_socket_path(), "/x/y.sock")
            os.environ["SLUICE_SOCKET"] = ""
            os.environ["XDG_RUNTIME_DIR"] = "/run/user/1000"
            expect = "/run/sluice/sluiced.sock" if os.geteuid() == 0 else \
                "/run/user/1000/sluice/sluiced.sock"
            self.assertEqual(sluice.default_socket_path(), expect)
            del os.environ["XDG_RUNTIME_DIR"]
            expect = "/run/sluice/sluiced.sock" if os.geteuid() == 0 else \
                "/tmp/sluice-%d/sluiced.sock" % os.geteuid()
            self.assertEqual(sluice.default_socket_path(), expect)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class OversizedFromDaemonTest(unittest.TestCase):
    """The client rejects a frame over Welcome.max_frame from the length alone. A real daemon
    never sends one, so a tiny scripted server plays the daemon here."""

    def test_client_rejects_oversized_frame(self):
        d = tempfile.mkdtemp(prefix="sluice-py-fake-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "fake.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(path)
        srv.listen(1)

        def play():
            conn, _ = srv.accept()
            with conn:
                conn.sendall(codec.encode_frame("server_hello", {"versions": [1], "daemon": "fake"}))
                conn.recv(4096)  # Hello
                conn.sendall(codec.encode_frame("welcome", {"version": 1, "max_frame": 65536,
                                                            "default_window": 65536}))
                conn.sendall((65537).to_bytes(4, "big"))
                time.sleep(2)

        t = threading.Thread(target=play, daemon=True)
        t.start()
        c = sluice.Client.connect(path, timeout=5)
        self.addCleanup(c.close)
        with self.assertRaises(SessionError) as cm:
            c.ping(timeout=5)
        self.assertIsInstance(cm.exception.__cause__, FrameTooLargeError)
        with self.assertRaises(SessionError):  # every later call: the same fault
            c.stats()
        t.join(5)


# Daemon tests --------------------------------------------------------------------------------------

class ClientTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.echo = EchoServer()
        cls.addClassCleanup(cls.echo.close)
        cls.udp = UdpEcho()
        cls.addClassCleanup(cls.udp.close)

    def test_handshake_and_ping(self):
        c = self.connect()
        self.assertEqual(c.welcome["version"], 1)
        self.assertGreaterEqual(c.max_frame, 65536)
        self.assertGreater(c.default_window, 0)
        self.assertGreater(c.session_id, 0)
        self.assertIn(1, c.server_hello["versions"])
        self.assertEqual(len(c.server_hello["nonce"]), 32)
        rtt = c.ping()
        self.assertGreater(rtt, 0)
        self.assertLess(rtt, 5)
        self.assertLess(c.ping(), 5)

    def test_resolve(self):
        c = self.connect()
        self.assertEqual(c.resolve("127.0.0.1"), [("127.0.0.1", 4, 0)])
        self.assertEqual(c.resolve("::1", 6), [("::1", 6, 0)])
        addrs = c.resolve("localhost")
        self.assertTrue(addrs)
        self.assertTrue({a for a, _, _ in addrs} & {"127.0.0.1", "::1"}, addrs)
        for _, fam, _ in addrs:
            self.assertIn(fam, (4, 6))
        with self.assertRaises(SluiceError) as cm:
            c.resolve("127.0.0.1", 6)  # an IP literal of the other family
        self.assertIn(cm.exception.code, (ErrorCode.ERROR_INVALID_ARGUMENT,
                                          ErrorCode.ERROR_NAME_NOT_FOUND))
        c.ping()  # the session goes on

    def test_tcp_echo_16mib_small_window(self):
        c = self.connect()
        ch = c.open_tcp("127.0.0.1", self.echo.port, window=4096)
        self.addCleanup(ch.close)
        self.assertEqual(ch.info.receive_window, 4096)
        self.assertEqual(ch.info.remote_address, "127.0.0.1:%d" % self.echo.port)
        total = 16 << 20
        rng = random.Random(7)
        block = rng.randbytes(1 << 20)
        sent_hash, got_hash = hashlib.sha256(), hashlib.sha256()
        sent = got = 0
        chunk = 65536
        while sent < total or got < total:
            if sent < total and sent - got < (1 << 20):
                piece = block[sent % len(block):][:chunk]
                piece = piece[:total - sent]
                ch.write(piece, timeout=20)
                sent_hash.update(piece)
                sent += len(piece)
                timeout = 0
            else:
                timeout = 20
            while got < sent:
                try:
                    data = ch.read(1 << 20, timeout=timeout)
                except TimeoutError:
                    if timeout:
                        raise
                    break
                self.assertTrue(data, "unexpected end of stream")
                got_hash.update(data)
                got += len(data)
                timeout = 0
        self.assertEqual(got, total)
        self.assertEqual(got_hash.hexdigest(), sent_hash.hexdigest())
        self.assertIsNone(ch.end_status)
        self.assertLessEqual(ch.buffered, 4096)
        ch.shutdown()
        self.assertEqual(ch.read(10, timeout=10), b"")

    def test_half_close(self):
        srv = EchoServer()
        self.addCleanup(srv.close)
        c = self.connect()
        ch = c.open_tcp("localhost", srv.port, family=4)
        ch.write(b"hello, ")
        ch.write(b"world")
        ch.shutdown()
        self.assertTrue(srv.eof_seen.wait(10), "the echo peer never saw EOF")
        self.assertEqual(ch.read_all(timeout=10), b"hello, world")
        self.assertEqual(ch.read(10, timeout=5), b"")
        with self.assertRaises(sluice.ClosedError):
            ch.write(b"more")
        # both directions done: the daemon sends Close ERROR_NONE and the id becomes free
        deadline = time.monotonic() + 10
        while ch.state != "closed" and time.monotonic() < deadline:
            c.process(0.1)
        self.assertEqual(ch.state, "closed")
        self.assertEqual(ch.end_status[0], ErrorCode.ERROR_NONE)
        ch.close()

    def test_refused(self):
        c = self.connect()
        port = free_port()
        with self.assertRaises(SluiceError) as cm:
            c.open_tcp("127.0.0.1", port, timeout=15)
        self.assertIs(cm.exception.code, ErrorCode.ERROR_REFUSED)
        self.assertEqual(cm.exception.code.name, "ERROR_REFUSED")
        self.assertEqual(int(cm.exception.code), 40)
        self.assertEqual(c.channels(), [])  # OpenFailed frees the id
        c.ping()  # the session goes on
        with self.assertRaises(SluiceError) as cm:
            c.open_tcp("127.0.0.1", 0)
        self.assertIs(cm.exception.code, ErrorCode.ERROR_INVALID_ARGUMENT)
        c.ping()

    # docs/protocol.md §4.2: "A Unix path that does not exist is ERROR_NAME_NOT_FOUND".
    def test_unix_path_missing_is_name_not_found(self):
        c = self.connect()
        with self.assertRaises(SluiceError) as cm:
            c.open_unix(os.path.join(self.dir, "nothing-here.sock"))
        self.assertIs(cm.exception.code, ErrorCode.ERROR_NAME_NOT_FOUND)

    def test_unix_path_not_listening_is_refused(self):
        path = os.path.join(self.dir, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()  # the path exists, nobody listens
        c = self.connect()
        with self.assertRaises(SluiceError) as cm:
            c.open_unix(path)
        self.assertIs(cm.exception.code, ErrorCode.ERROR_REFUSED)

    def test_open_timeout_cancels(self):
        # A listener whose accept queue is full: Linux drops further SYNs, so a connect hangs.
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        fillers = []
        for _ in range(3):
            f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.addCleanup(f.close)
            f.setblocking(False)
            f.connect_ex(srv.getsockname())
            fillers.append(f)
        time.sleep(0.1)
        c = self.connect()
        with self.assertRaises(TimeoutError):
            c.open_tcp("127.0.0.1", srv.getsockname()[1], timeout=0.3)
        # the Close crossed Opened (or cancelled the connect): either way the id becomes free
        deadline = time.monotonic() + 10
        while c.channels() and time.monotonic() < deadline:
            c.process(0.1)
        self.assertEqual(c.channels(), [])
        c.ping()

    def test_listen(self):
        c = self.connect()
        lst = c.listen("127.0.0.1", 0, window=8192)
        self.addCleanup(lst.close)
        self.assertTrue(lst.address.startswith("127.0.0.1:"), lst.address)
        self.assertGreater(lst.port, 0)
        with self.assertRaises(TimeoutError):
            lst.accept(timeout=0)
        peer = socket.create_connection(("127.0.0.1", lst.port), timeout=10)
        self.addCleanup(peer.close)
        ch = lst.accept(timeout=10)
        self.assertGreaterEqual(ch.id, 1 << 31)
        self.assertEqual(ch.info.listener_id, lst.id)
        self.assertEqual(ch.info.remote_address, "127.0.0.1:%d" % peer.getsockname()[1])
        self.assertEqual(ch.info.receive_window, 8192)
        # peer -> client, more than the window so credit must flow back
        payload = random.Random(3).randbytes(100_000)
        t = threading.Thread(target=peer.sendall, args=(payload,), daemon=True)
        t.start()
        self.assertEqual(ch.read_exactly(len(payload), timeout=10), payload)
        t.join(10)
        # client -> peer
        ch.write(b"reply from the client")
        peer.settimeout(10)
        buf = b""
        while len(buf) < 21:
            buf += peer.recv(100)
        self.assertEqual(buf, b"reply from the client")
        # the peer half-closes: the channel reads the end
        peer.shutdown(socket.SHUT_WR)
        self.assertEqual(ch.read(10, timeout=10), b"")
        ch.close()
        # unlisten: ListenerClosed, then no more connections
        lst.close()
        self.assertEqual(lst.state, "closed")
        self.assertEqual(lst.end_status[0], ErrorCode.ERROR_NONE)
        with self.assertRaises(sluice.ClosedError):
            lst.accept(timeout=1)
        # docs/protocol.md §7: the listening socket is closed before ListenerClosed is sent.
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", lst.port), timeout=5).close()
        c.ping()

    def test_listen_address_in_use(self):
        c = self.connect()
        lst = c.listen("127.0.0.1", 0)
        self.addCleanup(lst.close)
        with self.assertRaises(SluiceError) as cm:
            c.listen("127.0.0.1", lst.port)
        self.assertIs(cm.exception.code, ErrorCode.ERROR_ADDRESS_IN_USE)

    def test_stats_lists_channel(self):
        c = self.connect()
        ch = c.open_tcp("127.0.0.1", self.echo.port)
        self.addCleanup(ch.close)
        ch.write(b"x" * 1000)
        self.assertEqual(ch.read_exactly(1000, timeout=10), b"x" * 1000)
        st = c.stats()
        for key in ("sessions", "channels", "listeners", "bytes_in", "bytes_out", "uptime_s"):
            self.assertIn(key, st)
        self.assertGreaterEqual(st["sessions"], 1)
        self.assertGreaterEqual(st["channels"], 1)
        mine = [s for s in st["session_channels"] if s["channel_id"] == ch.id]
        self.assertEqual(len(mine), 1, st["session_channels"])
        s = mine[0]
        self.assertEqual(s["state"], "open")
        self.assertEqual(s["remote_address"], ch.info.remote_address)
        self.assertEqual(s["bytes_out"], 1000)
        self.assertEqual(s["bytes_in"], 1000)
        ch.close()
        c.ping()
        self.assertEqual([s for s in c.stats()["session_channels"] if s["channel_id"] == ch.id
                          and s["state"] not in ("closing",)], [])

    def test_udp_echo(self):
        c = self.connect()
        ch = c.open_udp("127.0.0.1", self.udp.port)
        self.addCleanup(ch.close)
        for i in range(20):
            msg = b"datagram %d " % i + b"u" * (i * 50)
            ch.write(msg)
            self.assertEqual(ch.read(65536, timeout=10), msg)
        # several in flight keep their boundaries
        msgs = [b"a" * 10, b"b" * 300, b"c"]
        for m in msgs:
            ch.write(m)
        self.assertEqual([ch.read(65536, timeout=10) for _ in msgs], msgs)

    def test_unix_channel(self):
        path = os.path.join(self.dir, "echo.sock")
        srv = EchoServer(unix_path=path)
        self.addCleanup(srv.close)
        c = self.connect()
        ch = c.open_unix(path)
        ch.write(b"over unix")
        ch.shutdown()
        self.assertEqual(ch.read_all(timeout=10), b"over unix")
        ch.close()

    def test_many_channels_one_session(self):
        c = self.connect()
        chans = [c.open_tcp("127.0.0.1", self.echo.port, window=2048) for _ in range(4)]
        for i, ch in enumerate(chans):
            ch.write(bytes([65 + i]) * 5000)
        # read them in reverse order: the others' data is sorted and buffered meanwhile
        for i, ch in reversed(list(enumerate(chans))):
            self.assertEqual(ch.read_exactly(5000, timeout=10), bytes([65 + i]) * 5000)
            ch.close()
        self.assertEqual(len({ch.id for ch in chans}), 4)

    def test_session_fault_ends_client(self):
        c = self.connect()
        c._send("hello", {"version": 1})  # a second Hello: ERROR_OUT_OF_ORDER (§3)
        with self.assertRaises(SessionError) as cm:
            c.ping(timeout=10)
        self.assertIs(cm.exception.code, ErrorCode.ERROR_OUT_OF_ORDER)
        with self.assertRaises(SessionError) as cm2:
            c.stats()
        self.assertIs(cm2.exception, cm.exception)
        self.assertTrue(c.closed)

    def test_daemon_rejects_oversized_frame(self):
        c = self.connect()
        max_frame = c.max_frame
        with self.assertRaises(FrameTooLargeError):  # the client refuses to send one
            c._send("open", {"channel_id": 1, "tcp": {"host": "x" * max_frame, "port": 1}})
        c.ping()  # nothing was sent: the session goes on
        # A raw session sends N = max_frame + 1: Error {ERROR_FRAME_TOO_LARGE}, then EOF.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.settimeout(10)
        s.connect(self.socket_path)
        reader = codec.FrameReader()
        frames = []

        def next_frame():
            while True:
                f = reader.next_frame()
                if f is not codec.NEED_MORE:
                    return f
                data = s.recv(65536)
                if not data:
                    return None
                reader.feed(data)

        self.assertEqual(next_frame()[0], "server_hello")
        s.sendall(codec.encode_frame("hello", {"version": 1, "client_name": "raw"}))
        body, welcome = next_frame()
        self.assertEqual(body, "welcome")
        reader.max_frame = welcome["max_frame"]
        s.sendall((welcome["max_frame"] + 1).to_bytes(4, "big") + b"\x00" * 64)
        while True:
            f = next_frame()
            if f is None:
                break
            frames.append(f)
        self.assertEqual([b for b, _ in frames][-1:], ["error"], frames)
        self.assertEqual(frames[-1][1]["status"]["code"], ErrorCode.ERROR_FRAME_TOO_LARGE)

    # docs/protocol.md §4.4: a client Close with a code other than ERROR_NONE makes the daemon
    # abort the connection: the peer sees a reset, not a clean end.
    def test_abort_resets_peer(self):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        c = self.connect()
        ch = c.open_tcp("127.0.0.1", srv.getsockname()[1])
        peer, _ = srv.accept()
        self.addCleanup(peer.close)
        ch.write(b"hello")
        peer.settimeout(10)
        self.assertEqual(peer.recv(10), b"hello")
        ch.close(abort=True)
        c.ping()
        with self.assertRaises(ConnectionResetError):
            peer.recv(10)

    def test_peer_reset_is_error_reset(self):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        c = self.connect()
        ch = c.open_tcp("127.0.0.1", srv.getsockname()[1])
        self.addCleanup(ch.close)
        peer, _ = srv.accept()
        peer.sendall(b"last words")
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()  # RST
        got = b""
        with self.assertRaises(SluiceError) as cm:
            while True:
                chunk = ch.read(100, timeout=10)
                self.assertNotEqual(chunk, b"", "a clean end instead of ERROR_RESET")
                got += chunk
        self.assertIs(cm.exception.code, ErrorCode.ERROR_RESET)
        self.assertIn(got, (b"", b"last words"))  # data before the reset may be lost with it

    def test_open_cancel_and_reuse(self):
        c = self.connect()
        ch = c.open_tcp("127.0.0.1", self.echo.port)
        ch.close(abort=True)
        with self.assertRaises(sluice.ClosedError):
            ch.read(1, timeout=0)
        c.ping()
        ch2 = c.open_tcp("127.0.0.1", self.echo.port)
        self.assertNotEqual(ch2.id, 0)
        ch2.write(b"again")
        self.assertEqual(ch2.read_exactly(5, timeout=10), b"again")
        ch2.close()


class TlsEchoServer(EchoServer):
    """The echo server behind TLS (Python's ssl module, a self-signed certificate)."""

    def __init__(self, certfile: str, keyfile: str):
        import ssl
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.ctx.set_alpn_protocols(["echo/1"])
        super().__init__()

    def _echo(self, conn):
        try:
            conn.settimeout(10)
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except OSError:  # a handshake the client refused
            conn.close()
            return
        try:
            while True:
                data = tls.recv(65536)
                if not data:
                    break
                tls.sendall(data)
        except OSError:
            pass
        finally:
            tls.close()


class TlsTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("no openssl command to make a certificate")
        super().setUpClass()
        cls.cert = os.path.join(cls.dir, "cert.pem")
        cls.key = os.path.join(cls.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=sluice-test", "-addext",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", cls.key, "-out", cls.cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.server = TlsEchoServer(cls.cert, cls.key)
        cls.addClassCleanup(cls.server.close)

    def test_tls_with_cafile(self):
        c = self.connect()
        ch = c.open_tcp("127.0.0.1", self.server.port, tls=True, cafile=self.cert,
                        alpn=["echo/1"], timeout=20)
        self.addCleanup(ch.close)
        tls = ch.info.tls
        self.assertIsNotNone(tls)
        self.assertTrue(tls.version.startswith("TLSv1."), tls)
        self.assertEqual(tls.alpn, "echo/1")
        self.assertIn("sluice-test", tls.peer.subject)
        self.assertIn("IP:127.0.0.1", ", ".join(tls.peer.sans))  # see test_tls_sans_entries
        self.assertGreater(tls.peer.not_after, tls.peer.not_before)
        ch.write(b"secret " * 1000)
        self.assertEqual(ch.read_exactly(7000, timeout=10), b"secret " * 1000)

    # proto/sluice.proto PeerCertificate.sans is `repeated string`, one SAN per entry
    # ("DNS:example.com", "IP:127.0.0.1"; docs/protocol.md §13.3).
    def test_tls_sans_entries(self):
        c = self.connect()
        ch = c.open_tcp("127.0.0.1", self.server.port, cafile=self.cert, timeout=20)
        self.addCleanup(ch.close)
        self.assertEqual(sorted(ch.info.tls.peer.sans), ["DNS:localhost", "IP:127.0.0.1"])

    def test_tls_unknown_ca_then_insecure(self):
        c = self.connect()
        with self.assertRaises(SluiceError) as cm:
            c.open_tcp("127.0.0.1", self.server.port, tls=True, timeout=20)
        self.assertIs(cm.exception.code, ErrorCode.ERROR_TLS_UNKNOWN_CA)
        ch = c.open_tcp("localhost", self.server.port, family=4, insecure=True, timeout=20)
        self.addCleanup(ch.close)
        self.assertIsNotNone(ch.info.tls)
        ch.write(b"ok")
        self.assertEqual(ch.read_exactly(2, timeout=10), b"ok")


class GoAwayTest(DaemonTestCase):
    """SIGTERM while a session has a listener and a channel (docs/protocol.md §9)."""

    def test_go_away(self):
        echo = EchoServer()
        self.addCleanup(echo.close)
        c = self.connect()
        lst = c.listen("127.0.0.1", 0)
        ch = c.open_tcp("127.0.0.1", echo.port)
        self.daemon.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while c.go_away is None and time.monotonic() < deadline:
            c.process(0.1)
        self.assertIsNotNone(c.go_away, "no GoAway after SIGTERM")
        self.assertGreater(c.go_away[0], 0)
        # 1. the listener is closed with ERROR_SHUTTING_DOWN
        with self.assertRaises(SluiceError) as cm:
            lst.accept(timeout=10)
        self.assertIs(cm.exception.code, ErrorCode.ERROR_SHUTTING_DOWN)
        # 2. new opens fail; open channels and requests go on
        with self.assertRaises(SluiceError) as cm:
            c.open_tcp("127.0.0.1", echo.port)
        self.assertIs(cm.exception.code, ErrorCode.ERROR_SHUTTING_DOWN)
        c.ping()
        ch.write(b"still here")
        self.assertEqual(ch.read_exactly(10, timeout=10), b"still here")
        # 3. once no channel is in use: Error {ERROR_SHUTTING_DOWN} and the end of the session
        ch.close()
        with self.assertRaises(SessionError) as cm:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                c.process(0.2)
        self.assertIs(cm.exception.code, ErrorCode.ERROR_SHUTTING_DOWN)
        self.assertEqual(self.daemon.wait(20), 0)


if __name__ == "__main__":
    unittest.main()

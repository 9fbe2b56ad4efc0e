# SPDX-License-Identifier: Apache-2.0
"""sluice: a pure-Python client of sluiced (docs/protocol.md), standard library only.

    import sluice
    with sluice.Client.connect() as c:
        print(c.ping())
        ch = c.open_tcp("example.com", 443, tls=True, alpn=["http/1.1"])
        ch.write(b"GET / HTTP/1.1\\r\\nHost: example.com\\r\\nConnection: close\\r\\n\\r\\n")
        print(ch.read_all(timeout=10))
"""

from .client import (DEFAULT_TIMEOUT, PROTOCOL_VERSION, Channel, ChannelInfo, Client, Listener,
                     PeerCertificate, TlsInfo, connect, default_socket_path)
from .errors import (ClosedError, DecodeError, ErrorCode, Family, FrameTooLargeError,
                     SessionError, SluiceError)

__all__ = [
    "Channel", "ChannelInfo", "Client", "ClosedError", "DecodeError", "DEFAULT_TIMEOUT",
    "ErrorCode", "Family", "FrameTooLargeError", "Listener", "PeerCertificate",
    "PROTOCOL_VERSION", "SessionError", "SluiceError", "TlsInfo", "connect",
    "default_socket_path",
]

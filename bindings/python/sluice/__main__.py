# SPDX-License-Identifier: Apache-2.0
"""python3 -m sluice [--socket PATH] ping|resolve HOST [4|6]|stats"""

from __future__ import annotations

import argparse
import sys

from .client import Client, default_socket_path
from .errors import SluiceError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m sluice", description="a small sluiced client")
    p.add_argument("--socket", help="the daemon's socket (default: %s)" % default_socket_path())
    p.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("ping", help="round trip to the daemon")
    r = sub.add_parser("resolve", help="resolve a name through the daemon")
    r.add_argument("host")
    r.add_argument("family", nargs="?", type=int, default=0, choices=(0, 4, 6))
    sub.add_parser("stats", help="the daemon's counters and this session's channels")
    args = p.parse_args(argv)
    try:
        client = Client.connect(args.socket, name="python -m sluice", timeout=args.timeout)
    except (OSError, SluiceError) as e:
        print("sluice: cannot reach the daemon at %s: %s"
              % (args.socket or default_socket_path(), e), file=sys.stderr)
        return 2
    try:
        with client:
            if args.cmd == "ping":
                rtt = client.ping(args.timeout)
                print("pong from session %d: rtt %.3f ms" % (client.session_id, rtt * 1000))
            elif args.cmd == "resolve":
                for address, family, ttl in client.resolve(args.host, args.family, args.timeout):
                    print("%s\tIPv%d\tttl %ds" % (address, family, ttl))
            else:
                st = client.stats(args.timeout)
                for key in ("sessions", "channels", "listeners", "bytes_in", "bytes_out",
                            "uptime_s"):
                    print("%s: %d" % (key, st[key]))
                for ch in st["session_channels"]:
                    print("channel %(channel_id)d %(state)s %(remote_address)s in %(bytes_in)d "
                          "out %(bytes_out)d" % ch)
    except (SluiceError, TimeoutError) as e:
        print("sluice: %s" % (e or "timed out"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The local stack's DNS server (dnslib): answers TXT queries from a small JSON file, so domains verify locally.

The file maps a name to its TXT texts, `{"contoso.example": ["partner-platform-verification=..."]}`; it is read again
whenever it changes, so a record added while the stack runs counts at the next lookup. Every other query is answered
NXDOMAIN (it is no recursive resolver: DNS_RESOLVER points only the app's verification lookups at it).

    .venv/bin/python -m devhost.dns_server add contoso.example 'partner-platform-verification=<token>'
    .venv/bin/python -m devhost.dns_server list
    .venv/bin/python -m devhost.dns_server remove contoso.example
    .venv/bin/python -m devhost.dns_server serve --port 1053 --records .local/dns-records.json   (the stack runs this)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSServer

from devhost.identity import LOCAL_DIR

RECORDS = LOCAL_DIR / "dns-records.json"


def _name(value: str) -> str:
    return value.strip().rstrip(".").lower()


def read_records(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {_name(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])] for k, vs in data.items()} if isinstance(data, dict) else {}


def write_records(path: Path, records: dict[str, list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)  # whole or not at all: the server never reads half a file


def add_record(path: Path, name: str, text: str) -> None:
    records = read_records(path)
    texts = records.setdefault(_name(name), [])
    if text not in texts:
        texts.append(text)
    write_records(path, records)


class FileResolver(BaseResolver):
    """TXT answers from the records file (re-read when its modification time changes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: float | None = None
        self._records: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def records(self) -> dict[str, list[str]]:
        with self._lock:
            try:
                stamp = self.path.stat().st_mtime_ns
            except OSError:
                stamp = None
            if stamp != self._stamp:
                self._records, self._stamp = read_records(self.path), stamp
            return self._records

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        qname = request.q.qname
        texts = self.records().get(_name(str(qname)))
        if texts is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype in (QTYPE.TXT, QTYPE.ANY):
            for text in texts:
                # A TXT string holds at most 255 bytes: longer texts go as several strings of one record.
                raw = text.encode("utf-8")
                reply.add_answer(RR(qname, QTYPE.TXT, ttl=5, rdata=TXT([raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""])))
        return reply


class LocalDns:
    """The server on 127.0.0.1:`port`, over UDP and TCP (answers too long for UDP are retried over TCP)."""

    def __init__(self, port: int, records: Path) -> None:
        self.port = port
        self.resolver = FileResolver(records)
        self.servers = [DNSServer(self.resolver, port=port, address="127.0.0.1", tcp=tcp, logger=_Quiet()) for tcp in (False, True)]

    def start(self) -> LocalDns:
        for server in self.servers:
            server.start_thread()
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            server.server.server_close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


class _Quiet:
    """dnslib's logger interface, silent: a query per verification is no news."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost.dns_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=Path, default=RECORDS, help=f"the records file (default {RECORDS})")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--port", type=int, default=1053)
    add = sub.add_parser("add")
    add.add_argument("name")
    add.add_argument("text")
    remove = sub.add_parser("remove")
    remove.add_argument("name")
    sub.add_parser("list")
    args = parser.parse_args(argv)
    if args.command == "add":
        add_record(args.records, args.name, args.text)
        print(f"TXT {_name(args.name)} \"{args.text}\" (in {args.records})")
    elif args.command == "remove":
        records = read_records(args.records)
        records.pop(_name(args.name), None)
        write_records(args.records, records)
    elif args.command == "list":
        print(json.dumps(read_records(args.records), indent=2, sort_keys=True))
    else:
        dns = LocalDns(args.port, args.records).start()
        print(f"DNS on {dns.address} (UDP and TCP), TXT records from {args.records}", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1):
                pass
        except KeyboardInterrupt:
            pass
        dns.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m simtenant --graph-port P --login-port P2 --data-dir DIR --seed demo``.

Binds both ports, then writes ``DIR/cert.pem`` (the authority's certificate, for the portal's
CA file) and ``DIR/simtenant.json``: a non-empty cert.pem means the simulator is listening.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from simtenant import defaults, seed
from simtenant.certs import make_certificate, write_atomically
from simtenant.control import Control
from simtenant.server import SimServer
from simtenant.state import Tenant


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simtenant", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--graph-port", type=int, required=True, help="Graph API (http)")
    parser.add_argument("--login-port", type=int, required=True, help="token endpoint (https)")
    parser.add_argument("--data-dir", type=Path, required=True, help="where cert.pem goes")
    parser.add_argument("--seed", choices=sorted(seed.SEEDS), default="demo")
    parser.add_argument(
        "--cert-host",
        action="append",
        default=[],
        help="extra host name in the certificate (e.g. the compose service)",
    )
    parser.add_argument("--tenant-id", default=defaults.SIM_TENANT_ID)
    parser.add_argument("--client-id", default=defaults.SIM_CLIENT_ID)
    parser.add_argument("--client-secret", default=defaults.SIM_CLIENT_SECRET)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s simtenant %(message)s")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    hosts = ["127.0.0.1", "::1", "localhost", *args.cert_host]
    if args.host not in ("0.0.0.0", "::"):  # noqa: S104 - a listen address, not a binding
        hosts.append(args.host)
    signing_key, cert_pem, key_pem = make_certificate(hosts=hosts)
    key_file = args.data_dir / "key.pem"
    write_atomically(key_file, key_pem, mode=0o600)
    pending_cert = args.data_dir / "cert.pem.pending"
    pending_cert.write_bytes(cert_pem)

    tenant = Tenant(tenant_id=args.tenant_id)
    seed.apply(tenant, seed=args.seed, client_id=args.client_id, client_secret=args.client_secret)
    login_host = args.cert_host[0] if args.cert_host else "127.0.0.1"
    server = SimServer(
        tenant=tenant,
        control=Control(tenant, client_id=args.client_id, client_secret=args.client_secret),
        host=args.host,
        graph_port=args.graph_port,
        login_port=args.login_port,
        login_base_url=f"https://{login_host}:{args.login_port}",
        cert_file=str(pending_cert),
        key_file=str(key_file),
        signing_key=signing_key,
    )
    server.start()
    info = {
        "graph_url": f"http://{login_host}:{args.graph_port}/v1.0",
        "login_url": f"https://{login_host}:{args.login_port}",
        "tenant_id": args.tenant_id,
        "client_id": args.client_id,
    }
    write_atomically(args.data_dir / "simtenant.json", json.dumps(info, indent=2).encode())
    write_atomically(args.data_dir / "cert.pem", cert_pem)
    pending_cert.unlink()
    logging.info("ready: graph %s, authority %s", info["graph_url"], info["login_url"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):  # a timed wait lets the signal handler run promptly
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""der-gateway certs: create and extend the test PKI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from .. import pki
from ..pki import IssuedCertificate, PKIError
from . import progress
from .progress import Progress

DEFAULT_DIR = Path("certs")


def register(subparsers: argparse._SubParsersAction) -> None:
    certs = subparsers.add_parser("certs", help="create and list IEEE 2030.5 test certificates")
    commands = certs.add_subparsers(dest="certs_command", required=True)

    init = commands.add_parser("init", help="create a SERCA, a MICA, and server/aggregator/device certificates")
    _add_dir(init)
    init.add_argument("--devices", type=_count, default=1, metavar="N", help="device certificates to issue (default 1)")
    init.add_argument("--force", action="store_true", help="replace an existing PKI and its certificates")
    progress.add_option(init)
    init.set_defaults(run=_guarded(_run_init))

    issue = commands.add_parser("issue", help="issue one more certificate from the existing MICA")
    _add_dir(issue)
    issue.add_argument("--kind", required=True, choices=pki.KINDS)
    issue.add_argument("name", help="certificate name; the files are NAME.pem and NAME.key")
    issue.set_defaults(run=_guarded(_run_issue))

    listing = commands.add_parser("list", help="show the certificates in the manifest")
    _add_dir(listing)
    listing.set_defaults(run=_guarded(_run_list))


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"certs directory (default ./{DEFAULT_DIR})")


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except PKIError as exc:
            print(f"der-gateway certs: error: {exc}", file=sys.stderr)
            return 2

    return wrapper


def _run_init(args: argparse.Namespace) -> int:
    shown = Progress.of(args)
    with shown.bar("issuing certificates", len(pki.leaves(args.devices)), "cert") as bar:
        issued = pki.init_pki(args.dir, devices=args.devices, force=args.force, on_issued=lambda _: bar.update())
    store = pki.CertStore(args.dir)
    print(f"SERCA (trust anchor): {store.serca_cert}  key={store.serca_key}")
    print(f"MICA: {store.mica_cert}  key={store.mica_key}")
    for cert in issued:
        _print(cert)
    kinds = [cert.kind for cert in issued]
    shown.summary(f"issued a SERCA, a MICA and {len(issued)} certificates ("
                  + ", ".join(f"{kind} {kinds.count(kind)}" for kind in dict.fromkeys(kinds)) + f") into {args.dir}")
    return 0


def _run_issue(args: argparse.Namespace) -> int:
    _print(pki.issue(args.dir, args.kind, args.name))
    return 0


def _run_list(args: argparse.Namespace) -> int:
    for cert in pki.read_manifest(args.dir):
        _print(cert)
    return 0


def _print(cert: IssuedCertificate) -> None:
    print(
        f"{cert.name:<12} {cert.kind:<10} LFDI={cert.lfdi} SFDI={cert.sfdi}"
        f"  cert={cert.cert_path} key={cert.key_path}"
    )

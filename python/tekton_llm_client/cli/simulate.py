"""`tekton-llm simulate`: run a Rhetor simulator until SIGINT/SIGTERM.

Once listening it prints exactly one line to stdout, ``RHETOR_SIMULATOR_URL=http://HOST:PORT``
(flushed), so that other tools (node tests, benchmark drivers) can start it as a subprocess and
read the address; ``--port 0`` picks a free port. Everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from .._backend import require_native
from . import _exit

# Where the token comes from when not on the command line (visible in /proc/PID/cmdline).
AUTH_TOKEN_ENV = "TEKTON_SIM_AUTH_TOKEN"

# Every knob of docs/simulator.md, as `--kebab-case VALUE` options: the simulator's own list
# (`unavailable_providers` has its own repeatable option).
KNOBS = tuple(n for n in require_native().SIM_KNOB_NAMES if n != "unavailable_providers")


def add_parser(subparsers: Any) -> None:
    """Adds the ``simulate`` subcommand to the ``tekton-llm`` parser."""
    p = subparsers.add_parser(
        "simulate",
        help="run a Rhetor v1 simulator (HTTP, SSE, WebSocket) with fault injection",
        description=(
            "Serve a simulated Rhetor until SIGINT/SIGTERM. Prints RHETOR_SIMULATOR_URL=... once "
            "listening. Knob options set defaults for every request; requests can override them "
            'with X-Sim-* headers or a "sim" JSON object (see docs/simulator.md).'
        ),
    )
    p.add_argument("--port", type=int, default=8003, help="TCP port (0 = pick a free one; default 8003)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    token = p.add_mutually_exclusive_group()
    token.add_argument(
        "--auth-token",
        default=None,
        help=f"require Authorization: Bearer TOKEN (visible to other local users in the process "
        f"list: prefer --auth-token-file or ${AUTH_TOKEN_ENV})",
    )
    token.add_argument(
        "--auth-token-file",
        default=None,
        metavar="PATH",
        help="read the token from this file (its first line, surrounding whitespace removed)",
    )
    p.add_argument("--path-prefix", default=None, help="also serve every route under this prefix")
    p.add_argument(
        "--unavailable-provider",
        action="append",
        default=[],
        metavar="ID",
        help="a provider that answers 503 (repeatable)",
    )
    p.add_argument(
        "--tls-cert", default=None, metavar="PEM", help="serve https:// and wss:// with this certificate chain"
    )
    p.add_argument("--tls-key", default=None, metavar="PEM", help="the private key of --tls-cert")
    p.add_argument("--workers", type=int, default=1, help="simulator runtime threads (default 1)")
    p.add_argument(
        "--header-read-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="close a connection that sends no complete request head within this (default 30)",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="close a WebSocket that sends nothing, or a connection that reads nothing, for this long (default 120)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=512,
        metavar="N",
        help="open connections at most; more get 503 and are closed (default 512)",
    )
    p.add_argument(
        "--record",
        action="store_true",
        help="record requests in memory (off by default: nobody can read them from outside)",
    )
    knobs = p.add_argument_group("knobs (defaults for every request)")
    for name in KNOBS:
        knobs.add_argument("--" + name.replace("_", "-"), dest="knob_" + name, default=None, metavar="VALUE")
    knobs.add_argument(
        "--knob",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any knob by name (repeatable), e.g. --knob unavailable_providers=openai,ollama",
    )


def _knobs(args: argparse.Namespace) -> dict[str, Any]:
    knobs: dict[str, Any] = {}
    for name in KNOBS:
        value = getattr(args, "knob_" + name, None)
        if value is not None:
            knobs[name] = value  # text: the simulator parses numbers, booleans and lists
    for item in getattr(args, "knob", []) or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--knob expects NAME=VALUE, got {item!r}")
        knobs[name.strip()] = value.strip()
    return knobs


def _auth_token(args: argparse.Namespace) -> str | None:
    """--auth-token, else --auth-token-file, else $TEKTON_SIM_AUTH_TOKEN, else none."""
    if args.auth_token is not None:
        token: str | None = args.auth_token
    elif args.auth_token_file is not None:
        with open(args.auth_token_file, encoding="utf-8") as f:
            token = f.readline().strip()
        if not token:
            raise ValueError(f"--auth-token-file {args.auth_token_file}: the file holds no token")
    else:
        token = os.environ.get(AUTH_TOKEN_ENV, "").strip() or None
    return token


def run(args: argparse.Namespace) -> int:
    """Runs the simulator in the foreground; returns the exit status."""
    from ..testing import RhetorSimulator

    try:
        token = _auth_token(args)
    except OSError as exc:
        raise _exit.CommandError(
            "usage", f"--auth-token-file {args.auth_token_file}: {exc.strerror or exc}", _exit.USAGE
        ) from None
    except ValueError as exc:
        raise _exit.CommandError("usage", str(exc), _exit.USAGE) from None
    try:
        sim = RhetorSimulator(
            port=args.port,
            host=args.host,
            auth_token=token,
            unavailable_providers=args.unavailable_provider,
            path_prefix=args.path_prefix,
            record=args.record,
            worker_threads=max(1, args.workers),
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            header_read_timeout=args.header_read_timeout,
            idle_timeout=args.idle_timeout,
            max_connections=args.max_connections,
            **_knobs(args),
        )
        sim.start()
    except OSError as exc:  # "Address already in use" and friends: say which address
        raise _exit.CommandError(
            "listen", f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", _exit.FAILED
        ) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a bad knob, port or TLS option
        raise _exit.CommandError("usage", str(exc), _exit.USAGE) from None

    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"RHETOR_SIMULATOR_URL={sim.root_url}", flush=True)
        print(
            f"Rhetor simulator listening on {sim.url} (WebSocket {sim.ws_url}); Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):  # a timed wait lets the signal handler run promptly
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0

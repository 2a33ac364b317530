#!/usr/bin/env python
"""Compare ASGI servers (uvicorn vs granian) for a bare Litestar app, one worker.

The script writes a hello-world Litestar app (``GET /healthz`` -> ``{"status": "ok"}``)
to a temporary directory, then for each round starts every selected server in
turn on a free 127.0.0.1 port, measures the time until ``/healthz`` first
answers 200, drives it with ``wrk`` and stops it.

Servers are interleaved round by round (A, B, A, B, ...) so that noise from a
shared machine hits every server alike; the summary uses medians over rounds
and also a *paired* ratio (each round's req/s divided by the reference
server's req/s in that same round), which is the more noise-robust figure.

Run with the project's virtualenv interpreter, e.g.::

    /work/venv/bin/python bench/server_choice.py --duration 10 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"  # never benchmark anything but loopback
PATH = "/healthz"
EXPECTED_BODY = {"status": "ok"}

APP_SOURCE = textwrap.dedent(
    """\
    from litestar import Litestar, get


    @get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}


    app = Litestar(route_handlers=[healthz])
    """
)

# Servers are launched through ``sys.executable -m`` so that they are the ones
# installed next to the interpreter running this script (the venv), whatever
# is on PATH.
PY = sys.executable

# Each entry maps a name to its argv; "{port}" is substituted at launch.
SERVERS: dict[str, list[str]] = {
    "uvicorn": [
        PY,
        "-m",
        "uvicorn",
        "app:app",
        "--host",
        HOST,
        "--port",
        "{port}",
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ],
    # Best single-worker granian settings found on this box (see the
    # granian-* variants below to re-check them):
    # - --http 1: uvicorn+httptools only speaks HTTP/1.1, so both servers
    #   run the same protocol ("auto" measured the same within noise).
    # - --loop uvloop: same event loop as uvicorn (the default "auto" also
    #   picks uvloop unless rloop is installed; explicit keeps it stable).
    # - --runtime-mode mt: what "auto" resolves to for ASGI; "st" measured
    #   within noise (~3%) of it on a 2-core box, so keep granian's default
    #   but pin it so an upstream default change shows up as a diff here.
    # - --task-impl rust is left out: granian flags it experimental (and it
    #   is ignored on Python >= 3.12); its gain was within noise.
    "granian": [
        PY,
        "-m",
        "granian",
        "app:app",
        "--interface",
        "asgi",
        "--host",
        HOST,
        "--port",
        "{port}",
        "--workers",
        "1",
        "--no-ws",
        "--loop",
        "uvloop",
        "--http",
        "1",
        "--runtime-mode",
        "mt",
        "--no-access-log",
        "--log-level",
        "warning",
    ],
}

# Opt-in granian variants (pass them via --servers) to re-validate the choice
# of options above when granian or the hardware changes.
_GRANIAN_BASE = [
    PY,
    "-m",
    "granian",
    "app:app",
    "--interface",
    "asgi",
    "--host",
    HOST,
    "--port",
    "{port}",
    "--workers",
    "1",
    "--no-ws",
    "--no-access-log",
    "--log-level",
    "warning",
]
SERVERS |= {
    "granian-defaults": _GRANIAN_BASE,
    "granian-st": [*_GRANIAN_BASE, "--loop", "uvloop", "--http", "1", "--runtime-mode", "st"],
    "granian-mt": [*_GRANIAN_BASE, "--loop", "uvloop", "--http", "1", "--runtime-mode", "mt"],
    # Experimental in granian and only honoured on Python < 3.12.
    "granian-rusttask": [
        *_GRANIAN_BASE,
        "--loop",
        "uvloop",
        "--http",
        "1",
        "--task-impl",
        "rust",
    ],
}

DEFAULT_SERVERS = ["uvicorn", "granian"]


@dataclass
class RunResult:
    rps: float
    avg_ms: float
    p50_ms: float
    p99_ms: float
    startup_s: float
    errors: str = ""


@dataclass
class Samples:
    runs: list[RunResult] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)


def free_port() -> int:
    # Small race between close() and the server's bind(), acceptable here.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def probe(port: int) -> bool:
    """True once /healthz answers 200 with the expected body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=1)
    try:
        conn.request("GET", PATH)
        resp = conn.getresponse()
        body = resp.read()
    except OSError:
        return False
    finally:
        conn.close()
    if resp.status != 200:
        return False
    if json.loads(body) != EXPECTED_BODY:
        # A wrong body means the benchmark is measuring the wrong thing.
        raise RuntimeError(f"unexpected /healthz body: {body!r}")
    return True


def start_server(
    argv: list[str], cwd: Path, log: Path, timeout: float, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, float]:
    """Start a server and return it with its time-to-first-200 in seconds.

    ``env`` replaces the inherited environment when given (bench/startup_healthz.py).
    """
    port = int(argv[argv.index("--port") + 1])
    # Output goes to a file, not a pipe: nobody drains a pipe during the run,
    # and a full pipe would stall the server mid-benchmark. Both streams are
    # kept because granian logs to stdout while uvicorn logs to stderr.
    with log.open("wb") as out:
        t0 = time.perf_counter()
        # A new session lets us signal the whole group: granian forks its
        # worker from a supervisor process and both must go between runs.
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited early ({proc.returncode}):\n{log.read_text(errors='replace')}"
            )
        if probe(port):
            return proc, time.perf_counter() - t0
        time.sleep(0.01)
    stop_server(proc)
    raise RuntimeError(f"server not ready after {timeout}s: {' '.join(argv)}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
    # Reap stray group members (e.g. a granian worker outliving its parent).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _to_ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if not m:
        raise ValueError(f"cannot parse wrk duration {value!r}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def parse_wrk(output: str) -> tuple[float, float, float, float, str]:
    """Return (req/s, avg ms, p50 ms, p99 ms, error summary) from `wrk --latency`."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    avg = _to_ms(re.search(r"Latency\s+(\S+)", output).group(1))
    p50 = _to_ms(re.search(r"^\s*50%\s+(\S+)", output, re.M).group(1))
    p99 = _to_ms(re.search(r"^\s*99%\s+(\S+)", output, re.M).group(1))
    errors = []
    if m := re.search(r"Socket errors:.*", output):
        errors.append(m.group(0).strip())
    if m := re.search(r"Non-2xx or 3xx responses:\s+\d+", output):
        errors.append(m.group(0).strip())
    return rps, avg, p50, p99, "; ".join(errors)


def run_wrk(
    wrk: str,
    port: int,
    threads: int,
    connections: int,
    duration: int,
    path: str = PATH,
    headers: tuple[str, ...] = (),
) -> str:
    """``wrk --latency`` output; ``headers`` are "Name: value" strings."""
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        *(arg for h in headers for arg in ("-H", h)),
        f"http://{HOST}:{port}{path}",
    ]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def fmt_cmd(argv: list[str]) -> str:
    return " ".join(argv)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=int, default=10, help="wrk seconds per measured run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds; each server runs once per round"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk open connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="unmeasured wrk seconds before each run (0 disables)",
    )
    parser.add_argument(
        "--servers",
        default=",".join(DEFAULT_SERVERS),
        help=f"comma-separated configs, in launch order; available: {', '.join(SERVERS)}",
    )
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk", help="wrk binary")
    parser.add_argument(
        "--startup-timeout", type=float, default=30.0, help="seconds to wait for first 200"
    )
    args = parser.parse_args()
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in args.servers if s not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s): {', '.join(unknown)}")
    if args.rounds < 1 or args.duration < 1 or args.connections < 1:
        parser.error("--rounds, --duration and --connections must be >= 1")
    if not Path(args.wrk).exists():
        parser.error(f"wrk not found at {args.wrk}")
    return args


def print_summary(results: dict[str, Samples]) -> None:
    medians = {name: s.median("rps") for name, s in results.items()}
    best = max(medians, key=medians.get)
    rounds = len(results[best].runs)
    # Paired ratio: per round, this server's req/s over the best server's
    # req/s in the same round; cancels noise that affects a whole round.
    paired = {
        name: statistics.median(s.runs[i].rps / results[best].runs[i].rps for i in range(rounds))
        for name, s in results.items()
    }
    header = (
        f"{'server':<18}{'req/s (med)':>12}{'min..max':>18}{'p50 ms':>9}{'avg ms':>9}"
        f"{'p99 ms':>9}{'vs best':>9}{'paired':>8}{'startup s':>11}"
    )
    print()
    print(header)
    print("-" * len(header))
    for name, s in sorted(results.items(), key=lambda kv: -medians[kv[0]]):
        rps = [r.rps for r in s.runs]
        spread = f"{min(rps):.0f}..{max(rps):.0f}"
        print(
            f"{name:<18}{medians[name]:>12.0f}{spread:>18}{s.median('p50_ms'):>9.2f}"
            f"{s.median('avg_ms'):>9.2f}{s.median('p99_ms'):>9.2f}"
            f"{medians[name] / medians[best]:>9.3f}{paired[name]:>8.3f}"
            f"{s.median('startup_s'):>11.3f}"
        )
    print(f"\nbest: {best}  (medians over {rounds} round(s); startup = launch to first 200)")


def main() -> int:
    args = parse_args()
    results = {name: Samples() for name in args.servers}

    with tempfile.TemporaryDirectory(prefix="erpkit-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "app.py").write_text(APP_SOURCE)
        print(
            f"rounds={args.rounds} duration={args.duration}s warmup={args.warmup}s "
            f"wrk -t{args.threads} -c{args.connections} cpus={os.cpu_count()}"
        )
        for name in args.servers:
            print(f"  {name}: {fmt_cmd(SERVERS[name])}")

        for rnd in range(1, args.rounds + 1):
            for name in args.servers:
                port = free_port()
                argv = [str(port) if a == "{port}" else a for a in SERVERS[name]]
                log = workdir / f"{name}-round{rnd}.log"
                proc, startup = start_server(argv, workdir, log, args.startup_timeout)
                try:
                    if args.warmup:
                        run_wrk(args.wrk, port, args.threads, args.connections, args.warmup)
                    out = run_wrk(args.wrk, port, args.threads, args.connections, args.duration)
                finally:
                    stop_server(proc)
                rps, avg, p50, p99, errors = parse_wrk(out)
                results[name].runs.append(RunResult(rps, avg, p50, p99, startup, errors))
                # Surface anything the server logged at warning level or above.
                if server_log := log.read_text(errors="replace").strip():
                    errors = "; ".join(filter(None, [errors, f"server log: {server_log}"]))
                note = f"  [{errors}]" if errors else ""
                print(
                    f"round {rnd} {name:<18} {rps:>10.0f} req/s  p50 {p50:6.2f} ms  "
                    f"avg {avg:6.2f} ms  p99 {p99:6.2f} ms  startup {startup:.3f} s{note}",
                    flush=True,
                )

    print_summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Platform overhead of erpkit: start-up time and throughput against bare Litestar.

Measures, at one granian worker on 127.0.0.1:

1. Start-up time from process launch to the first ``GET /healthz`` answering
   200, for the real ``erpkit serve`` on a fresh data directory (creates and
   migrates the SQLite database) and again on that now existing directory,
   against a bare Litestar hello world served by granian with the options
   ``erpkit serve`` passes to granian (erpkit/core/cli.py): ASGI, 1 worker,
   uvloop, HTTP/1, no websockets, factory target, granian defaults otherwise.
2. ``/healthz`` throughput with wrk, erpkit against the bare app.
3. For context, the throughput of an authenticated JSON page,
   ``GET /api/v1/me`` with a Bearer token from ``POST /api/v1/auth/token``.

The machine is shared and noisy, so every round measures every case (the order
of bare and erpkit alternates from round to round), the summary reports
medians, and ratios against the baseline come from the same run: the ratio of
medians and a *paired* ratio (median of the per-slot ratios, each erpkit
figure divided by the bare figure measured next to it), the more noise-robust.

Server start, readiness polling, wrk and its parsing come from
bench/server_choice.py. Run with the project's virtualenv interpreter::

    /work/venv/bin/python bench/startup_healthz.py --duration 10 --rounds 3
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from server_choice import HOST, free_port, parse_wrk, run_wrk, start_server, stop_server

PY = sys.executable
ERPKIT = str(Path(PY).with_name("erpkit"))
ADMIN_PASSWORD = "bench-pass-123"  # a throw-away benchmark database
ME_PATH = "/api/v1/me"

# The baseline: same route and body as erpkit's /healthz, built by a factory
# because erpkit's granian target is one (factory=True).
BARE_APP = textwrap.dedent(
    """\
    from litestar import Litestar, get


    @get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}


    def create_app() -> Litestar:
        return Litestar(route_handlers=[healthz])
    """
)

# The options `erpkit serve` gives granian.Granian(...) in erpkit/core/cli.py, as
# CLI flags; everything it leaves at granian's default is left at the default
# here too (runtime mode auto, log level info, no access log, no respawn).
BARE_ARGV = [
    PY,
    "-m",
    "granian",
    "--interface",
    "asgi",
    "--host",
    HOST,
    "--port",
    "{port}",
    "--workers",
    "1",
    "--loop",
    "uvloop",
    "--http",
    "1",
    "--no-ws",
    "--factory",
    "--no-access-log",
    "app:create_app",
]
ERPKIT_ARGV = [ERPKIT, "serve", "--host", HOST, "--port", "{port}"]

BARE, FRESH, EXISTING = "bare", "fresh", "existing"
STARTUP_LABELS = {
    BARE: "bare Litestar (baseline)",
    FRESH: "erpkit, fresh data dir",
    EXISTING: "erpkit, existing data dir",
}
BARE_HZ, ERP_HZ, ERP_ME = "bare-healthz", "erpkit-healthz", "erpkit-me"
THROUGHPUT_LABELS = {
    BARE_HZ: "bare Litestar GET /healthz",
    ERP_HZ: "erpkit GET /healthz",
    ERP_ME: "erpkit GET /api/v1/me (Bearer)",
}
_SERVER_TROUBLE = re.compile(r"warn|error|critical|traceback|exception", re.I)


@dataclass
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str


def clean_env() -> dict[str, str]:
    """The inherited environment without settings that would change what is measured."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ERPKIT_", "GRANIAN_"))}


def with_port(argv: list[str], port: int) -> list[str]:
    return [str(port) if a == "{port}" else a for a in argv]


def server_trouble(log: Path) -> str:
    """Lines of a server log that look like warnings or errors (erpkit logs at info)."""
    lines = log.read_text(errors="replace").splitlines()
    return " | ".join(line.strip() for line in lines if _SERVER_TROUBLE.search(line))


def stop(proc, log: Path) -> str:
    """Stop a server; return the trouble it logged while it served.

    Read before stopping: stop_server signals the whole process group, so granian's
    supervisor may log the worker's exit as unexpected, which is no measurement issue.
    """
    trouble = server_trouble(log)
    stop_server(proc)
    return trouble


def request_json(
    port: int, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, object]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        hdrs = {"content-type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw


def bearer_token(port: int) -> str:
    """A fresh API token for admin, checked against /api/v1/me."""
    status, body = request_json(
        port, "POST", "/api/v1/auth/token", {"username": "admin", "password": ADMIN_PASSWORD}
    )
    if status != 201 or not isinstance(body, dict) or "token" not in body:
        raise RuntimeError(f"POST /api/v1/auth/token answered {status}: {body!r}")
    token = body["token"]
    status, me = request_json(port, "GET", ME_PATH, headers={"authorization": f"Bearer {token}"})
    if status != 200 or not isinstance(me, dict) or me.get("username") != "admin":
        raise RuntimeError(f"GET {ME_PATH} with the token answered {status}: {me!r}")
    return token


class Bench:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.root = root
        self.bare_cwd = root / "bare"
        self.bare_cwd.mkdir()
        (self.bare_cwd / "app.py").write_text(BARE_APP)
        self.erp_cwd = root / "erpkit-cwd"  # no erpkit.toml here
        self.erp_cwd.mkdir()
        self.launches = 0
        self.startup: dict[str, list[float]] = {k: [] for k in STARTUP_LABELS}
        self.wrk: dict[str, list[WrkRun]] = {k: [] for k in THROUGHPUT_LABELS}

    # -- launching -------------------------------------------------------------------

    def launch(self, case: str, data_dir: Path | None = None):
        """Start bare or erpkit on a free port: (process, port, seconds to first 200, log)."""
        self.launches += 1
        port = free_port()
        log = self.root / f"launch{self.launches:03d}-{case}.log"
        if data_dir is None:
            argv, cwd, env = with_port(BARE_ARGV, port), self.bare_cwd, clean_env()
        else:
            argv, cwd = with_port(ERPKIT_ARGV, port), self.erp_cwd
            env = clean_env() | {
                "ERPKIT_DATA_DIR": str(data_dir),
                "ERPKIT_ADMIN_PASSWORD": ADMIN_PASSWORD,
            }
        proc, seconds = start_server(argv, cwd, log, self.args.startup_timeout, env=env)
        return proc, port, seconds, log

    def new_data_dir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="data-", dir=self.root))

    def erpkit_starts(self, data_dir: Path) -> tuple[float, float]:
        """Seconds to first 200 on a fresh, then on the same (now existing) data dir."""
        times = []
        for case in (FRESH, EXISTING):
            proc, _port, seconds, log = self.launch(case, data_dir)
            if trouble := stop(proc, log):
                print(f"  erpkit {case} server log: {trouble}")
            text = log.read_text(errors="replace")
            # Make sure each case is the one it claims to be.
            migrated = "upgrading core" in text
            if migrated != (case == FRESH):
                raise RuntimeError(f"erpkit {case} start: unexpected migration log:\n{text}")
            times.append(seconds)
        if not (data_dir / "erpkit.db").exists():
            raise RuntimeError(f"no erpkit.db in {data_dir}")
        return times[0], times[1]

    # -- measuring -------------------------------------------------------------------

    def measure(self, port: int, path: str, headers: tuple[str, ...] = ()) -> WrkRun:
        a = self.args
        if a.warmup:
            run_wrk(a.wrk, port, a.threads, a.connections, a.warmup, path, headers)
        out = run_wrk(a.wrk, port, a.threads, a.connections, a.duration, path, headers)
        rps, _avg, p50, p99, errors = parse_wrk(out)
        return WrkRun(rps, p50, p99, errors)

    def record(self, rnd: int, key: str, run: WrkRun, trouble: str) -> None:
        self.wrk[key].append(run)
        notes = [n for n in (run.errors, trouble) if n]
        note = f"  [{'; '.join(notes)}]" if notes else ""
        print(
            f"round {rnd} {THROUGHPUT_LABELS[key]:<31} {run.rps:>8.0f} req/s  "
            f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms{note}",
            flush=True,
        )

    def startup_phase(self, rnd: int) -> None:
        for rep in range(self.args.startup_repeats):
            slot = (rnd + rep) % 2  # alternate who goes first
            got: dict[str, float] = {}
            for server in ("bare", "erpkit") if slot == 0 else ("erpkit", "bare"):
                if server == "bare":
                    proc, _port, got[BARE], log = self.launch(BARE)
                    if trouble := stop(proc, log):
                        print(f"  bare server log: {trouble}")
                else:
                    got[FRESH], got[EXISTING] = self.erpkit_starts(self.new_data_dir())
            for key, seconds in got.items():
                self.startup[key].append(seconds)
            print(
                f"round {rnd} start-up {rep + 1}: bare {got[BARE]:.3f} s  "
                f"erpkit fresh {got[FRESH]:.3f} s  existing {got[EXISTING]:.3f} s",
                flush=True,
            )

    def throughput_phase(self, rnd: int) -> None:
        order = ("bare", "erpkit") if rnd % 2 else ("erpkit", "bare")
        for server in order:
            if server == "bare":
                proc, port, _s, log = self.launch(BARE)
                try:
                    run = self.measure(port, "/healthz")
                finally:
                    trouble = stop(proc, log)
                self.record(rnd, BARE_HZ, run, trouble)
                continue
            data_dir = self.new_data_dir()
            self.erpkit_starts(data_dir)  # fresh database, migrated, admin created
            proc, port, _s, log = self.launch(EXISTING, data_dir)
            try:
                hz = self.measure(port, "/healthz")
                auth = (f"Authorization: Bearer {bearer_token(port)}",)
                me = self.measure(port, ME_PATH, auth)
            finally:
                trouble = stop(proc, log)
            self.record(rnd, ERP_HZ, hz, trouble)
            self.record(rnd, ERP_ME, me, trouble)

    def run(self) -> None:
        # One unmeasured start of each so that the first measured one does not pay
        # for cold disk caches (imports, .pyc files).
        proc, *_ = self.launch(BARE)
        stop_server(proc)
        self.erpkit_starts(self.new_data_dir())
        for rnd in range(1, self.args.rounds + 1):
            self.startup_phase(rnd)
            self.throughput_phase(rnd)


# -- report ------------------------------------------------------------------------------


def paired(num: list[float], den: list[float]) -> float:
    return statistics.median(n / d for n, d in zip(num, den, strict=True))


def spread(values: list[float], fmt: str) -> str:
    return f"{min(values):{fmt}}..{max(values):{fmt}}"


def print_report(bench: Bench, args: argparse.Namespace) -> None:
    st, wrk = bench.startup, bench.wrk
    n_st, n_wrk = len(st[BARE]), len(wrk[BARE_HZ])
    base = statistics.median(st[BARE])
    print()
    print(f"Start-up, launch to first 200 on /healthz (seconds, {n_st} launches per case)")
    header = f"{'case':<32}{'median':>9}{'min..max':>15}{'vs bare':>9}{'paired':>8}"
    print(header)
    print("-" * len(header))
    for key, label in STARTUP_LABELS.items():
        med = statistics.median(st[key])
        ratio = "" if key == BARE else f"{med / base:>8.2f}x"
        pair = "" if key == BARE else f"{paired(st[key], st[BARE]):>7.2f}x"
        print(f"{label:<32}{med:>9.3f}{spread(st[key], '.3f'):>15}{ratio:>9}{pair:>8}")

    print()
    print(
        f"Throughput, wrk -t{args.threads} -c{args.connections} -d{args.duration}s, 1 worker "
        f"({n_wrk} rounds; latency = median of per-round percentiles)"
    )
    header = (
        f"{'case':<32}{'req/s':>8}{'min..max':>14}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'vs bare':>9}{'paired':>8}"
    )
    print(header)
    print("-" * len(header))
    base_rps = [r.rps for r in wrk[BARE_HZ]]
    for key, label in THROUGHPUT_LABELS.items():
        runs = wrk[key]
        rps = [r.rps for r in runs]
        med = statistics.median(rps)
        ratio = pair = ""
        if key == ERP_HZ:
            ratio = f"{med / statistics.median(base_rps):>8.3f}x"
            pair = f"{paired(rps, base_rps):>7.3f}x"
        print(
            f"{label:<32}{med:>8.0f}{spread(rps, '.0f'):>14}"
            f"{statistics.median(r.p50_ms for r in runs):>9.2f}"
            f"{statistics.median(r.p99_ms for r in runs):>9.2f}{ratio:>9}{pair:>8}"
        )
    errors = [f"{k}: {r.errors}" for k, runs in wrk.items() for r in runs if r.errors]
    if errors:
        print("\nwrk reported errors (figures above include them):")
        for line in errors:
            print(f"  {line}")
    print(
        "\nvs bare = ratio of medians; paired = median of per-round (per-slot) ratios, "
        "bare measured next to erpkit in the same run"
    )


# -- command line ------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=int, default=10, help="wrk seconds per measured run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds; every case is measured once per round"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk open connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="unmeasured wrk seconds before each measured run (0 disables)",
    )
    parser.add_argument(
        "--startup-repeats",
        type=int,
        default=3,
        help="start-up measurements of each case per round",
    )
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk", help="wrk binary")
    parser.add_argument(
        "--startup-timeout", type=float, default=60.0, help="seconds to wait for the first 200"
    )
    args = parser.parse_args()
    if min(args.rounds, args.duration, args.connections, args.threads, args.startup_repeats) < 1:
        parser.error(
            "--rounds, --duration, --connections, --threads and --startup-repeats must be >= 1"
        )
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    if not Path(args.wrk).exists():
        parser.error(f"wrk not found at {args.wrk}")
    if not Path(ERPKIT).exists():
        parser.error(f"erpkit not found next to the interpreter: {ERPKIT}")
    return args


def main() -> int:
    args = parse_args()
    versions = ", ".join(
        f"{dist} {metadata.version(dist)}" for dist in ("erpkit", "litestar", "granian")
    )
    print(
        f"{versions}; cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f}\n"
        f"rounds={args.rounds} duration={args.duration}s warmup={args.warmup}s "
        f"wrk -t{args.threads} -c{args.connections} startup-repeats={args.startup_repeats}\n"
        f"  bare:   {' '.join(BARE_ARGV)}\n"
        f"  erpkit: {' '.join(ERPKIT_ARGV)}  (ERPKIT_DATA_DIR=<temp>, ERPKIT_ADMIN_PASSWORD)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="erpkit-platform-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        bench.run()
    print_report(bench, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

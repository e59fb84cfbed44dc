"""Command line of the Kubernetes API emulator.

    python -m k8s_emulator serve --state-dir DIR [--port 0] [--controller-delay 0.5]   # foreground
    python -m k8s_emulator up    --state-dir DIR [--port 0] [--controller-delay 0.5]   # background, reused
    python -m k8s_emulator down  --state-dir DIR

``serve`` writes ``DIR/kubeconfig`` (context ``emulator``, user ``admin`` with a random bearer token in
group ``system:masters``, the CA as ``certificate-authority-data``), ``DIR/ca.crt``, ``DIR/port`` and
appends one JSON line per request to ``DIR/requests.log``. ``up`` starts ``serve`` detached, records its
pid in ``DIR/emulator.pid`` and returns once ``/readyz`` answers; if the recorded emulator is alive and
healthy it is reused. ``down`` stops it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Optional

PID_FILE = "emulator.pid"


def _serve(args) -> int:
    from k8s_emulator import server

    httpd, emulator = server.build(args.state_dir, args.port, args.controller_delay)
    stop = threading.Event()

    def _terminate(signum, frame):
        stop.set()
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    print(f"k8s-emulator serving on https://127.0.0.1:{httpd.server_address[1]} "
          f"(kubeconfig {os.path.join(args.state_dir, 'kubeconfig')})", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        emulator.stop()
        httpd.server_close()
        if httpd.request_log is not None:
            httpd.request_log.close()
    return 0


def _read_pid(state_dir: str) -> Optional[int]:
    try:
        with open(os.path.join(state_dir, PID_FILE), encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ready(state_dir: str, timeout: float = 1.0) -> bool:
    """Whether the emulator recorded in ``state_dir`` answers ``/readyz`` over verified TLS."""
    import ssl
    import urllib.request

    try:
        with open(os.path.join(state_dir, "port"), encoding="ascii") as handle:
            port = int(handle.read().strip())
        ctx = ssl.create_default_context(cafile=os.path.join(state_dir, "ca.crt"))
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx, timeout=timeout) as resp:
            return resp.status == 200
    except (OSError, ValueError, ssl.SSLError):
        return False


def spawn(state_dir: str, port: int = 0, controller_delay: float = 0.5, log_name: str = "emulator.out") -> subprocess.Popen:
    """Start ``serve`` as a child process (its own session) with this package importable."""
    os.makedirs(state_dir, exist_ok=True)
    for stale in ("port",):
        try:
            os.unlink(os.path.join(state_dir, stale))
        except FileNotFoundError:
            pass
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = tests_dir + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = open(os.path.join(state_dir, log_name), "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "k8s_emulator", "serve", "--state-dir", state_dir, "--port", str(port),
             "--controller-delay", str(controller_delay)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    finally:
        out.close()


def wait_ready(state_dir: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the emulator exited with code {proc.returncode}; see {os.path.join(state_dir, 'emulator.out')}")
        if os.path.exists(os.path.join(state_dir, "port")) and ready(state_dir, timeout=1.0):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the emulator did not become ready within {timeout:.0f}s; see {os.path.join(state_dir, 'emulator.out')}")


def _up(args) -> int:
    state_dir = os.path.abspath(args.state_dir)
    pid = _read_pid(state_dir)
    if pid and _alive(pid) and ready(state_dir):
        print(f"k8s-emulator already running (pid {pid}); kubeconfig {os.path.join(state_dir, 'kubeconfig')}")
        return 0
    if pid and _alive(pid):
        os.kill(pid, signal.SIGTERM)
    proc = spawn(state_dir, args.port, args.controller_delay)
    try:
        wait_ready(state_dir, proc)
    except RuntimeError as exc:
        if proc.poll() is None:
            proc.terminate()
        print(f"k8s-emulator: {exc}", file=sys.stderr)
        return 1
    with open(os.path.join(state_dir, PID_FILE), "w", encoding="ascii") as handle:
        handle.write(f"{proc.pid}\n")
    print(f"k8s-emulator started (pid {proc.pid}); export KUBECONFIG={os.path.join(state_dir, 'kubeconfig')}")
    return 0


def _down(args) -> int:
    state_dir = os.path.abspath(args.state_dir)
    pid = _read_pid(state_dir)
    if not pid or not _alive(pid):
        print("k8s-emulator is not running")
        try:
            os.unlink(os.path.join(state_dir, PID_FILE))
        except FileNotFoundError:
            pass
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    os.unlink(os.path.join(state_dir, PID_FILE))
    print(f"k8s-emulator stopped (pid {pid})")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m k8s_emulator", description="Kubernetes API emulator (kube-apiserver v1.36)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("serve", "run in the foreground"), ("up", "start in the background (or reuse a running one)"),
                           ("down", "stop the background emulator")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--state-dir", required=True, help="directory for kubeconfig, CA, port, pid and requests.log")
        if name != "down":
            p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: a free one)")
            p.add_argument("--controller-delay", type=float, default=0.5,
                           help="seconds the emulated controllers wait before reconciling")
    args = parser.parse_args(argv)
    return {"serve": _serve, "up": _up, "down": _down}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

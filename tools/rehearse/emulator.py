"""Starting and stopping MiniStack for one rehearsal run.

MiniStack runs on 127.0.0.1 and a free port, in a process group of its own (the function
bootstraps it starts are its children and stay in that group, so stopping the group stops
them all), with a clean environment: the bootstraps inherit MiniStack's whole environment
(services/lambda_svc.py, `_provided_worker_env`), so nothing of the caller's AWS setup may
leak into the functions. TMPDIR is inside the run directory, where MiniStack extracts the
functions' code, so the extracted bootstraps go with the run directory.

Files in RUN_DIR: `ministack.pid` (also the process group id), `endpoint`, `ministack.log`.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(run_dir, port, auth, sfn_wait_scale):
    """What MiniStack, and through it every function, runs with."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": run_dir,
        "TMPDIR": os.path.join(run_dir, "tmp"),
        "GATEWAY_PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "AUTH": "true" if auth else "false",
        # The functions call back into this MiniStack; without it their SDKs would call AWS.
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        # The template's Globals LoggingConfig (JSON, INFO), which MiniStack stores but does
        # not hand to the bootstraps.
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        # Step Functions' Retry waits are real sleeps (services/stepfunctions.py,
        # `_scaled_sleep`): the template's IntervalSeconds 2 and BackoffRate 2 would make a
        # test of retries wait 2 + 4 + 8 … seconds. Scaled, the same Retry runs in a fraction.
        "SFN_WAIT_SCALE": str(sfn_wait_scale),
        "LOG_LEVEL": os.environ.get("REHEARSAL_MINISTACK_LOG_LEVEL", "INFO"),
        "PYTHONUNBUFFERED": "1",
    }


def start(run_dir, auth, sfn_wait_scale, timeout=60):
    """Starts MiniStack and returns its endpoint once it answers its health check."""
    os.makedirs(os.path.join(run_dir, "tmp"), exist_ok=True)
    port = free_port()
    with open(os.path.join(run_dir, "ministack.log"), "wb") as log:
        process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "serve.py")],
            env=environment(run_dir, port, auth, sfn_wait_scale),
            cwd=run_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    with open(os.path.join(run_dir, "ministack.pid"), "w") as f:
        f.write(str(process.pid))
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"MiniStack exited with {process.returncode}; see {run_dir}/ministack.log")
        try:
            with urllib.request.urlopen(f"{endpoint}/_ministack/health", timeout=2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        stop(run_dir)
        raise RuntimeError(f"MiniStack did not answer within {timeout} s; see {run_dir}/ministack.log")
    with open(os.path.join(run_dir, "endpoint"), "w") as f:
        f.write(endpoint)
    return endpoint


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def stop(run_dir):
    """TERM, then KILL, MiniStack's process group (MiniStack and every bootstrap it
    started); returns whether the group is gone. Only the group this run started is
    signalled, by its id."""
    pid_file = os.path.join(run_dir, "ministack.pid")
    if not os.path.exists(pid_file):
        return True
    with open(pid_file) as f:
        pgid = int(f.read().strip())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 5
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _group_alive(pgid):
            break
    gone = not _group_alive(pgid)
    if gone:
        os.remove(pid_file)
    return gone

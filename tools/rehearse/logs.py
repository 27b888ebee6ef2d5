"""The deployed functions' logs, read back from CloudWatch Logs (MiniStack writes each
invocation's output into the function's LoggingConfig.LogGroup), for a failed rehearsal:
by default only what looks like trouble (JSON lines at WARN or ERROR, function errors,
panics, timeouts)."""

import json
import re

from clients import client_factory

_TROUBLE = re.compile(r"panic|timed out|Task timed out|errorType|Runtime\.|Sandbox\.", re.IGNORECASE)


def _is_trouble(message):
    try:
        record = json.loads(message)
    except ValueError:
        return bool(_TROUBLE.search(message))
    if not isinstance(record, dict):
        return False
    level = str(record.get("level", "")).upper()
    return level in ("WARN", "WARNING", "ERROR") or "errorType" in record


def _events(logs, group, start_ms):
    kwargs = {"logGroupName": group, "startTime": start_ms}
    while True:
        page = logs.filter_log_events(**kwargs)
        yield from page.get("events", [])
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


def show(state, start_ms=0, everything=False, limit=25):
    """Prints each function's log lines (the last `limit` of them) since `start_ms`."""
    client = client_factory(state["endpoint"])
    lambda_, logs = client("lambda"), client("logs")
    for logical_id, name in sorted(state["functions"].items()):
        config = lambda_.get_function_configuration(FunctionName=name)
        group = (config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}"
        try:
            events = list(_events(logs, group, start_ms))
        except logs.exceptions.ResourceNotFoundException:
            continue
        lines = [e["message"].rstrip() for e in events if everything or _is_trouble(e["message"])]
        if not lines:
            continue
        print(f"--- {logical_id} ({group}): {len(lines)} line(s){'' if everything else ' of trouble'}")
        for line in lines[-limit:]:
            print(f"    {line[:400]}")

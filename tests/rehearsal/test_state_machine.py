"""The confirmation state machine of template.yaml (ConfirmStateMachine), executed by
MiniStack's Step Functions with the deployed worker, read back from the execution history:
Confirm invokes the worker, a retryable error is retried by Confirm's Retry, a final error
is caught and marks the task and the upload FAILED, an unknown task fails once without
MarkFailed retrying it, and a batch that runs out of time loops through MoreToDo.

MiniStack runs the Retry waits as real sleeps scaled by SFN_WAIT_SCALE (tools/rehearse/
emulator.py sets it), so the template's IntervalSeconds 2 / BackoffRate 2 / MaxAttempts 6
run in a fraction of their time here; the number of attempts is the template's.
"""

import hashlib
import json
import os
import time
from urllib.parse import urlsplit

from conftest import put, unknown_task_id
from tcp_relay import Relay, unused_port

WORKER = "ConfirmWorkerFunction"


def worker_arn(stack):
    return stack.configuration(WORKER)["FunctionArn"]


def confirm_async(api, data, body=None):
    # MiniStack delivers the bucket's ObjectCreated events to auto-confirm as AWS does: these
    # uploads wait for the confirmation that hands them to the state machine.
    created = api.uploaded(data, auto_confirm=False)
    accepted = api.call("POST", f"{api.uploads()}/{created['upload_id']}/confirm?async=true", json=body or {})
    assert accepted["status"] == "PROCESSING", accepted
    return created, accepted["task_id"]


def confirm_state(aws, stack):
    definition = aws("stepfunctions").describe_state_machine(stateMachineArn=stack.state_machine_arn)["definition"]
    return json.loads(definition)["States"]["Confirm"]


def test_a_confirmation_runs_confirm_on_the_worker(aws, api, stack, executions):
    data = os.urandom(4096)
    created, task_id = confirm_async(api, data)
    arn = stack.execution_arn(task_id)
    execution = executions.wait(arn)
    history = executions.history(arn)
    assert execution["status"] == "SUCCEEDED", history.describe()
    assert history.entered() == ["Confirm", "MoreToDo", "Done"], history.describe()

    [scheduled] = history.of_type("TaskScheduled", "Confirm")
    details = scheduled["taskScheduledEventDetails"]
    # AWS reports the resource as "invoke" and the parameters with it; MiniStack reports
    # the state's Resource in full and no parameters, so the function invoked is read from
    # the deployed definition (its DefinitionSubstitutions resolved).
    assert details["resourceType"] == "lambda", details
    assert details["resource"] in ("invoke", "arn:aws:states:::lambda:invoke"), details
    assert confirm_state(aws, stack)["Parameters"]["FunctionName"] == worker_arn(stack)
    [entered] = [e for s, e in history.by_state if s == "Confirm" and e["type"] == "TaskStateEntered"]
    assert json.loads(entered["stateEnteredEventDetails"]["input"]) == {"action": "confirm", "task_id": task_id}
    assert len(history.of_type("TaskSucceeded", "Confirm")) == 1

    task = api.task(task_id)
    assert task["status"] == "COMPLETED", task
    assert task["outputs"][0]["file_hash"] == hashlib.sha256(data).hexdigest()
    upload = api.upload(created["upload_id"])
    assert upload["status"] == "COMPLETED", upload
    assert upload["file_hash"] == hashlib.sha256(data).hexdigest()


def test_a_retryable_worker_error_is_retried_by_confirms_retry(api, stack, executions, function_settings):
    """The worker's S3 endpoint is a port that refuses connections until Confirm's Retry has
    seen a RetryableError; then a relay to MiniStack starts on that port (S3 is back) and a
    later attempt completes the task. The relay, not a second configuration change, brings
    S3 back: MiniStack stops a function's running containers on every configuration change,
    in-flight invocations included, which AWS does not."""
    data = os.urandom(2048)
    relay = Relay(unused_port(), urlsplit(stack.endpoint).port)
    function_settings.update(WORKER, environment={"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{relay.port}"})
    try:
        created, task_id = confirm_async(api, data)
        arn = stack.execution_arn(task_id)
        deadline = time.monotonic() + 60
        while not executions.history(arn).of_type("TaskFailed", "Confirm"):
            assert time.monotonic() < deadline, "no failed Confirm attempt within 60 s"
            time.sleep(0.1)
        relay.start()
        execution = executions.wait(arn)
    finally:
        relay.stop()
    history = executions.history(arn)
    assert execution["status"] == "SUCCEEDED", history.describe()
    failures = history.of_type("TaskFailed", "Confirm")
    assert failures, history.describe()
    assert {f["taskFailedEventDetails"]["error"] for f in failures} == {"RetryableError"}, history.describe()
    attempts = history.of_type("TaskScheduled", "Confirm")
    assert len(attempts) == len(failures) + 1, history.describe()
    assert len(attempts) <= 7, "MaxAttempts 6: at most six retries"
    assert "MarkFailed" not in history.entered()
    assert api.task(task_id)["status"] == "COMPLETED"
    assert api.upload(created["upload_id"])["status"] == "COMPLETED"


def test_a_final_error_is_caught_and_fails_the_task_and_the_upload(api, stack, executions):
    """An ETag that is not the stored object's: the worker's verification answers FinalError,
    which Confirm's Retry does not match and its Catch sends to MarkFailed."""
    data = os.urandom(1024)
    created, task_id = confirm_async(api, data, body={"etag": "0" * 32})
    arn = stack.execution_arn(task_id)
    execution = executions.wait(arn)
    history = executions.history(arn)
    assert execution["status"] == "FAILED", history.describe()
    assert execution.get("error") == "ConfirmationFailed", execution
    assert history.entered() == ["Confirm", "MarkFailed", "Failed"], history.describe()
    [failed] = history.of_type("TaskFailed", "Confirm")
    assert failed["taskFailedEventDetails"]["error"] == "FinalError", history.describe()
    # Catch's ResultPath $.error: MarkFailed gets the task and the error it caught.
    [mark] = [e for s, e in history.by_state if s == "MarkFailed" and e["type"] == "TaskStateEntered"]
    caught = json.loads(mark["stateEnteredEventDetails"]["input"])
    assert caught["task_id"] == task_id and caught["error"]["Error"] == "FinalError", caught
    assert len(history.of_type("TaskSucceeded", "MarkFailed")) == 1, history.describe()

    task = api.task(task_id)
    assert task["status"] == "FAILED", task
    assert "etag does not match" in json.dumps(task["error"]), task
    upload = api.upload(created["upload_id"])
    assert upload["status"] == "FAILED", upload
    assert "etag does not match" in (upload.get("message") or ""), upload


def test_an_unknown_task_fails_once_and_mark_failed_is_not_retried(aws, stack, executions):
    task_id = unknown_task_id()
    started = time.monotonic()
    arn = aws("stepfunctions").start_execution(
        stateMachineArn=stack.state_machine_arn,
        name=task_id,
        input=json.dumps({"action": "confirm", "task_id": task_id}),
    )["executionArn"]
    execution = executions.wait(arn)
    elapsed = time.monotonic() - started
    history = executions.history(arn)
    assert execution["status"] == "FAILED", history.describe()
    assert history.entered() == ["Confirm", "MarkFailed"], history.describe()
    for state in ("Confirm", "MarkFailed"):
        assert len(history.of_type("TaskScheduled", state)) == 1, history.describe()
        [failed] = history.of_type("TaskFailed", state)
        details = failed["taskFailedEventDetails"]
        assert details["error"] == "FinalError", history.describe()
        assert "unknown task" in details["cause"], details
    # One run of each state and no Retry wait: well under the first retry interval even
    # unscaled (2 s), plus two invocations.
    assert elapsed < 10, f"{elapsed:.1f} s"


def test_a_batch_that_runs_out_of_time_loops_until_every_item_is_done(api, stack, executions, function_settings):
    """With the worker's Timeout below the batch's deadline margin (DEADLINE_MARGIN_MS, 120 s,
    shared/src/confirm/batch.rs), a run starts only its first CONCURRENCY (8) items and
    answers `more`; 17 items take three runs."""
    items = 17
    function_settings.update(WORKER, timeout=30)
    contents = [os.urandom(256 + i) for i in range(items)]
    batch = api.call(
        "POST",
        f"{api.uploads()}/batch",
        json={"uploads": [{"filename": f"b{i}.bin", "content_type": "application/octet-stream", "file_size_bytes": len(c)} for i, c in enumerate(contents)]},
    )
    for upload, data in zip(batch["uploads"], contents):
        put(upload["presigned_url"], data, "application/octet-stream", expect=200)
    accepted = api.call(
        "POST",
        f"{api.uploads()}/confirm/batch",
        json={"confirmations": [{"upload_id": u["upload_id"]} for u in batch["uploads"]]},
    )
    task_id = accepted["task_id"]
    arn = stack.execution_arn(task_id)
    execution = executions.wait(arn, timeout=180)
    history = executions.history(arn)
    assert execution["status"] == "SUCCEEDED", history.describe()
    runs = history.of_type("TaskSucceeded", "Confirm")
    assert len(runs) == 3, history.describe()
    outputs = [json.loads(r["taskSucceededEventDetails"]["output"])["Payload"] for r in runs]
    assert [o.get("more") for o in outputs] == [True, True, None], outputs
    assert history.entered() == ["Confirm", "MoreToDo"] * 3 + ["Done"], history.describe()

    task = api.task(task_id)
    assert task["status"] == "COMPLETED", task
    assert [o["upload_id"] for o in task["outputs"]] == [u["upload_id"] for u in batch["uploads"]]
    assert {o["status"] for o in task["outputs"]} == {"COMPLETED"}, task
    for upload, data in zip(batch["uploads"], contents):
        stored = api.upload(upload["upload_id"])
        assert stored["status"] == "COMPLETED", stored
        assert stored["file_hash"] == hashlib.sha256(data).hexdigest()

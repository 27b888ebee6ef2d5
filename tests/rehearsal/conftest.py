"""The deployed stack, as the rehearsal's tests see it: MiniStack's services through boto3
(with MiniStack's root credentials, which no policy limits, to inspect), and the HttpApi
through requests (with a fresh tenant's API key). scripts/rehearse.sh runs these tests with
RUN_DIR/stack.env sourced (tools/rehearse/deploy.py writes it) and UPLOADS_ADMIN set.

Nothing here retries a call or waits for an answer to change, except for work the stack
does in the background (an execution, a task), which is polled until it ends.
"""

import json
import os
import secrets
import subprocess
import time
import uuid

import boto3
import pytest
import requests
from botocore.config import Config

REGION = "us-east-1"
# No SDK retries: a refusal must be seen as it was answered.
BOTO_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"}, read_timeout=300)


def pytest_configure(config):
    config.addinivalue_line("markers", "auth: needs MiniStack's IAM enforcement (AUTH=true)")


def pytest_runtest_setup(item):
    # Refused rather than skipped: a run that selects these without AUTH would prove nothing.
    if item.get_closest_marker("auth") and os.environ.get("REHEARSAL_AUTH") != "true":
        pytest.fail("this test needs a stack deployed with AUTH=true (scripts/rehearse.sh runs it in the auth mode)")


def required(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through `make rehearse`")
    return value


def session_for(access_key_id, secret_access_key, session_token=None):
    return boto3.session.Session(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=session_token,
        region_name=REGION,
    )


class Aws:
    """boto3 clients of the MiniStack in AWS_ENDPOINT_URL, with the given credentials."""

    def __init__(self, session):
        self.endpoint = required("AWS_ENDPOINT_URL")
        self._session = session
        self._clients = {}

    def __call__(self, service):
        if service not in self._clients:
            self._clients[service] = self._session.client(service, endpoint_url=self.endpoint, config=BOTO_CONFIG)
        return self._clients[service]


@pytest.fixture(scope="session")
def aws():
    return Aws(session_for(required("AWS_ACCESS_KEY_ID"), required("AWS_SECRET_ACCESS_KEY")))


class Stack:
    """The deployed stack's resources, read from CloudFormation and Lambda."""

    def __init__(self, aws):
        name = required("REHEARSAL_STACK")
        resources = aws("cloudformation").list_stack_resources(StackName=name)["StackResourceSummaries"]
        self.physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        outputs = aws("cloudformation").describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in outputs}
        self.state_machine_arn = self.outputs["ConfirmStateMachineArn"]
        self.bucket = self.outputs["BucketName"]
        self.table = self.outputs["TableName"]
        self.signing_user = self.physical["UrlSigningUser"]
        self.secret_arn = aws("secretsmanager").describe_secret(SecretId=self.physical["UrlSigningSecret"])["ARN"]
        self.endpoint = aws.endpoint
        self._aws = aws

    def function(self, logical_id):
        return self.physical[logical_id]

    def configuration(self, logical_id):
        return self._aws("lambda").get_function(FunctionName=self.function(logical_id))["Configuration"]

    def role_arn(self, logical_id):
        """The execution role of the function, as Lambda reports it."""
        return self.configuration(logical_id)["Role"]

    def execution_arn(self, name):
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"


@pytest.fixture(scope="session")
def stack(aws):
    return Stack(aws)


class FunctionSettings:
    """UpdateFunctionConfiguration for a test, put back as it was afterwards. Each update
    waits until Lambda reports it applied (MiniStack, like AWS, answers Pending first, and
    starts fresh containers for the new settings)."""

    def __init__(self, aws, stack):
        self._lambda = aws("lambda")
        self._stack = stack
        self._saved = []

    def _wait(self, name):
        deadline = time.monotonic() + 30
        while True:
            config = self._lambda.get_function_configuration(FunctionName=name)
            if config.get("LastUpdateStatus") in (None, "Successful") and config.get("State") in (None, "Active"):
                return config
            assert time.monotonic() < deadline, f"{name} still {config.get('State')}/{config.get('LastUpdateStatus')}"
            time.sleep(0.1)

    def update(self, logical_id, environment=None, timeout=None):
        name = self._stack.function(logical_id)
        before = self._wait(name)
        self._saved.append((name, dict(before.get("Environment", {}).get("Variables", {})), before["Timeout"]))
        changes = {}
        if environment is not None:
            changes["Environment"] = {"Variables": {**before.get("Environment", {}).get("Variables", {}), **environment}}
        if timeout is not None:
            changes["Timeout"] = timeout
        self._lambda.update_function_configuration(FunctionName=name, **changes)
        return self._wait(name)

    def restore(self):
        while self._saved:
            name, variables, timeout = self._saved.pop()
            self._lambda.update_function_configuration(FunctionName=name, Environment={"Variables": variables}, Timeout=timeout)
            self._wait(name)


@pytest.fixture
def function_settings(aws, stack):
    settings = FunctionSettings(aws, stack)
    yield settings
    settings.restore()


def admin(*args):
    """The admin CLI against the deployed table; its JSON output."""
    out = subprocess.run([required("UPLOADS_ADMIN"), *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


class Api:
    """The deployed HttpApi, as one tenant's key calls it."""

    def __init__(self):
        self.base = required("UPLOADS_TEST_API_URL")
        suffix = uuid.uuid4().hex[:8]
        tenant_id = admin("create-tenant", "--name", f"rehearsal-{suffix}")["tenant_id"]
        namespace = admin("create-namespace", "--tenant", tenant_id, "--name", f"rehearsal-{suffix}")
        self.bucket = admin("create-bucket", "--namespace", namespace["namespace_id"], "--name", "media")["name"]
        key = admin("create-api-key", "--tenant", tenant_id)["api_key"]
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {key}", "X-Namespace": namespace["name"]})

    def call(self, method, path, expect=200, **kwargs):
        response = self.http.request(method, f"{self.base}{path}", timeout=120, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def uploads(self):
        return f"/v1/buckets/{self.bucket}/uploads"

    def create(self, data, **fields):
        body = {"filename": "data.bin", "content_type": "application/octet-stream", "file_size_bytes": len(data), **fields}
        return self.call("POST", self.uploads(), json=body)

    def uploaded(self, data, **fields):
        """An upload created and its bytes PUT to its URL, as Mixpeek documents the PUT."""
        created = self.create(data, **fields)
        put(created["presigned_url"], data, "application/octet-stream", expect=200)
        return created

    def task(self, task_id):
        return self.call("GET", f"/v1/tasks/{task_id}")

    def upload(self, upload_id):
        return self.call("GET", f"{self.uploads()}/{upload_id}")


def put(url, data, content_type, expect):
    response = requests.put(url, data=data, headers={"Content-Type": content_type}, timeout=60)
    assert response.status_code == expect, f"PUT {url.split('?')[0]}: {response.status_code} {response.text[:300]}"
    return response


@pytest.fixture(scope="session")
def api():
    return Api()


def unknown_task_id():
    """A task id of the shape the API makes (task_ and 26 Crockford base-32 characters) that
    names no task."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    return "task_0" + "".join(secrets.choice(alphabet) for _ in range(25))


class Executions:
    """The confirmation state machine's executions, read back from Step Functions."""

    def __init__(self, aws, stack):
        self._sfn = aws("stepfunctions")
        self._stack = stack

    def wait(self, execution_arn, timeout=120):
        """The execution once it ended (the API starts it; it may not exist yet)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                described = self._sfn.describe_execution(executionArn=execution_arn)
                if described["status"] != "RUNNING":
                    return described
            except self._sfn.exceptions.ExecutionDoesNotExist:
                pass
            assert time.monotonic() < deadline, f"{execution_arn} did not end within {timeout} s"
            time.sleep(0.2)

    def history(self, execution_arn):
        events, token = [], None
        while True:
            page = self._sfn.get_execution_history(executionArn=execution_arn, **({"nextToken": token} if token else {}))
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                return History(events)


class History:
    """An execution's events, with the state each task event belongs to."""

    def __init__(self, events):
        self.events = events
        state = None
        self.by_state = []
        for event in events:
            if event["type"].endswith("StateEntered"):
                state = event["stateEnteredEventDetails"]["name"]
            self.by_state.append((state, event))

    def entered(self):
        return [e["stateEnteredEventDetails"]["name"] for e in self.events if e["type"].endswith("StateEntered")]

    def of_type(self, event_type, state=None):
        return [e for s, e in self.by_state if e["type"] == event_type and (state is None or s == state)]

    def describe(self):
        lines = []
        for state, event in self.by_state:
            details = {k: v for k, v in event.items() if k.endswith("EventDetails")}
            lines.append(f"{event['id']} {event['type']} [{state}] {json.dumps(details, default=str)[:300]}")
        return "\n".join(lines)


@pytest.fixture(scope="session")
def executions(aws, stack):
    return Executions(aws, stack)

"""The template's IAM policies, evaluated by MiniStack (AUTH=true): each function's role,
assumed from outside, is allowed one call its function needs and refused calls its policy
does not name; the signing user's URLs reach only what its policy names. (Every flow of the
SDK, end-to-end and state machine tests runs under these same policies in the auth mode.)

MiniStack lets the root caller assume a function's role although its trust policy names
lambda.amazonaws.com only (in AWS it would not): that is what makes these probes possible.
`dynamodb:LeadingKeys` conditions are never evaluated by MiniStack, so nothing here relies
on them (docs/rehearsal.md).
"""

import json
import uuid

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import BOTO_CONFIG, Aws, session_for

pytestmark = pytest.mark.auth

REFUSED = {"AccessDenied", "AccessDeniedException"}


@pytest.fixture(scope="module")
def as_role(aws, stack):
    """boto3 clients with the credentials of a function's execution role."""
    cache = {}

    def clients(function_logical_id):
        if function_logical_id not in cache:
            credentials = aws("sts").assume_role(
                RoleArn=stack.role_arn(function_logical_id), RoleSessionName=f"rehearsal-{uuid.uuid4().hex[:8]}"
            )["Credentials"]
            assert credentials["AccessKeyId"].startswith("ASIA"), credentials["AccessKeyId"]
            cache[function_logical_id] = Aws(
                session_for(credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
            )
        return cache[function_logical_id]

    return clients


def refused(call):
    with pytest.raises(ClientError) as denied:
        call()
    code = denied.value.response["Error"]["Code"]
    assert code in REFUSED, f"refused for another reason: {denied.value}"


def upload_key(stack):
    return {"pk": {"S": f"upload#upl_{uuid.uuid4().hex[:26]}"}, "sk": {"S": "upload"}}


def some_object(aws, stack, prefix):
    """An object put by root (which no policy limits), to read or delete."""
    key = f"{prefix}rehearsal/{uuid.uuid4().hex}.bin"
    aws("s3").put_object(Bucket=stack.bucket, Key=key, Body=b"probe")
    return key


def other_state_machine_arn(stack):
    name = stack.state_machine_arn.rsplit(":", 1)[1]
    return stack.state_machine_arn.replace(name, "some-other-state-machine")


# --- what each function's policy does not name is refused


def test_create_upload_cannot_write_final_keys(as_role, stack):
    """URLs are signed by the signing user; create-upload's own role starts multipart uploads at
    staging keys (s3:PutObject on incoming/*, the action that covers CreateMultipartUpload) and
    can write no final key."""
    s3 = as_role("CreateUploadFunction")("s3")
    refused(lambda: s3.put_object(Bucket=stack.bucket, Key=f"ns_rehearsal/bkt_x/{uuid.uuid4().hex}", Body=b"x"))
    refused(lambda: s3.create_multipart_upload(Bucket=stack.bucket, Key=f"ns_rehearsal/bkt_x/{uuid.uuid4().hex}"))
    refused(lambda: s3.get_object(Bucket=stack.bucket, Key=f"incoming/ns_rehearsal/{uuid.uuid4().hex}"))


def test_get_upload_cannot_query_or_change_the_secret(as_role, stack):
    role = as_role("GetUploadFunction")
    refused(
        lambda: role("dynamodb").query(
            TableName=stack.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "upload#probe"}},
        )
    )
    refused(lambda: role("secretsmanager").put_secret_value(SecretId=stack.secret_arn, SecretString="{}"))


def test_delete_upload_cannot_read_objects(aws, as_role, stack):
    key = some_object(aws, stack, "ns_")
    refused(lambda: as_role("DeleteUploadFunction")("s3").get_object(Bucket=stack.bucket, Key=key))


def test_confirm_upload_cannot_start_other_state_machines_or_delete_items(as_role, stack):
    role = as_role("ConfirmUploadFunction")
    refused(
        lambda: role("stepfunctions").start_execution(
            stateMachineArn=other_state_machine_arn(stack), name=uuid.uuid4().hex, input="{}"
        )
    )
    refused(lambda: role("dynamodb").delete_item(TableName=stack.table, Key=upload_key(stack)))


def test_auto_confirm_cannot_read_the_signing_secret_or_delete_items(as_role, stack):
    role = as_role("AutoConfirmFunction")
    refused(lambda: role("secretsmanager").get_secret_value(SecretId=stack.secret_arn))
    refused(lambda: role("dynamodb").delete_item(TableName=stack.table, Key=upload_key(stack)))


def test_the_event_publisher_may_put_events_on_the_default_bus_only(as_role, stack):
    events = as_role("UploadEventsFunction")("events")
    probe = {"Source": "rehearsal.probe", "DetailType": "Probe", "Detail": "{}"}
    refused(lambda: events.put_events(Entries=[{**probe, "EventBusName": "some-other-bus"}]))
    refused(lambda: events.put_rule(Name=f"rehearsal-{uuid.uuid4().hex[:8]}", EventPattern='{"source": ["x"]}'))
    refused(lambda: as_role("UploadEventsFunction")("dynamodb").get_item(TableName=stack.table, Key=upload_key(stack)))


def test_the_worker_cannot_read_the_signing_secret(as_role, stack):
    refused(lambda: as_role("ConfirmWorkerFunction")("secretsmanager").get_secret_value(SecretId=stack.secret_arn))


# Functions whose template gives them no policy at all.
FUNCTIONS_WITHOUT_PERMISSIONS = ["GetOpenApiFunction", "RouteNotFoundFunction"]


@pytest.mark.parametrize("function", FUNCTIONS_WITHOUT_PERMISSIONS)
def test_a_function_without_a_policy_has_no_access_to_the_table(as_role, stack, function):
    refused(lambda: as_role(function)("dynamodb").get_item(TableName=stack.table, Key=upload_key(stack)))


# --- and each function is allowed what it needs (one call per role)


def allowed_calls(aws, stack):
    table, bucket = stack.table, stack.bucket

    def get_item(role):
        role("dynamodb").get_item(TableName=table, Key=upload_key(stack))

    def head_missing(role):
        # Without s3:ListBucket a missing object would answer 403, not 404.
        with pytest.raises(ClientError) as missing:
            role("s3").head_object(Bucket=bucket, Key=f"incoming/rehearsal/{uuid.uuid4().hex}")
        assert missing.value.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"), missing.value

    def list_parts_of_nothing(role):
        # Allowed: S3 looks for the upload (and has none) instead of refusing the call.
        with pytest.raises(ClientError) as missing:
            role("s3").list_parts(Bucket=bucket, Key=f"incoming/rehearsal/{uuid.uuid4().hex}", UploadId="probe")
        assert missing.value.response["Error"]["Code"] not in REFUSED, missing.value

    def put_a_probe_event(role):
        entry = {"Source": "rehearsal.probe", "DetailType": "Probe", "Detail": "{}"}
        answer = role("events").put_events(Entries=[entry])
        assert answer["FailedEntryCount"] == 0, answer

    return {
        "CreateUploadFunction": lambda role: role("secretsmanager").get_secret_value(SecretId=stack.secret_arn),
        "CreateUploadsBatchFunction": lambda role: role("dynamodb").batch_get_item(
            RequestItems={table: {"Keys": [upload_key(stack)]}}
        ),
        "ConfirmUploadsBatchFunction": lambda role: role("dynamodb").put_item(
            TableName=table, Item={**upload_key(stack), "probe": {"S": "rehearsal"}}
        ),
        "GetUploadFunction": get_item,
        "DeleteUploadFunction": lambda role: role("s3").delete_object(Bucket=bucket, Key=some_object(aws, stack, "incoming/")),
        "ConfirmUploadFunction": head_missing,
        "AutoConfirmFunction": head_missing,
        "UploadPartsFunction": list_parts_of_nothing,
        "ListUploadsFunction": lambda role: role("dynamodb").query(
            TableName=table,
            IndexName="by_created_at",
            KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues={":p": {"S": "bkt_rehearsal"}},
        ),
        "GetTaskFunction": get_item,
        "GetUsageFunction": get_item,
        "GetBatchFunction": get_item,
        "ConfirmWorkerFunction": lambda role: role("s3").get_object(Bucket=bucket, Key=some_object(aws, stack, "ns_")),
        "ExpiredUploadsFunction": lambda role: role("s3").delete_object(Bucket=bucket, Key=some_object(aws, stack, "ns_")),
        "RotateSigningKeyFunction": lambda role: role("iam").list_access_keys(UserName=stack.signing_user),
        "UploadEventsFunction": put_a_probe_event,
    }


FUNCTIONS_WITH_PERMISSIONS = [
    "CreateUploadFunction",
    "CreateUploadsBatchFunction",
    "ConfirmUploadsBatchFunction",
    "GetUploadFunction",
    "DeleteUploadFunction",
    "ConfirmUploadFunction",
    "AutoConfirmFunction",
    "UploadPartsFunction",
    "ListUploadsFunction",
    "GetTaskFunction",
    "GetUsageFunction",
    "GetBatchFunction",
    "ConfirmWorkerFunction",
    "ExpiredUploadsFunction",
    "RotateSigningKeyFunction",
    "UploadEventsFunction",
]


@pytest.mark.parametrize("function", FUNCTIONS_WITH_PERMISSIONS)
def test_each_function_is_allowed_what_it_needs(aws, as_role, stack, function):
    allowed_calls(aws, stack)[function](as_role(function))


def test_every_function_with_a_policy_is_probed(stack):
    deployed = {logical_id for logical_id in stack.physical if logical_id.endswith("Function")}
    assert deployed == set(FUNCTIONS_WITH_PERMISSIONS) | set(FUNCTIONS_WITHOUT_PERMISSIONS)


# --- the signing user's URLs


@pytest.fixture(scope="module")
def signer(aws, stack):
    """An S3 client with the signing user's current key, as the functions read it."""
    key = json.loads(aws("secretsmanager").get_secret_value(SecretId=stack.secret_arn, VersionStage="AWSCURRENT")["SecretString"])
    # SigV4 query signing, as the functions' presigner does.
    return session_for(key["AccessKeyId"], key["SecretAccessKey"]).client(
        "s3", endpoint_url=aws.endpoint, config=BOTO_CONFIG.merge(Config(signature_version="s3v4"))
    )


def status_of(method, url, data=None):
    return requests.request(method, url, data=data, timeout=60).status_code


def test_the_signing_users_urls_write_incoming_and_read_final_keys_only(aws, stack, signer):
    staged = f"incoming/ns_rehearsal/bkt_rehearsal/{uuid.uuid4().hex}/a.bin"
    put_url = signer.generate_presigned_url("put_object", Params={"Bucket": stack.bucket, "Key": staged}, ExpiresIn=300)
    assert status_of("PUT", put_url, b"staged") == 200
    get_staged = signer.generate_presigned_url("get_object", Params={"Bucket": stack.bucket, "Key": staged}, ExpiresIn=300)
    assert status_of("GET", get_staged) == 403

    final = some_object(aws, stack, "ns_")
    get_final = signer.generate_presigned_url("get_object", Params={"Bucket": stack.bucket, "Key": final}, ExpiresIn=300)
    assert status_of("GET", get_final) == 200
    put_final = signer.generate_presigned_url(
        "put_object", Params={"Bucket": stack.bucket, "Key": f"ns_rehearsal/{uuid.uuid4().hex}"}, ExpiresIn=300
    )
    assert status_of("PUT", put_final, b"not allowed") == 403

"""The signing identity (issue 15) on the deployed stack: the key made for the template's
UrlSigningUser is the one in UrlSigningSecret and signs the URLs the API returns; the
deployed RotateSigningKeyFunction, invoked with Secrets Manager's four steps against the
deployed secret (MiniStack's RotateSecret never invokes a rotation function), makes a new
key current while URLs signed with the old one keep working, refuses an immediate second
rotation as RotationTooSoon, and a rotation once the current key is old enough deletes the
key before it.

The functions read the secret again every UPLOADS_SIGNING_KEY_REFRESH_SECS (300 s by
default; the template sets none). A key is deleted only once the key after it has been
current for UPLOADS_SIGNING_MIN_KEY_AGE_SECS (86700 in the template: the longest URL plus
that refresh), so no function still signs with it. The test keeps that order at a smaller
scale: it sets the refresh to 1 s on every function that presigns, so a rotation shows in
their URLs within the test, before it sets the minimum age to 1 s for its last rotation.
Putting the settings back starts those functions afresh.
"""

import json
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import put

ROTATION = "RotateSigningKeyFunction"
# The functions whose policies may read the signing secret.
PRESIGNING = ["CreateUploadFunction", "CreateUploadsBatchFunction", "GetUploadFunction", "ListUploadsFunction"]
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def signed_by(url):
    credential = parse_qs(urlsplit(url).query)["X-Amz-Credential"][0]
    return credential.split("/")[0]


def current_key(aws, stack):
    value = aws("secretsmanager").get_secret_value(SecretId=stack.secret_arn, VersionStage="AWSCURRENT")
    return json.loads(value["SecretString"])["AccessKeyId"]


def user_keys(aws, stack):
    return {k["AccessKeyId"] for k in aws("iam").list_access_keys(UserName=stack.signing_user)["AccessKeyMetadata"]}


def step(aws, stack, name, token):
    """One rotation step, invoked as Secrets Manager invokes it; (error type or None, body)."""
    answer = aws("lambda").invoke(
        FunctionName=stack.function(ROTATION),
        Payload=json.dumps({"Step": name, "SecretId": stack.secret_arn, "ClientRequestToken": token}),
    )
    body = json.loads(answer["Payload"].read() or b"null")
    return (body.get("errorType") if answer.get("FunctionError") else None), body


def rotate(aws, stack):
    token = str(uuid.uuid4())
    for name in STEPS:
        error, body = step(aws, stack, name, token)
        assert error is None, f"{name}: {body}"
    return token


def stages(aws, stack):
    return aws("secretsmanager").describe_secret(SecretId=stack.secret_arn)["VersionIdsToStages"]


def created_url(api):
    return api.create(b"rotation probe!")["presigned_url"]


def test_the_signing_users_key_is_in_the_secret_and_signs_the_apis_urls(aws, api, stack):
    key_id = current_key(aws, stack)
    assert key_id.startswith("AKIA"), key_id
    assert key_id in user_keys(aws, stack)
    created = api.create(b"signed by the user")
    assert signed_by(created["presigned_url"]) == key_id
    assert "X-Amz-Security-Token" not in created["presigned_url"]
    put(created["presigned_url"], b"signed by the user", "application/octet-stream", expect=200)


def test_rotation_makes_a_new_key_current_and_old_urls_keep_working(aws, api, stack, function_settings):
    for function in PRESIGNING:
        function_settings.update(function, environment={"UPLOADS_SIGNING_KEY_REFRESH_SECS": "1"})
    first = current_key(aws, stack)
    old_url = created_url(api)
    assert signed_by(old_url) == first
    before = stages(aws, stack)

    token = rotate(aws, stack)
    after = stages(aws, stack)
    assert "AWSCURRENT" in after[token], after
    [previous] = [v for v, s in before.items() if "AWSCURRENT" in s]
    assert "AWSPREVIOUS" in after[previous], after
    second = current_key(aws, stack)
    assert second != first
    assert user_keys(aws, stack) == {first, second}, "the old key stays until the next rotation"

    time.sleep(1.2)
    assert signed_by(created_url(api)) == second
    put(old_url, b"rotation probe!", "application/octet-stream", expect=200)

    # A second rotation now would delete the first key, which may still sign URLs.
    error, body = step(aws, stack, "createSecret", str(uuid.uuid4()))
    assert error == "RotationTooSoon", body
    assert user_keys(aws, stack) == {first, second}
    assert current_key(aws, stack) == second

    # Once the current key is old enough, the next rotation deletes the key before it.
    function_settings.update(ROTATION, environment={"UPLOADS_SIGNING_MIN_KEY_AGE_SECS": "1"})
    time.sleep(1.2)
    rotate(aws, stack)
    third = current_key(aws, stack)
    assert user_keys(aws, stack) == {second, third}
    put(old_url, b"rotation probe!", "application/octet-stream", expect=403)
    time.sleep(1.2)
    newest = api.create(b"after the third key")
    assert signed_by(newest["presigned_url"]) == third
    put(newest["presigned_url"], b"after the third key", "application/octet-stream", expect=200)


@pytest.fixture(autouse=True, scope="module")
def rotations_leave_a_working_key(aws, stack):
    """Whatever a rotation test did, the secret's current key must still be one of the
    user's keys (the tests after these sign with it)."""
    yield
    assert current_key(aws, stack) in user_keys(aws, stack)

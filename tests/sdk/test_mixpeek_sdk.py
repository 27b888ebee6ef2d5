"""Mixpeek's published Python SDK, unchanged, against the local stack.

Everything goes through `mixpeek` (pinned in requirements.txt) except the upload itself,
which is the PUT Mixpeek documents on every create response: Content-Type and the bytes,
nothing else (`requests`, and `curl --upload-file`). `make test` runs this file with
UPLOADS_TEST_API_URL pointing at `cargo lambda watch` and UPLOADS_ADMIN at the admin CLI,
which makes a fresh tenant, namespace, bucket and key for the session.
"""

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid

import mixpeek
import pytest
import requests
from mixpeek.exceptions import (
    ApiException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
    UnprocessableEntityException,
)
from mixpeek.models import (
    BatchConfirmRequest,
    BatchConfirmResponse,
    BatchUploadRequest,
    BatchUploadResponse,
    ConfirmUploadRequest,
    ConfirmUploadResponse,
    CreateUploadRequest,
    ListUploadsRequest,
    ListUploadsResponse,
    LogicalOperatorInput,
    SortDirection,
    SortOption,
    TaskResponse,
    UploadResponse,
)


def admin(*args):
    """Runs the admin CLI and returns its JSON output."""
    out = subprocess.run([os.environ["UPLOADS_ADMIN"], *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="session")
def tenant():
    suffix = uuid.uuid4().hex[:8]
    tenant_id = admin("create-tenant", "--name", f"sdk-{suffix}")["tenant_id"]
    namespace = admin("create-namespace", "--tenant", tenant_id, "--name", f"sdk-{suffix}")
    bucket = admin("create-bucket", "--namespace", namespace["namespace_id"], "--name", "media")
    key = admin("create-api-key", "--tenant", tenant_id)["api_key"]
    return {"namespace": namespace["name"], "bucket": bucket["name"], "bucket_id": bucket["bucket_id"], "key": key}


def client(tenant, key=None):
    config = mixpeek.Configuration(
        host=os.environ["UPLOADS_TEST_API_URL"],
        access_token=key or tenant["key"],
        api_key={"NamespaceHeader": tenant["namespace"]},
    )
    return mixpeek.ApiClient(config)


@pytest.fixture(scope="session")
def uploads(tenant):
    return mixpeek.BucketUploadsApi(client(tenant))


@pytest.fixture(scope="session")
def tasks(tenant):
    return mixpeek.TasksApi(client(tenant))


def put_with_requests(url, content_type, data):
    """The documented PUT, with requests: Content-Type and the bytes."""
    response = requests.put(url, data=data, headers={"Content-Type": content_type}, timeout=60)
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


def put_with_curl(url, content_type, path):
    """The documented PUT, literally: curl -X PUT "$url" -H "Content-Type: …" --upload-file F."""
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", url, "-H", f"Content-Type: {content_type}", "--upload-file", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout == "200", out.stdout


def create(uploads, tenant, **fields):
    created = uploads.create_upload_buckets(tenant["bucket"], CreateUploadRequest(**fields))
    assert isinstance(created, UploadResponse), created
    return created


def create_waiting_for_confirm(tenant, filename, content_type, size):
    """An upload that S3's event does not confirm (our `auto_confirm: false`, which the SDK's
    CreateUploadRequest cannot carry: created with a plain request), read back with the SDK."""
    response = requests.post(
        f"{os.environ['UPLOADS_TEST_API_URL']}/v1/buckets/{tenant['bucket']}/uploads",
        json={"filename": filename, "content_type": content_type, "file_size_bytes": size, "auto_confirm": False},
        headers={"Authorization": f"Bearer {tenant['key']}", "X-Namespace": tenant["namespace"]},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return UploadResponse.from_dict(response.json())


def wait_until_completed(uploads, tenant, upload_id):
    """Polls Get Upload until S3's event confirmed the upload (within 10 s)."""
    deadline = time.time() + 10
    while True:
        upload = UploadResponse.from_dict(uploads.get_upload_buckets(tenant["bucket"], upload_id))
        if upload.status == "COMPLETED" or time.time() > deadline:
            return upload
        time.sleep(0.05)


def test_create_put_confirm_and_download(uploads, tenant):
    data = b"hello from the mixpeek sdk\n"
    created = create(uploads, tenant, filename="hello.txt", content_type="text/plain", file_size_bytes=len(data), metadata={"campaign": "Summer"})
    assert created.status == "PENDING"
    assert created.file_size_bytes == len(data)
    assert created.presigned_url
    etag = put_with_requests(created.presigned_url, "text/plain", data)

    confirmed = uploads.confirm_upload_buckets(
        tenant["bucket"], created.upload_id, confirm_upload_request=ConfirmUploadRequest(etag=etag, file_size_bytes=len(data))
    )
    assert isinstance(confirmed, ConfirmUploadResponse)
    assert confirmed.status == "COMPLETED"
    assert confirmed.file_hash == hashlib.sha256(data).hexdigest()
    assert confirmed.object_id.startswith("obj_")

    # The SDK declares Get Upload's body a plain object (the seed's schema is {}): a dict,
    # which parses as the SDK's own UploadResponse.
    fetched = UploadResponse.from_dict(uploads.get_upload_buckets(tenant["bucket"], created.upload_id, return_presigned_urls=True))
    assert fetched.status == "COMPLETED"
    assert fetched.object_id == confirmed.object_id
    assert requests.get(fetched.presigned_url, timeout=60).content == data


def test_create_without_a_size_and_put_with_curl(uploads, tenant, tmp_path):
    data = b"size unknown until confirmation" * 10
    created = create(uploads, tenant, filename="unsized.bin", content_type="application/octet-stream")
    assert created.file_size_bytes is None
    path = tmp_path / "unsized.bin"
    path.write_bytes(data)
    put_with_curl(created.presigned_url, "application/octet-stream", path)
    confirmed = uploads.confirm_upload_buckets(tenant["bucket"], created.upload_id)
    assert confirmed.status == "COMPLETED"
    assert confirmed.file_size_bytes == len(data)


def test_a_declared_hash_of_stored_bytes_needs_no_upload(uploads, tenant):
    data = b"dedup me before uploading"
    first = create(uploads, tenant, filename="first.bin", content_type="application/octet-stream", file_hash=hashlib.sha256(data).hexdigest())
    put_with_requests(first.presigned_url, "application/octet-stream", data)
    original = uploads.confirm_upload_buckets(tenant["bucket"], first.upload_id)
    again = create(uploads, tenant, filename="again.bin", content_type="application/octet-stream", file_hash=hashlib.sha256(data).hexdigest())
    assert again.is_duplicate is True
    assert again.duplicate_of_upload_id == first.upload_id
    assert again.object_id == original.object_id
    assert again.presigned_url is None


def test_list_with_shorthand_and_logical_filters(uploads, tenant):
    ids = []
    for campaign in ["Winter", "winter", "Spring"]:
        created = create(uploads, tenant, filename=f"{campaign}.txt", content_type="text/plain", file_size_bytes=3, metadata={"campaign": campaign, "list_test": True})
        ids.append(created.upload_id)

    shorthand = ListUploadsRequest(filters=LogicalOperatorInput.from_dict({"metadata.campaign": "WINTER", "status": "pending"}), limit=50)
    listed = uploads.list_uploads_buckets(tenant["bucket"], list_uploads_request=shorthand)
    assert isinstance(listed, ListUploadsResponse)
    assert {u.upload_id for u in listed.results} == set(ids[:2])
    assert listed.pagination.total == 2
    assert listed.stats.uploads_by_status == {"PENDING": 2}

    logical = ListUploadsRequest(
        filters=LogicalOperatorInput.from_dict(
            {
                "AND": [
                    {"field": "metadata.list_test", "operator": "eq", "value": True},
                    {"OR": [{"field": "metadata.campaign", "operator": "eq", "value": "winter"}, {"field": "filename", "operator": "starts_with", "value": "Spring"}]},
                ],
                "case_sensitive": True,
            }
        ),
        sort=SortOption(field="created_at", direction=SortDirection.ASC),
        limit=1,
    )
    page = uploads.list_uploads_buckets(tenant["bucket"], list_uploads_request=logical)
    assert page.pagination.total == 2
    assert [u.upload_id for u in page.results] == [ids[1]]
    assert page.pagination.next_page


def test_delete(uploads, tenant):
    created = create(uploads, tenant, filename="gone.txt", content_type="text/plain", file_size_bytes=4)
    assert uploads.delete_upload_buckets(tenant["bucket"], created.upload_id) is None
    with pytest.raises(NotFoundException):
        uploads.get_upload_buckets(tenant["bucket"], created.upload_id)
    # Its URL still works until it expires; S3's event for those bytes confirms nothing.
    put_with_requests(created.presigned_url, "text/plain", b"gone")
    time.sleep(0.5)
    with pytest.raises(NotFoundException):
        uploads.get_upload_buckets(tenant["bucket"], created.upload_id)

    done = create(uploads, tenant, filename="kept.txt", content_type="text/plain", file_size_bytes=4)
    put_with_requests(done.presigned_url, "text/plain", b"kept")
    uploads.confirm_upload_buckets(tenant["bucket"], done.upload_id)
    with pytest.raises(ConflictException) as refused:
        uploads.delete_upload_buckets(tenant["bucket"], done.upload_id, delete_s3_object=True)
    assert refused.value.status == 409


def test_async_confirm_and_get_task(uploads, tasks, tenant):
    data = b"confirmed in the background"
    created = create(uploads, tenant, filename="async.bin", content_type="application/octet-stream", file_size_bytes=len(data))
    put_with_requests(created.presigned_url, "application/octet-stream", data)
    accepted = uploads.confirm_upload_buckets(tenant["bucket"], created.upload_id, var_async=True)
    if accepted.status == "COMPLETED":
        # S3's event confirmed it first (auto-confirm): the record is the answer, as for
        # any confirmation of a completed upload. Again, now surely after the event:
        assert accepted.file_hash == hashlib.sha256(data).hexdigest()
        data = b"confirmed in the background, not auto-confirmed"
        created = create_waiting_for_confirm(tenant, "async.bin", "application/octet-stream", len(data))
        put_with_requests(created.presigned_url, "application/octet-stream", data)
        accepted = uploads.confirm_upload_buckets(tenant["bucket"], created.upload_id, var_async=True)
    assert accepted.status == "PROCESSING"
    assert accepted.task_id

    deadline = time.time() + 60
    task = tasks.get_task(accepted.task_id)
    while task.status not in ("COMPLETED", "FAILED") and time.time() < deadline:
        time.sleep(0.3)
        task = tasks.get_task(accepted.task_id)
    assert isinstance(task, TaskResponse)
    assert task.status == "COMPLETED", task
    assert task.task_type == "api_buckets_uploads_confirm"
    assert task.error is None
    inputs = task.inputs[0].actual_instance
    outputs = task.outputs[0].actual_instance
    assert inputs["upload_id"] == created.upload_id
    assert outputs["file_hash"] == hashlib.sha256(data).hexdigest()


def wait_for(tasks, task_id):
    deadline = time.time() + 60
    task = tasks.get_task(task_id)
    while task.status not in ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED") and time.time() < deadline:
        time.sleep(0.3)
        task = tasks.get_task(task_id)
    return task


def test_batch_create_and_batch_confirm(uploads, tasks, tenant):
    contents = [f"batch file {i}\n".encode() for i in range(3)]
    request = BatchUploadRequest(
        uploads=[CreateUploadRequest(filename=f"b{i}.txt", content_type="text/plain", file_size_bytes=len(c), metadata={"i": i}) for i, c in enumerate(contents)],
        shared_metadata={"campaign": "batch", "i": -1},
    )
    created = uploads.create_uploads_batch_buckets(tenant["bucket"], request)
    assert isinstance(created, BatchUploadResponse)
    assert created.total == 3
    for i, (upload, data) in enumerate(zip(created.uploads, contents)):
        assert upload.filename == f"b{i}.txt"
        assert upload.metadata == {"campaign": "batch", "i": i}, "the item's keys win"
        put_with_requests(upload.presigned_url, "text/plain", data)

    accepted = uploads.confirm_uploads_batch_buckets(
        tenant["bucket"], BatchConfirmRequest(confirmations=[{"upload_id": u.upload_id} for u in created.uploads])
    )
    assert isinstance(accepted, BatchConfirmResponse)
    assert accepted.confirmations_count == 3
    assert accepted.task.task_id == accepted.task_id
    task = wait_for(tasks, accepted.task_id)
    assert task.status == "COMPLETED", task
    assert task.task_type == "api_buckets_uploads_batch_confirm"
    assert [o.actual_instance["upload_id"] for o in task.outputs] == [u.upload_id for u in created.uploads]
    for upload, data in zip(created.uploads, contents):
        stored = UploadResponse.from_dict(uploads.get_upload_buckets(tenant["bucket"], upload.upload_id))
        assert stored.status == "COMPLETED"
        assert stored.file_hash == hashlib.sha256(data).hexdigest()


def confirm_answer(uploads, tenant, upload_id, request):
    """(status, what a Mixpeek client reads of the answer), ids left out."""
    try:
        answer = uploads.confirm_upload_buckets(tenant["bucket"], upload_id, confirm_upload_request=request)
    except ApiException as refused:
        error = refused.data.error
        details = {k: v for k, v in (error.details or {}).items() if k != "upload_id"}
        return refused.status, (error.type, error.code, details)
    kept = ("status", "file_size_bytes", "file_hash", "message")
    return 200, ({k: getattr(answer, k) for k in kept}, answer.batch_id is not None, answer.task_id is not None)


@pytest.mark.parametrize(
    "request_fields",
    [{"auto_submit_batch": True}, {"etag": "0123456789abcdef0123456789abcdef"}, {"file_size_bytes": 99}, {}],
    ids=["auto_submit_batch", "mismatching_etag", "mismatching_size", "no_body"],
)
def test_confirm_answers_alike_whether_or_not_the_event_came_first(uploads, tenant, request_fields):
    """Auto-confirm is invisible to Mixpeek's clients, which always confirm: the same
    answer when S3's event confirmed the upload first and when nothing did."""
    answers = []
    refused = "etag" in request_fields or "file_size_bytes" in request_fields
    for event_first in (True, False):
        # The same bytes where the answer names their ETag; otherwise bytes of their own, of
        # the same size (the same bytes would complete as a duplicate).
        data = f"same answers {request_fields}".encode() + (b"" if refused else str(int(event_first)).encode())
        if event_first:
            created = create(uploads, tenant, filename="a.txt", content_type="text/plain", file_size_bytes=len(data))
        else:
            created = create_waiting_for_confirm(tenant, "a.txt", "text/plain", len(data))
        put_with_requests(created.presigned_url, "text/plain", data)
        if event_first:
            assert wait_until_completed(uploads, tenant, created.upload_id).status == "COMPLETED"
        request = ConfirmUploadRequest(**request_fields)
        status, answer = confirm_answer(uploads, tenant, created.upload_id, request)
        if status == 200:
            assert answer[0]["file_hash"] == hashlib.sha256(data).hexdigest()
            answer[0]["file_hash"] = "sha256 of the bytes"
        answers.append((status, answer))
        if request_fields.get("auto_submit_batch"):
            stored = UploadResponse.from_dict(uploads.get_upload_buckets(tenant["bucket"], created.upload_id))
            assert stored.task_id, stored
    assert answers[0] == answers[1]
    assert answers[0][0] == (400 if refused else 200), answers


def test_errors_surface_as_api_exceptions(uploads, tenant):
    with pytest.raises(NotFoundException) as missing:
        uploads.get_upload_buckets(tenant["bucket"], "upl_" + "0" * 26)
    assert missing.value.status == 404
    assert missing.value.data.error.type == "NotFoundError"

    with pytest.raises(UnprocessableEntityException) as invalid:
        create(uploads, tenant, filename="bad.txt", content_type="not a mime type")
    assert isinstance(invalid.value, ApiException)
    assert invalid.value.status == 422
    assert invalid.value.data.error.type == "ValidationError"
    assert "content_type" in invalid.value.data.error.message

    stranger = mixpeek.BucketUploadsApi(client(tenant, key="sk_key_" + "0" * 26 + "_" + "x" * 40))
    with pytest.raises(ApiException) as unauthorized:
        stranger.get_upload_buckets(tenant["bucket"], "upl_" + "0" * 26)
    assert unauthorized.value.status == 401


def test_a_full_quota_surfaces_as_forbidden():
    """A tenant whose quota (set with the admin CLI) holds one pending upload: the SDK's
    second create raises its 403 exception, with our code and details in the envelope."""
    suffix = uuid.uuid4().hex[:8]
    tenant_id = admin("create-tenant", "--name", f"sdk-quota-{suffix}")["tenant_id"]
    namespace = admin("create-namespace", "--tenant", tenant_id, "--name", f"q-{suffix}")
    bucket = admin("create-bucket", "--namespace", namespace["namespace_id"], "--name", "media")
    key = admin("create-api-key", "--tenant", tenant_id)["api_key"]
    set_quota = admin("set-quota", "--tenant", tenant_id, "--max-pending-uploads", "1")
    assert set_quota["quota"] == {"max_pending_uploads": 1}
    small = {"namespace": namespace["name"], "bucket": bucket["name"], "key": key}
    api = mixpeek.BucketUploadsApi(client(small))
    create(api, small, filename="one.txt", content_type="text/plain")
    with pytest.raises(ForbiddenException) as refused:
        create(api, small, filename="two.txt", content_type="text/plain")
    assert refused.value.status == 403
    assert refused.value.data.error.code == "pending_uploads_exceeded"
    assert refused.value.data.error.details == {"max_pending_uploads": 1, "pending_uploads": 1, "requested": 1}
    assert admin("usage", "--tenant", tenant_id)["usage"]["pending_uploads"] == 1


def test_the_readme_example_runs(tenant):
    """README.md's Python snippet ("Upload a file"), run as written with a tenant's `dev.env`."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    section = readme.split("## Upload a file", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    env = dict(
        os.environ,
        UPLOADS_API_URL=os.environ["UPLOADS_TEST_API_URL"],
        UPLOADS_API_KEY=tenant["key"],
        UPLOADS_NAMESPACE=tenant["namespace"],
        UPLOADS_BUCKET=tenant["bucket"],
    )
    out = subprocess.run([sys.executable, "-c", snippet], env=env, check=True, capture_output=True, text=True)
    status, file_hash, total = out.stdout.split()
    assert status == "COMPLETED"
    assert file_hash == hashlib.sha256(b"hello from the SDK\n").hexdigest()
    assert int(total) >= 1

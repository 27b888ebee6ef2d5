"""Auto-confirm as deployed: the bucket's EventBridge notifications, ObjectCreatedRule, the
SQS queue and AutoConfirmFunction's event source mapping, all from template.yaml. An upload
PUT and never confirmed completes with its bytes' SHA-256; one created with auto_confirm
false stays PENDING."""

import hashlib
import time


def wait_for_status(api, upload_id, status, timeout=10):
    deadline = time.time() + timeout
    while True:
        upload = api.upload(upload_id)
        if upload["status"] == status or time.time() > deadline:
            return upload
        time.sleep(0.1)


def test_a_put_upload_completes_without_a_confirmation(api):
    data = b"confirmed by S3's event, through EventBridge and SQS"
    created = api.uploaded(data)
    upload = wait_for_status(api, created["upload_id"], "COMPLETED")
    assert upload["status"] == "COMPLETED", upload
    assert upload["file_hash"] == hashlib.sha256(data).hexdigest()
    assert upload["object_id"]


def test_auto_confirm_false_waits_for_the_confirmation(api):
    kept = api.uploaded(b"waiting", auto_confirm=False)
    # An upload PUT after it completes by its event; by then the first one's event came too.
    later = api.uploaded(b"not waiting")
    assert wait_for_status(api, later["upload_id"], "COMPLETED")["status"] == "COMPLETED"
    time.sleep(1)
    assert api.upload(kept["upload_id"])["status"] == "PENDING"
    confirmed = api.call("POST", f"{api.uploads()}/{kept['upload_id']}/confirm")
    assert confirmed["status"] == "COMPLETED"

"""The deployed event publisher (docs/events.md): MiniStack's DynamoDB stream feeds
UploadEventsFunction through the template's event source mapping and its filters, and the
function puts the events on MiniStack's default EventBridge bus with its own role (in the
auth mode, under its policy). A rule on the bus routes this test's bucket to an SQS queue,
as a subscriber's would, and the test reads what arrived.

MiniStack's TTL removals write no stream record (docs/rehearsal.md), so "Upload Expired" is
not rehearsed; tests/tests/upload_events.rs hands the function those records locally.
"""

import json
import time
import uuid

import pytest

from conftest import Api

# The stream is polled about once a second; the publisher answers in milliseconds.
DELIVERY_TIMEOUT = 60


@pytest.fixture
def subscribe(aws):
    """A queue that receives the events naming a bucket id, and a function that waits for
    `count` of them; rule, target and queue are removed afterwards."""
    sqs, events = aws("sqs"), aws("events")
    made = []

    def subscribe_to(bucket_id):
        name = f"rehearsal-events-{uuid.uuid4().hex[:12]}"
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        pattern = {"source": ["bucket-uploads"], "detail": {"bucket_id": [bucket_id]}}
        events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        answer = events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
        assert answer["FailedEntryCount"] == 0, answer
        made.append((name, queue_url))

        def received(count):
            """The first `count` events to arrive, then a wait of a few polls for any extra."""
            got, deadline, settle = [], time.monotonic() + DELIVERY_TIMEOUT, None
            while settle is None or time.monotonic() < settle:
                assert time.monotonic() < deadline, f"{len(got)} of {count} events within {DELIVERY_TIMEOUT} s: {got}"
                answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
                for message in answer.get("Messages", []):
                    got.append(json.loads(message["Body"]))
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                if len(got) >= count and settle is None:
                    settle = time.monotonic() + 3
            return got

        return received

    yield subscribe_to
    for name, queue_url in made:
        events.remove_targets(Rule=name, Ids=["queue"])
        events.delete_rule(Name=name)
        sqs.delete_queue(QueueUrl=queue_url)


def test_completions_batches_failures_and_deletions_are_published_once(subscribe):
    api = Api()
    completed = api.uploaded(b"published when completed")
    received = subscribe(completed["bucket_id"])
    confirmed = api.call("POST", f"{api.uploads()}/{completed['upload_id']}/confirm", json={"auto_submit_batch": True})
    declared = api.uploaded(b"not what was declared", file_hash="0" * 64)
    api.call("POST", f"{api.uploads()}/{declared['upload_id']}/confirm", expect=400)
    deleted = api.uploaded(b"deleted before it was confirmed")
    api.call("DELETE", f"{api.uploads()}/{deleted['upload_id']}", expect=204)

    events = received(4)
    by_type = {}
    for event in events:
        assert event["source"] == "bucket-uploads", event
        by_type.setdefault(event["detail-type"], []).append(event["detail"])
    assert sorted(by_type) == ["Batch Submitted", "Upload Completed", "Upload Deleted", "Upload Failed"], events
    assert all(len(details) == 1 for details in by_type.values()), events

    [done] = by_type["Upload Completed"]
    assert done["schema_version"] == 1
    assert done["upload_id"] == completed["upload_id"] and done["status"] == "COMPLETED"
    assert done["file_hash"] == confirmed["file_hash"] and done["object_id"] == confirmed["object_id"]
    assert done["namespace_id"] == completed["s3_key"].split("/")[1]
    [batch] = by_type["Batch Submitted"]
    assert batch == {
        "batch_id": confirmed["batch_id"],
        "bucket_id": completed["bucket_id"],
        "namespace_id": done["namespace_id"],
        "task_id": confirmed["task_id"],
    }
    [failed] = by_type["Upload Failed"]
    assert failed["upload_id"] == declared["upload_id"] and failed["status"] == "FAILED"
    assert failed["file_hash"] is None
    [gone] = by_type["Upload Deleted"]
    assert gone["upload_id"] == deleted["upload_id"] and gone["status"] == "PENDING"

"""The emulator patches (tools/rehearse/emulator_patches.py) are in effect: CopyObject, as
the confirmations call it, answers as AWS does. Should a MiniStack upgrade rename what the
patches wrap, these fail rather than let every confirmation quietly take another path."""

import base64
import hashlib
import uuid

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def staged(aws, stack):
    key = f"incoming/rehearsal/{uuid.uuid4().hex}.bin"
    data = b"copied with a checksum"
    aws("s3").put_object(Bucket=stack.bucket, Key=key, Body=data)
    return key, data


def test_a_copy_returns_the_sha256_it_was_asked_for(aws, stack, staged):
    key, data = staged
    copied = aws("s3").copy_object(
        Bucket=stack.bucket, Key=f"{key}.final", CopySource={"Bucket": stack.bucket, "Key": key}, ChecksumAlgorithm="SHA256"
    )
    assert copied["CopyObjectResult"]["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_copy_to_an_existing_key_with_if_none_match_is_refused(aws, stack, staged):
    key, _ = staged
    s3 = aws("s3")
    s3.put_object(Bucket=stack.bucket, Key=f"{key}.final", Body=b"already there")
    with pytest.raises(ClientError) as refused:
        s3.copy_object(Bucket=stack.bucket, Key=f"{key}.final", CopySource={"Bucket": stack.bucket, "Key": key}, IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=stack.bucket, Key=f"{key}.final")["Body"].read() == b"already there"
    s3.copy_object(Bucket=stack.bucket, Key=f"{key}.new", CopySource={"Bucket": stack.bucket, "Key": key}, IfNoneMatch="*")

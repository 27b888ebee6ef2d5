"""Where MiniStack's S3 answers otherwise than AWS on a call our functions depend on: each
patch wraps one MiniStack function and is named after the gap it closes. `apply()` installs
them before MiniStack serves its first request (serve.py); nothing else changes the emulator.

Both patches are of CopyObject, the call every confirmation makes
(shared/src/objects/mod.rs, `ObjectStore::copy_once`): a conditional copy to the final key
that asks S3 for the copy's SHA-256. Without them a rehearsal would see confirmations that
AWS never produces (every synchronous confirmation handed to the worker, two concurrent
confirmations both copying), and could not tell ours from the emulator's.
"""

import functools
from xml.etree.ElementTree import SubElement, fromstring

from ministack.services import s3

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def _existing_object(bucket_name, key):
    bucket = s3._ensure_bucket(bucket_name)
    return None if bucket is None else bucket["objects"].get(key)


def copy_object_honours_if_none_match(copy_object):
    """CopyObject with `If-None-Match: *` answers 412 PreconditionFailed when the destination
    key exists, and copies nothing.

    Gap: MiniStack 1.5.33 evaluates `If-None-Match` on PutObject and
    CompleteMultipartUpload (`_check_put_preconditions`, services/s3.py ~1704, called at
    ~4803 and ~8733) but not on CopyObject: `_copy_object` (services/s3.py ~6349-6611)
    checks only the `x-amz-copy-source-if-*` headers and overwrites the destination. AWS
    supports the conditional copy; our confirmation relies on it so that the final key's
    bytes, once copied, never change (shared/src/confirm/verify.rs)."""

    @functools.wraps(copy_object)
    def patched(bucket_name, dest_key, headers):
        if (headers.get("if-none-match") or "").strip() == "*" and _existing_object(bucket_name, dest_key) is not None:
            return s3._error(
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                412,
                f"/{bucket_name}/{dest_key}",
            )
        return copy_object(bucket_name, dest_key, headers)

    return patched


def copy_object_returns_the_requested_checksum(copy_object):
    """CopyObject with `x-amz-checksum-algorithm: SHA256` stores the copy's SHA-256 and
    returns it as `ChecksumSHA256` (with `ChecksumType` FULL_OBJECT) in the
    CopyObjectResult, as AWS does.

    Gap: MiniStack 1.5.33's `_copy_object` (services/s3.py ~6489-6500) computes a new
    checksum only for `x-amz-sdk-checksum-algorithm` or an `x-amz-checksum-<alg>` value,
    not for CopyObject's own `x-amz-checksum-algorithm` header, which is what the Rust
    SDK sends (services/s3.py ~2617 routes the copy), and its CopyObjectResult
    (~6608-6611) carries only LastModified and ETag. Our confirmations take the upload's
    file_hash from that element; without it every synchronous confirmation answers
    PROCESSING and goes to the worker, which in AWS happens only for objects of 100 MiB or
    more."""

    @functools.wraps(copy_object)
    def patched(bucket_name, dest_key, headers):
        algorithm = (headers.get("x-amz-checksum-algorithm") or "").strip()
        if algorithm and not headers.get("x-amz-sdk-checksum-algorithm"):
            # MiniStack's own checksum resolver computes what this header names.
            headers = {**headers, "x-amz-sdk-checksum-algorithm": algorithm}
        status, response_headers, body = copy_object(bucket_name, dest_key, headers)
        name = algorithm.upper().replace("_", "")
        copied = _existing_object(bucket_name, dest_key) if status == 200 and name else None
        checksum = (copied or {}).get("checksums", {}).get(name)
        if checksum is None:
            return status, response_headers, body
        result = fromstring(body)
        SubElement(result, f"{{{S3_NS}}}Checksum{name}").text = checksum
        SubElement(result, f"{{{S3_NS}}}ChecksumType").text = "FULL_OBJECT"
        return status, response_headers, s3._xml_body(_without_namespace_prefixes(result))

    return patched


def _without_namespace_prefixes(element):
    """MiniStack writes `<CopyObjectResult xmlns="…">` with bare tag names; ElementTree would
    write `ns0:` prefixes for the parsed tags, which S3 clients do not expect."""
    for node in element.iter():
        if node.tag.startswith(f"{{{S3_NS}}}"):
            node.tag = node.tag[len(S3_NS) + 2 :]
    element.set("xmlns", S3_NS)
    return element


PATCHES = [
    copy_object_returns_the_requested_checksum,
    copy_object_honours_if_none_match,
]


def apply():
    """Installs every patch; the precondition is checked first, as AWS copies nothing when
    it fails. MiniStack's S3 dispatcher looks `_copy_object` up in its module on each call,
    so replacing the module attribute reaches every CopyObject."""
    copy_object = s3._copy_object
    for patch in PATCHES:
        copy_object = patch(copy_object)
    s3._copy_object = copy_object

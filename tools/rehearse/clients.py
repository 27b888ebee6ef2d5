"""boto3 clients of one MiniStack, with its root credentials: MiniStack treats the access key
"test" as the account's root, which no policy limits (core/iam_evaluator.py), so the
harness can deploy, seed and inspect under AUTH=true too."""

import boto3
from botocore.config import Config

REGION = "us-east-1"
ROOT_CREDENTIALS = ("test", "test")

# No retries: an answer that needed one would hide what the emulator or a function did.
_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"}, read_timeout=300)


def client_factory(endpoint, credentials=ROOT_CREDENTIALS, session_token=None):
    session = boto3.session.Session(
        aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1],
        aws_session_token=session_token,
        region_name=REGION,
    )
    return lambda service: session.client(service, endpoint_url=endpoint, config=_CONFIG)

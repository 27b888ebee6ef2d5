"""Every change the rehearsal makes to template.yaml before MiniStack deploys it, and nothing
else: each transformation is one function whose docstring names the MiniStack gap it works
around (ministack 1.5.33; file paths are inside its package, `ministack/…`). A
transformation never changes what our code or policies do; what the template says and
MiniStack cannot do is either done after the stack (post_deploy.py) or listed in
docs/rehearsal.md as not rehearsed, with where it is tested instead.

`transform(template, code_uris, auth)` returns a new template and the names of the
transformations it applied, in order.
"""

import copy
import json


def code_uri_to_packaged_zip(template, code_uris):
    """`CodeUri: .` (SAM builds the function with cargo-lambda from the workspace root) →
    `CodeUri: s3://<artifacts bucket>/<binary>-<digest>.zip`, the zip of the debug binary as
    `bootstrap` (artifacts.py), as `sam package` would leave it.

    Gap: no `sam build` here, and MiniStack's SAM transform (the aws-sam-translator it runs,
    services/cloudformation/engine.py ~1660-1676) refuses a local CodeUri; MiniStack fetches the
    zip from its own S3 (services/cloudformation/provisioners.py, the Lambda function provisioner)."""
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            binary = resource["Metadata"]["BuildProperties"]["Binary"]
            resource["Properties"]["CodeUri"] = code_uris[binary]


def access_key_made_after_the_stack(template, code_uris):
    """Removes `AWS::IAM::AccessKey` UrlSigningKey; the secret UrlSigningSecret starts
    with a placeholder that is no key (`{"AccessKeyId": "PENDING", …}`), and after the
    stack post_deploy.install_signing_key creates the user's key (iam:CreateAccessKey)
    and stores it as the secret's current version (secretsmanager:PutSecretValue): what
    the key resource and the secret's `!Sub` of it do in AWS.

    Gap: MiniStack has no provisioner for AWS::IAM::AccessKey
    (services/cloudformation/provisioners.py ~546, "Unsupported resource type"), which
    fails the whole stack."""
    del template["Resources"]["UrlSigningKey"]
    template["Resources"]["UrlSigningSecret"]["Properties"]["SecretString"] = json.dumps(
        {"AccessKeyId": "PENDING", "SecretAccessKey": "PENDING"}
    )


def no_rotation_schedule(template, code_uris):
    """Removes `AWS::SecretsManager::RotationSchedule` UrlSigningSecretRotation.

    Gap: no provisioner for the type (services/cloudformation/provisioners.py ~546), and MiniStack's
    RotateSecret is a stub that never invokes the rotation function (services/secretsmanager.py
    ~1101-1143). tests/rehearsal/test_signing_rotation.py invokes the deployed rotation
    function with Secrets Manager's four steps instead."""
    del template["Resources"]["UrlSigningSecretRotation"]


def no_metric_math_alarms(template, code_uris):
    """Removes the alarms defined with `Metrics` (metric math): FunctionErrorsAlarm(2) and
    FunctionThrottlesAlarm(2). The other alarms stay.

    Gap: MiniStack refuses `AWS::CloudWatch::Alarm` with `Properties.Metrics`
    ("metric math is not supported", services/cloudformation/provisioners.py ~10576), which rolls
    the stack back."""
    for logical_id in [
        name
        for name, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm" and "Metrics" in resource.get("Properties", {})
    ]:
        del template["Resources"][logical_id]


def no_secure_transport_bucket_policy(template, code_uris):
    """Under AUTH=true only: removes UploadsBucketPolicy, whose one statement is
    DenyInsecureTransport (`aws:SecureTransport` "false" → deny `s3:*`).

    Gap: MiniStack is reached over plain HTTP here, so `aws:SecureTransport` is "false"
    on every request (core/iam_evaluator.py ~214, from the request's scheme) and the Deny refuses
    every S3 call of every role and of the signing user. (MiniStack can serve HTTPS
    (USE_SSL), but the end-to-end tests' HTTP client is built without TLS.) Without
    AUTH no policy is evaluated and the bucket policy stays."""
    del template["Resources"]["UploadsBucketPolicy"]


# (transformation, applied under AUTH=true only)
TRANSFORMS = [
    (code_uri_to_packaged_zip, False),
    (access_key_made_after_the_stack, False),
    (no_rotation_schedule, False),
    (no_metric_math_alarms, False),
    (no_secure_transport_bucket_policy, True),
]


def transform(template, code_uris, auth):
    template = copy.deepcopy(template)
    applied = []
    for function, auth_only in TRANSFORMS:
        if auth_only and not auth:
            continue
        function(template, code_uris)
        applied.append(function.__name__)
    return template, applied

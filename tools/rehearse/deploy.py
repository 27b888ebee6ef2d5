"""Deploys template.yaml on a running MiniStack as `sam package` + `sam deploy` would in AWS:
the functions' zips uploaded (artifacts.py), the template transformed for what MiniStack
cannot do (transforms.py, nothing else), CreateStack through TemplateURL, then the
post-deploy steps (post_deploy.py). Writes what the test steps need to RUN_DIR/stack.env
(shell, `set -a; . stack.env`) and RUN_DIR/stack.json."""

import json
import os
import shlex
import time

import artifacts
import cfn_yaml
import post_deploy
import transforms
from clients import ROOT_CREDENTIALS, REGION, client_factory

STACK = "uploads"
# The functions are this machine's native debug builds.
PARAMETERS = {"Stage": "dev", "Architecture": "x86_64"}


def wait_for_stack(cloudformation, name, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            return stack
        if time.monotonic() > deadline:
            raise TimeoutError(f"stack {name} still {stack['StackStatus']} after {timeout} s")
        time.sleep(0.2)


def failed_resources(cloudformation, name):
    return [
        f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason')}"
        for e in cloudformation.describe_stack_events(StackName=name)["StackEvents"]
        if "FAILED" in e["ResourceStatus"]
    ]


def deploy(run_dir, endpoint, auth, template_path, bin_dir):
    client = client_factory(endpoint)
    started = time.monotonic()
    source = cfn_yaml.load(template_path)
    code_uris = artifacts.upload(client("s3"), source, bin_dir)
    uploaded = time.monotonic()
    template, applied = transforms.transform(source, code_uris, auth)
    # TemplateBody is limited to 51 200 bytes; the template goes through S3 as in AWS.
    client("s3").put_object(
        Bucket=artifacts.BUCKET, Key="template.json", Body=json.dumps(template, separators=(",", ":")).encode()
    )
    cloudformation = client("cloudformation")
    cloudformation.create_stack(
        StackName=STACK,
        TemplateURL=f"{endpoint}/{artifacts.BUCKET}/template.json",
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = wait_for_stack(cloudformation, STACK)
    created = time.monotonic()
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {STACK} ended {stack['StackStatus']}:\n  " + "\n  ".join(failed_resources(cloudformation, STACK)))

    resources = cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    types = {r["LogicalResourceId"]: r["ResourceType"] for r in resources}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    api_id = physical["UploadsApi"]
    secret_arn = client("secretsmanager").describe_secret(SecretId=physical["UrlSigningSecret"])["ARN"]

    routes = post_deploy.create_routes(client("apigatewayv2"), client("lambda"), api_id, source, physical)
    signing_key = post_deploy.install_signing_key(client("iam"), client("secretsmanager"), physical["UrlSigningUser"], secret_arn)
    concurrency = post_deploy.apply_reserved_concurrency(client("lambda"), source, physical, PARAMETERS)
    post_deploy.enable_time_to_live(client("dynamodb"), source, outputs["TableName"])

    state = {
        "endpoint": endpoint,
        "auth": auth,
        "stack": STACK,
        "transforms": applied,
        "outputs": outputs,
        "api_id": api_id,
        "api_url": f"{endpoint}/_aws/execute-api/{api_id}",
        "routes": routes,
        "functions": {k: v for k, v in physical.items() if types[k] == "AWS::Lambda::Function"},
        "roles": {k: v for k, v in physical.items() if types[k] == "AWS::IAM::Role"},
        "signing_user": physical["UrlSigningUser"],
        "signing_secret_arn": secret_arn,
        "signing_key_id": signing_key,
        "reserved_concurrency": concurrency,
        "deploy_seconds": round(time.monotonic() - started, 1),
        "seconds": {
            "package_and_upload": round(uploaded - started, 1),
            "create_stack": round(created - uploaded, 1),
            "post_deploy": round(time.monotonic() - created, 1),
        },
    }
    with open(os.path.join(run_dir, "stack.json"), "w") as f:
        json.dump(state, f, indent=2)
    write_env(os.path.join(run_dir, "stack.env"), state)
    return state


def write_env(path, state):
    """The variables the admin CLI, the SDK tests, the end-to-end tests and the rehearsal's
    tests read. The credentials are MiniStack's root ("test"), which no policy limits: the
    harness seeds and inspects; the functions run with their own roles."""
    outputs = state["outputs"]
    variables = {
        "AWS_ENDPOINT_URL": state["endpoint"],
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ROOT_CREDENTIALS[0],
        "AWS_SECRET_ACCESS_KEY": ROOT_CREDENTIALS[1],
        "AWS_EC2_METADATA_DISABLED": "true",
        "UPLOADS_TEST_API_URL": state["api_url"],
        "UPLOADS_TABLE": outputs["TableName"],
        "UPLOADS_S3_BUCKET": outputs["BucketName"],
        "UPLOADS_STATE_MACHINE_ARN": outputs["ConfirmStateMachineArn"],
        "UPLOADS_SIGNING_SECRET_ARN": state["signing_secret_arn"],
        "REHEARSAL_AUTH": "true" if state["auth"] else "false",
        "REHEARSAL_STACK": state["stack"],
        "REHEARSAL_OUTPUTS": json.dumps(outputs, sort_keys=True),
        "REHEARSAL_SIGNING_USER": state["signing_user"],
        "REHEARSAL_FUNCTIONS": json.dumps(state["functions"], sort_keys=True),
        "REHEARSAL_ROLES": json.dumps(state["roles"], sort_keys=True),
    }
    with open(path, "w") as f:
        for name, value in variables.items():
            f.write(f"{name}={shlex.quote(value)}\n")

"""moto's server with Step Functions executing the template's own state machine, its Lambda
tasks invoking the functions that `cargo lambda watch` serves.

    python sfn_local.py --port PORT --lambda-endpoint http://127.0.0.1:WATCH_PORT \
        --template template.yaml --state-machine ConfirmStateMachine \
        --substitute WorkerArn=arn:aws:lambda:us-east-1:123456789012:function:confirm-worker

The local stack runs this instead of a plain `moto_server`: it still serves IAM and Secrets
Manager, and it makes the one definition of the confirmation state machine's Retry, Catch and
loop (template.yaml) the one that runs locally too. Two things on top of moto:

1. `execute_state_machine`: StartExecution runs the definition in moto's ASL interpreter
   (moto/stepfunctions/parser) instead of only recording the execution.
2. The interpreter's Lambda tasks call moto's own Lambda (which runs functions in docker)
   through a client whose endpoint no setting moves. For service "lambda" that client is
   replaced by `WatchLambdaClient`, which invokes the function under the watch and answers
   as Lambda's Invoke does.
"""

import argparse
import io
import json
import logging
import re
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import yaml
from botocore.exceptions import ClientError
from moto.core.config import default_user_config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


class WatchLambdaClient:
    """The one Lambda call moto's interpreter makes (`invoke`), against `cargo lambda watch`.

    The watch answers 200 with the function's answer, and a function's error with a 500 whose
    body is the runtime's {"errorType", "errorMessage"} (no X-Amz-Function-Error header).
    Lambda answers such an error 200 with X-Amz-Function-Error and the same body, which moto
    turns into a state error named after errorType: that is what this client returns. Any
    other answer is one of Lambda's own errors: Lambda.ResourceNotFoundException (404),
    Lambda.ServiceException (another status), Lambda.SdkClientException (no answer at all).
    """

    def __init__(self, endpoint, timeout):
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout

    @staticmethod
    def function_name(name):
        """The watch knows its functions by name: arn:…:function:NAME[:QUALIFIER] → NAME."""
        match = re.match(r"^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)", name)
        return match.group(1) if match else name

    def invoke(self, FunctionName, Payload=None, **_ignored):
        name = urllib.parse.quote(self.function_name(FunctionName), safe="")
        url = f"{self.endpoint}/2015-03-31/functions/{name}/invocations"
        request = urllib.request.Request(
            url, data=Payload or b"{}", method="POST", headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
        except OSError as err:
            raise service_error("SdkClientException", f"{url}: {err}", 503) from err
        if status == 200:
            return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": io.BytesIO(body)}
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "errorType" in answer:
            return {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "ExecutedVersion": "$LATEST",
                "Payload": io.BytesIO(body),
            }
        code = "ResourceNotFoundException" if status == 404 else "ServiceException"
        raise service_error(code, body.decode("utf-8", "replace"), status)


def service_error(code, message, status):
    # moto reads the request id of a failed call; the interpreter names the error Lambda.<code>.
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "local"},
        },
        "Invoke",
    )


def route_lambda_to(endpoint, timeout):
    original = getattr(lambda_eval_utils, "boto_client_for", None)
    if original is None:
        sys.exit("moto's Step Functions interpreter no longer has lambda_eval_utils.boto_client_for: update sfn_local.py")
    watch = WatchLambdaClient(endpoint, timeout)

    def boto_client_for(region, service, state_credentials=None):
        if service == "lambda":
            return watch
        return original(region=region, service=service, state_credentials=state_credentials)

    lambda_eval_utils.boto_client_for = boto_client_for


class TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (!Ref, !GetAtt, …) kept as values."""


TemplateLoader.add_multi_constructor(
    "!",
    lambda loader, tag, node: {
        tag: (
            loader.construct_scalar(node)
            if isinstance(node, yaml.ScalarNode)
            else loader.construct_sequence(node, deep=True)
            if isinstance(node, yaml.SequenceNode)
            else loader.construct_mapping(node, deep=True)
        )
    },
)


def definition_from_template(path, logical_id, substitutions):
    """The state machine's Definition as JSON, with ${Key} replaced as DefinitionSubstitutions does."""
    with open(path) as f:
        template = yaml.load(f, Loader=TemplateLoader)
    properties = template["Resources"][logical_id]["Properties"]
    text = json.dumps(properties["Definition"])
    wanted = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))
    missing = wanted - set(substitutions)
    if missing:
        sys.exit(f"{logical_id}: no --substitute for {sorted(missing)}")
    for key in wanted:
        text = text.replace("${" + key + "}", json.dumps(substitutions[key])[1:-1])
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lambda-endpoint", required=True, help="cargo lambda watch's address")
    parser.add_argument("--invoke-timeout", type=float, default=900, help="seconds (the worker's Timeout)")
    parser.add_argument("--template", required=True)
    parser.add_argument("--state-machine", default="ConfirmStateMachine", help="its logical id, also its name")
    parser.add_argument("--substitute", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--ready-file", help="written with the state machine's ARN once it exists")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    # The interpreter logs an ERROR for every Choice on an absent $.more and for every Fail
    # state it runs, which are the definition working as intended.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    route_lambda_to(args.lambda_endpoint, args.invoke_timeout)

    substitutions = dict(item.split("=", 1) for item in args.substitute)
    definition = definition_from_template(args.template, args.state_machine, substitutions)
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    # moto's server logs every request at INFO once it runs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    import boto3

    stepfunctions = boto3.client(
        "stepfunctions",
        endpoint_url=f"http://{args.host}:{args.port}",
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    arn = stepfunctions.create_state_machine(
        name=args.state_machine,
        definition=definition,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/{args.state_machine}Role",
        type="STANDARD",
    )["stateMachineArn"]
    print(f"serving on http://{args.host}:{args.port}; state machine {arn}", flush=True)
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(arn)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()

"""What the template declares and MiniStack's CloudFormation accepts without doing, done
after the stack through the services' own APIs, with the values the template gives. Each
step names the gap it works around (ministack 1.5.33; paths inside its package)."""

import json


def http_api_routes(template):
    """(function logical id, route key) of every HttpApi event in the template: `METHOD
    /path`, or `$default` for the catch-all (`Path: $default`, whatever its Method), as SAM
    makes them."""
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") == "HttpApi":
                properties = event["Properties"]
                path = properties["Path"]
                yield logical_id, "$default" if path == "$default" else f"{properties['Method'].upper()} {path}"


def create_routes(apigatewayv2, lambda_, api_id, template, physical_ids):
    """An AWS_PROXY integration (payload format 2.0, as SAM makes for an HttpApi event) and
    a route for every HttpApi event of the template; returns the route keys.

    Gap: SAM turns the events into the HttpApi's OpenAPI `Body`, which MiniStack stores
    and ignores (services/cloudformation/provisioners.py, `_apigw_v2_api_create` reads no
    Body): the deployed API has no routes."""
    existing = {route["RouteKey"] for route in apigatewayv2.get_routes(ApiId=api_id)["Items"]}
    made = []
    for logical_id, route_key in http_api_routes(template):
        if route_key in existing:
            continue
        function_arn = lambda_.get_function(FunctionName=physical_ids[logical_id])["Configuration"]["FunctionArn"]
        integration = apigatewayv2.create_integration(
            ApiId=api_id,
            IntegrationType="AWS_PROXY",
            IntegrationMethod="POST",
            IntegrationUri=function_arn,
            PayloadFormatVersion="2.0",
        )
        apigatewayv2.create_route(ApiId=api_id, RouteKey=route_key, Target=f"integrations/{integration['IntegrationId']}")
        made.append(route_key)
    return made


def install_signing_key(iam, secretsmanager, user, secret_arn):
    """The signing user's first access key, stored as the secret's current version; returns
    its id. In AWS the template's UrlSigningKey and the secret's `!Sub` of it do this
    (transforms.access_key_made_after_the_stack says why they cannot here)."""
    key = iam.create_access_key(UserName=user)["AccessKey"]
    secretsmanager.put_secret_value(
        SecretId=secret_arn,
        SecretString=json.dumps({"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}),
    )
    return key["AccessKeyId"]


def _parameter(value, template, parameters):
    if isinstance(value, dict) and "Ref" in value:
        name = value["Ref"]
        return parameters.get(name, template["Parameters"][name]["Default"])
    return value


def apply_reserved_concurrency(lambda_, template, physical_ids, parameters):
    """PutFunctionConcurrency with each function's ReservedConcurrentExecutions; returns
    {logical id: value}.

    Gap: MiniStack's CloudFormation creates every function with no reserved concurrency
    whatever the template says (services/cloudformation/provisioners.py ~2438,
    `"concurrency": None`), while the Lambda API's setting is enforced at invoke
    (services/lambda_svc.py, the warm-worker ceiling)."""
    applied = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        value = resource["Properties"].get("ReservedConcurrentExecutions")
        if value is None:
            continue
        value = int(_parameter(value, template, parameters))
        lambda_.put_function_concurrency(FunctionName=physical_ids[logical_id], ReservedConcurrentExecutions=value)
        applied[logical_id] = value
    return applied


def enable_time_to_live(dynamodb, template, table_name):
    """UpdateTimeToLive with the table's TimeToLiveSpecification.

    Gap: MiniStack's table provisioner accepts TimeToLiveSpecification and does not apply
    it (services/cloudformation/provisioners.py, the DynamoDB table provisioner).
    (MiniStack's TTL removals still write no stream record, so expired-uploads is not
    rehearsed: docs/rehearsal.md.)"""
    spec = template["Resources"]["UploadsTable"]["Properties"]["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"AttributeName": spec["AttributeName"], "Enabled": bool(spec["Enabled"])},
    )
    return spec["AttributeName"]

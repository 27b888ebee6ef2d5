//! The files that describe the deployment agree with the code: the table's key schema and
//! GSIs in `template.yaml` match `store::schema`, and the HttpApi routes, the
//! `cargo lambda watch` router and `routes::ALL` list the same endpoints.

use bucket_uploads::routes;
use bucket_uploads::store::schema;
use serde_norway::Value;
use std::collections::BTreeSet;

fn workspace_file(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn template() -> Value {
    serde_norway::from_str(&workspace_file("template.yaml")).expect("template.yaml parses")
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(name, r)| (name.as_str().unwrap_or_default(), r))
        .collect()
}

/// `(attribute, HASH|RANGE)` pairs, in order.
type KeySchema = Vec<(String, String)>;
/// `(index name, key schema, projection type)`.
type IndexDecl = (String, KeySchema, String);

fn key_schema(value: &Value) -> KeySchema {
    value
        .as_sequence()
        .expect("KeySchema list")
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_owned(),
                k["KeyType"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_templates_table_matches_the_schema_module() {
    let template = template();
    let tables = resources_of_type(&template, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table expected");
    let props = &tables[0].1["Properties"];

    assert_eq!(
        key_schema(&props["KeySchema"]),
        vec![
            (schema::PARTITION_KEY.to_owned(), "HASH".to_owned()),
            (schema::SORT_KEY.to_owned(), "RANGE".to_owned())
        ]
    );
    let declared: BTreeSet<(String, String)> = props["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap().to_owned(),
                a["AttributeType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = schema::key_attributes()
        .into_iter()
        .map(|n| (n.to_owned(), "S".to_owned()))
        .collect();
    assert_eq!(declared, expected);

    let indexes: Vec<IndexDecl> = props["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["IndexName"].as_str().unwrap().to_owned(),
                key_schema(&g["KeySchema"]),
                g["Projection"]["ProjectionType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<IndexDecl> = schema::INDEXES
        .iter()
        .map(|i| {
            (
                i.name.to_owned(),
                vec![
                    (i.partition_key.to_owned(), "HASH".to_owned()),
                    (i.sort_key.to_owned(), "RANGE".to_owned()),
                ],
                "ALL".to_owned(),
            )
        })
        .collect();
    assert_eq!(indexes, expected);
    assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));

    let ttl = &props["TimeToLiveSpecification"];
    assert_eq!(ttl["AttributeName"].as_str(), Some(schema::TTL_ATTRIBUTE));
    assert_eq!(ttl["Enabled"].as_bool(), Some(true));
}

/// The bucket expires what upload URLs wrote and no confirmation moved: the staging prefix,
/// and only once no confirmation can be under way (a day after the longest-lived URL).
#[test]
fn the_bucket_expires_bytes_of_uploads_never_confirmed() {
    use bucket_uploads::model::STAGING_PREFIX;
    use bucket_uploads::uploads::MAX_EXPIRATION_SECS;

    let template = template();
    let buckets = resources_of_type(&template, "AWS::S3::Bucket");
    assert_eq!(buckets.len(), 1, "one bucket expected");
    let rules = buckets[0].1["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .expect("lifecycle rules");
    let expiring: Vec<&Value> = rules.iter().filter(|r| r.get("ExpirationInDays").is_some()).collect();
    assert_eq!(expiring.len(), 1, "one rule expires objects");
    let rule = expiring[0];
    assert_eq!(rule["Status"].as_str(), Some("Enabled"));
    assert_eq!(
        rule["Prefix"].as_str(),
        Some(STAGING_PREFIX),
        "only staged bytes expire"
    );
    assert!(rule.get("TagFilters").is_none() && rule.get("ExpirationDate").is_none());
    let days = rule["ExpirationInDays"].as_u64().expect("ExpirationInDays");
    assert!(
        days * 86_400 >= MAX_EXPIRATION_SECS + 86_400,
        "{days} days leave no day after the longest-lived upload URL"
    );
}

/// The event source mapping that feeds `function` (a logical id) from the table's stream,
/// after checking what every stream consumer needs: it is the expected binary, wired by a
/// plain mapping (no SAM event), reports the first record it could not handle, and hands
/// batches it gives up on to a dead-letter queue. Returns its properties and its filter
/// patterns.
fn stream_consumer<'a>(template: &'a Value, function: &str, binary: &str) -> (&'a Value, Vec<serde_json::Value>) {
    let tables = resources_of_type(template, "AWS::DynamoDB::Table");
    let view = tables[0].1["Properties"]["StreamSpecification"]["StreamViewType"].as_str();
    assert_eq!(view, Some("NEW_AND_OLD_IMAGES"));

    let mappings: Vec<_> = resources_of_type(template, "AWS::Lambda::EventSourceMapping")
        .into_iter()
        .filter(|(_, mapping)| untagged(&mapping["Properties"]["FunctionName"]) == function)
        .collect();
    assert_eq!(mappings.len(), 1, "one event source mapping for {function} expected");
    let props = &mappings[0].1["Properties"];
    assert!(
        matches!(&props["FunctionName"], Value::Tagged(tagged) if tagged.tag == "!Ref"),
        "FunctionName is not a !Ref"
    );
    assert_eq!(untagged(&props["EventSourceArn"]), "UploadsTable.StreamArn");
    let consumer = &template["Resources"][function];
    assert_eq!(consumer["Metadata"]["BuildProperties"]["Binary"].as_str(), Some(binary));
    assert!(
        consumer["Properties"].get("Events").is_none(),
        "a SAM event would attach a managed policy that reads every stream"
    );
    assert_eq!(
        props["FunctionResponseTypes"].as_sequence().map(Vec::as_slice),
        Some(&[Value::from("ReportBatchItemFailures")][..])
    );
    assert!(props["MaximumRetryAttempts"].as_u64().is_some_and(|n| n > 0));
    let dead_letters = untagged(&props["DestinationConfig"]["OnFailure"]["Destination"]);
    let queue = dead_letters
        .strip_suffix(".Arn")
        .expect("the dead-letter queue's !GetAtt ….Arn");
    assert_eq!(template["Resources"][queue]["Type"].as_str(), Some("AWS::SQS::Queue"));
    let patterns = props["FilterCriteria"]["Filters"]
        .as_sequence()
        .expect("filters")
        .iter()
        .map(|filter| serde_json::from_str(filter["Pattern"].as_str().expect("pattern")).expect("a JSON pattern"))
        .collect();
    (props, patterns)
}

/// The TTL consumer reads removed uploads from the stream's old images, and its event
/// source only passes DynamoDB's own TTL removals of upload records.
#[test]
fn expired_uploads_reach_their_consumer_with_their_old_images() {
    let template = template();
    let (_, patterns) = stream_consumer(&template, "ExpiredUploadsFunction", "expired-uploads");
    assert_eq!(
        patterns,
        [serde_json::json!({
            "eventName": ["REMOVE"],
            "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
            "dynamodb": {"Keys": {"sk": {"S": ["upload"]}}}
        })]
    );
}

/// The publisher of docs/events.md gets every record that can make an event (changes and
/// removals of uploads, uploads created COMPLETED, new batches) and no other, and may put
/// events on the default bus only. It replaced the Pipe that published "Batch Submitted":
/// the stream has two readers, as many as a shard serves without throttling them.
#[test]
fn upload_and_batch_events_reach_their_publisher_and_only_the_default_bus() {
    let template = template();
    let (_, patterns) = stream_consumer(&template, "UploadEventsFunction", "upload-events");
    assert_eq!(
        patterns,
        [
            serde_json::json!({"eventName": ["MODIFY", "REMOVE"], "dynamodb": {"Keys": {"sk": {"S": ["upload"]}}}}),
            serde_json::json!({
                "eventName": ["INSERT"],
                "dynamodb": {"Keys": {"sk": {"S": ["upload"]}}, "NewImage": {"status": {"S": ["COMPLETED"]}}}
            }),
            serde_json::json!({"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": ["batch"]}}}}),
        ]
    );
    assert!(resources_of_type(&template, "AWS::Pipes::Pipe").is_empty());
    let stream_readers = resources_of_type(&template, "AWS::Lambda::EventSourceMapping")
        .into_iter()
        .filter(|(_, m)| untagged(&m["Properties"]["EventSourceArn"]) == "UploadsTable.StreamArn")
        .count();
    assert_eq!(stream_readers, 2);

    let publisher = &template["Resources"]["UploadEventsFunction"]["Properties"];
    let statements: Vec<&Value> = publisher["Policies"][0]["Statement"]
        .as_sequence()
        .expect("statements")
        .iter()
        .filter(|s| {
            s["Action"]
                .as_sequence()
                .is_some_and(|a| a.contains(&Value::from("events:PutEvents")))
        })
        .collect();
    assert_eq!(statements.len(), 1);
    assert_eq!(
        untagged(&statements[0]["Resource"]),
        "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"
    );
}

/// Whatever lands in a dead-letter queue is something that did not happen (an event not
/// published, an expired upload not forgotten): each queue has an alarm on AlarmTopic.
#[test]
fn every_dead_letter_queue_has_an_alarm_on_the_alarm_topic() {
    let template = template();
    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    let queues: Vec<_> = resources_of_type(&template, "AWS::SQS::Queue")
        .into_iter()
        .filter(|(name, _)| name.ends_with("DeadLetterQueue"))
        .collect();
    assert!(queues.len() >= 3);
    for (queue, _) in queues {
        let watching: Vec<_> = alarms
            .iter()
            .filter(|(_, alarm)| {
                let props = &alarm["Properties"];
                props["Namespace"].as_str() == Some("AWS/SQS")
                    && props["Dimensions"]
                        .as_sequence()
                        .is_some_and(|d| d.iter().any(|d| untagged(&d["Value"]) == format!("{queue}.QueueName")))
            })
            .collect();
        assert_eq!(watching.len(), 1, "{queue}: one alarm expected");
        let props = &watching[0].1["Properties"];
        assert_eq!(props["MetricName"].as_str(), Some("ApproximateNumberOfMessagesVisible"));
        assert_eq!(props["Threshold"].as_u64(), Some(1));
        assert_eq!(
            props["ComparisonOperator"].as_str(),
            Some("GreaterThanOrEqualToThreshold")
        );
        let actions: Vec<String> = props["AlarmActions"]
            .as_sequence()
            .expect("AlarmActions")
            .iter()
            .map(untagged)
            .collect();
        assert_eq!(actions, ["AlarmTopic"], "{queue}");
    }
}

type Endpoint = (String, String, String);

/// Every route of the HttpApi: the API's own and the `$default` route.
/// Auto-confirm: the bucket sends its events to EventBridge; a rule picks the objects
/// created under the staging prefix and queues them; the queue runs `auto-confirm`,
/// reporting failed messages one by one; what fails five times, or cannot be queued, waits in
/// a dead-letter queue whose alarm notifies the operators.
#[test]
fn object_created_events_reach_auto_confirm_and_failures_an_alarm() {
    let template = template();
    let resources = &template["Resources"];
    let bucket = &resources["UploadsBucket"]["Properties"];
    assert_eq!(
        bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"].as_bool(),
        Some(true)
    );

    let rule = &resources["ObjectCreatedRule"]["Properties"];
    let pattern = &rule["EventPattern"];
    assert_eq!(pattern["source"][0].as_str(), Some("aws.s3"));
    assert_eq!(pattern["detail-type"][0].as_str(), Some("Object Created"));
    assert_eq!(untagged(&pattern["detail"]["bucket"]["name"][0]), "UploadsBucket");
    assert_eq!(
        pattern["detail"]["object"]["key"][0]["prefix"].as_str(),
        Some(bucket_uploads::model::STAGING_PREFIX),
        "the rule must pick exactly the keys upload URLs write"
    );
    let target = &rule["Targets"][0];
    assert_eq!(untagged(&target["Arn"]), "ObjectCreatedQueue.Arn");
    assert_eq!(
        untagged(&target["DeadLetterConfig"]["Arn"]),
        "ObjectCreatedDeadLetterQueue.Arn"
    );

    let queue = &resources["ObjectCreatedQueue"]["Properties"];
    let redrive = &queue["RedrivePolicy"];
    assert_eq!(
        untagged(&redrive["deadLetterTargetArn"]),
        "ObjectCreatedDeadLetterQueue.Arn"
    );
    assert_eq!(redrive["maxReceiveCount"].as_u64(), Some(5));
    let timeout = resources["AutoConfirmFunction"]["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    assert!(
        queue["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout,
        "Lambda wants at least six function timeouts"
    );
    let policy = &resources["ObjectCreatedQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Principal"]["Service"].as_str(), Some("events.amazonaws.com"));
    assert_eq!(
        untagged(&policy["Condition"]["ArnEquals"]["aws:SourceArn"]),
        "ObjectCreatedRule.Arn"
    );

    let mapping = resources_of_type(&template, "AWS::Lambda::EventSourceMapping")
        .into_iter()
        .find(|(_, m)| untagged(&m["Properties"]["FunctionName"]) == "AutoConfirmFunction")
        .expect("auto-confirm reads a queue")
        .1;
    assert_eq!(
        untagged(&mapping["Properties"]["EventSourceArn"]),
        "ObjectCreatedQueue.Arn"
    );
    assert_eq!(
        mapping["Properties"]["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    assert_eq!(
        resources["AutoConfirmFunction"]["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("auto-confirm")
    );

    let alarm = &resources["ObjectCreatedDeadLetterAlarm"]["Properties"];
    assert_eq!(alarm["Namespace"].as_str(), Some("AWS/SQS"));
    assert_eq!(alarm["MetricName"].as_str(), Some("ApproximateNumberOfMessagesVisible"));
    assert_eq!(
        untagged(&alarm["Dimensions"][0]["Value"]),
        "ObjectCreatedDeadLetterQueue.QueueName"
    );
    assert_eq!(untagged(&alarm["AlarmActions"][0]), "AlarmTopic");
}

/// Every function's errors and throttles reach an alarm (the signing key's rotation has
/// one of its own), and no metric-math alarm reads more than CloudWatch's 10 metrics.
#[test]
fn every_function_is_in_an_errors_and_a_throttles_alarm_of_at_most_ten_metrics() {
    let template = template();
    let functions: BTreeSet<String> = resources_of_type(&template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .filter(|name| name != "RotateSigningKeyFunction")
        .collect();
    for metric in ["Errors", "Throttles"] {
        let mut covered = Vec::new();
        for (name, alarm) in resources_of_type(&template, "AWS::CloudWatch::Alarm") {
            let Some(queries) = alarm["Properties"]["Metrics"].as_sequence() else {
                continue;
            };
            let stats: Vec<&Value> = queries.iter().filter(|q| q.get("MetricStat").is_some()).collect();
            assert!(stats.len() <= 10, "{name} reads {} metrics", stats.len());
            for stat in stats {
                let metric_of = &stat["MetricStat"]["Metric"];
                if metric_of["MetricName"].as_str() == Some(metric) {
                    covered.push(untagged(&metric_of["Dimensions"][0]["Value"]));
                }
            }
        }
        let unique: BTreeSet<String> = covered.iter().cloned().collect();
        assert_eq!(unique.len(), covered.len(), "a function counted twice for {metric}");
        assert_eq!(unique, functions, "{metric}");
    }
}

fn code_routes() -> BTreeSet<Endpoint> {
    routes::ALL
        .iter()
        .chain([&routes::NOT_FOUND])
        .map(|r| (r.method.to_owned(), r.path.to_owned(), r.function.to_owned()))
        .collect()
}

/// The methods a request may have that the watch router names for every path (OPTIONS too:
/// the HttpApi has no CORS configuration, so the watch runs with --disable-cors).
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The function API Gateway picks for `method` on a request to `path` (a route's path, its
/// parameters standing for values no literal segment equals): of the routes with that
/// method whose path matches segment by segment, the most specific (literal segments win,
/// from the left), else the `$default` route.
fn api_gateway_pick(method: &str, path: &str) -> &'static str {
    let is_param = |segment: &str| segment.starts_with('{');
    let specificity = |route: &str| -> Option<Vec<bool>> {
        let (route, asked): (Vec<&str>, Vec<&str>) = (route.split('/').collect(), path.split('/').collect());
        if route.len() != asked.len() {
            return None;
        }
        route
            .iter()
            .zip(&asked)
            .map(|(r, a)| match (is_param(r), is_param(a)) {
                (true, _) => Some(false),
                (false, false) if r == a => Some(true),
                _ => None,
            })
            .collect()
    };
    routes::ALL
        .iter()
        .filter(|r| r.method == method)
        .filter_map(|r| specificity(r.path).map(|s| (s, r.function)))
        .max()
        .map_or(routes::NOT_FOUND.function, |(_, function)| function)
}

#[test]
fn api_gateway_picks_the_most_specific_route() {
    let upload = "/v1/buckets/{bucket_identifier}/uploads/{upload_id}";
    assert_eq!(api_gateway_pick("GET", upload), "get-upload");
    assert_eq!(api_gateway_pick("PUT", upload), "route-not-found");
    assert_eq!(
        api_gateway_pick("POST", "/v1/buckets/{bucket_identifier}/uploads/list"),
        "list-uploads"
    );
    assert_eq!(
        api_gateway_pick("GET", "/v1/buckets/{bucket_identifier}/uploads/list"),
        "get-upload"
    );
    assert_eq!(api_gateway_pick("POST", upload), "route-not-found");
}

#[test]
fn the_http_api_serves_exactly_the_routes() {
    let template = template();
    let mut served = BTreeSet::new();
    for (_, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("BuildProperties.Binary")
            .to_owned();
        assert_eq!(function["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"));
        let events = function["Properties"]["Events"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        for (_, event) in events {
            if event["Type"].as_str() == Some("HttpApi") {
                let props = &event["Properties"];
                served.insert((
                    props["Method"].as_str().unwrap().to_uppercase(),
                    props["Path"].as_str().unwrap().to_owned(),
                    binary.clone(),
                ));
            }
        }
    }
    assert_eq!(served, code_routes());
}

/// The watch answers a request as API Gateway would: every method of every route's path goes
/// where API Gateway sends it, and any other path to the `$default` route's function.
#[test]
fn the_watch_router_routes_as_the_http_api_does() {
    let manifest: toml_like::Manifest = toml_like::parse(&workspace_file("Cargo.toml"));
    let mut expected: BTreeSet<Endpoint> = routes::ALL
        .iter()
        .flat_map(|route| {
            METHODS.iter().map(|method| {
                let function = api_gateway_pick(method, route.path);
                ((*method).to_owned(), route.path.to_owned(), function.to_owned())
            })
        })
        .collect();
    for catch_all in ["/", "/{*proxy}"] {
        expected.insert((
            "ANY".to_owned(),
            catch_all.to_owned(),
            routes::NOT_FOUND.function.to_owned(),
        ));
    }
    assert_eq!(manifest.router, expected);
    let stack = workspace_file("scripts/stack.sh");
    assert!(stack.contains("--disable-cors"), "OPTIONS must reach the router");
}

#[test]
fn every_function_crate_is_a_route_or_a_worker() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    // Directories: the build script every function shares (no-pie.rs) lives beside them.
    let crates: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut expected: BTreeSet<String> = routes::ALL
        .iter()
        .chain([&routes::NOT_FOUND])
        .map(|r| r.function.to_owned())
        .collect();
    expected.extend(routes::WORKERS.iter().map(|w| (*w).to_owned()));
    assert_eq!(crates, expected);
    let template = workspace_file("template.yaml");
    for function in &expected {
        assert!(
            template.contains(&format!("Binary: {function}")),
            "{function} is not built by template.yaml"
        );
    }
}

/// The actions a function's policies allow, from its inline policy statements.
fn granted_actions(function: &Value) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for policy in function["Properties"]["Policies"]
        .as_sequence()
        .cloned()
        .unwrap_or_default()
    {
        for statement in policy["Statement"].as_sequence().cloned().unwrap_or_default() {
            assert_eq!(
                statement["Effect"].as_str(),
                Some("Allow"),
                "only Allow statements are expected: {statement:?}"
            );
            match &statement["Action"] {
                Value::String(action) => {
                    actions.insert(action.clone());
                }
                Value::Sequence(list) => actions.extend(list.iter().filter_map(|a| a.as_str().map(str::to_owned))),
                other => panic!("unexpected Action {other:?}"),
            }
        }
        assert!(
            policy.get("Statement").is_some(),
            "only inline statements are allowed, not managed templates: {policy:?}"
        );
    }
    actions
}

#[test]
fn every_function_is_granted_exactly_what_its_code_needs() {
    let template = template();
    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    assert!(!functions.is_empty());
    for (name, function) in functions {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary");
        let needed: BTreeSet<String> = workspace_file(&format!("functions/{binary}/permissions.txt"))
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default().trim().to_owned())
            .filter(|action| !action.is_empty())
            .collect();
        let granted = granted_actions(function);
        let extra: Vec<_> = granted.difference(&needed).collect();
        assert!(
            extra.is_empty(),
            "{name} is granted {extra:?}, which functions/{binary} does not need"
        );
        let missing: Vec<_> = needed.difference(&granted).collect();
        assert!(
            missing.is_empty(),
            "{name} lacks {missing:?}, which functions/{binary} needs"
        );
    }
}

/// A function's app takes the signing identity exactly when its role may read the signing
/// secret, and starts workers exactly when it may start executions: what it does not take is
/// neither linked into its binary (issue 13) nor granted.
#[test]
fn every_function_wires_what_it_is_granted() {
    let mut wired = 0;
    for function in routes::ALL
        .iter()
        .chain([&routes::NOT_FOUND])
        .map(|r| r.function)
        .chain(routes::WORKERS.iter().copied())
    {
        let main = workspace_file(&format!("functions/{function}/src/main.rs"));
        if !main.contains("Wiring") {
            continue;
        }
        let permissions = workspace_file(&format!("functions/{function}/permissions.txt"));
        let granted = |action: &str| permissions.lines().any(|line| line.trim_start().starts_with(action));
        assert_eq!(
            main.contains("signing_urls"),
            granted("secretsmanager:GetSecretValue"),
            "{function}: signing_urls and secretsmanager:GetSecretValue"
        );
        assert_eq!(
            main.contains("starting_workers"),
            granted("states:StartExecution"),
            "{function}: starting_workers and states:StartExecution"
        );
        assert_eq!(
            main.contains("publishing_events"),
            granted("events:PutEvents"),
            "{function}: publishing_events and events:PutEvents"
        );
        // Only the worker reads objects whole: a request's confirmation hands it bytes S3
        // kept no SHA-256 of, and the worker has nothing to hand them to.
        assert_eq!(
            main.contains("reading_objects"),
            function == "confirm-worker",
            "{function}: reading_objects"
        );
        wired += 1;
    }
    // Every function but the OpenAPI document, the $default route and the key rotation
    // builds an app.
    assert_eq!(wired, routes::ALL.len() + routes::WORKERS.len() - 2);
}

/// Reads the `[workspace.metadata.lambda.watch.router]` table of the workspace manifest.
mod toml_like {
    use super::Endpoint;
    use std::collections::BTreeSet;

    pub struct Manifest {
        pub router: BTreeSet<Endpoint>,
    }

    pub fn parse(text: &str) -> Manifest {
        let value: toml::Value = toml::from_str(text).expect("Cargo.toml parses");
        let router = value["workspace"]["metadata"]["lambda"]["watch"]["router"]
            .as_table()
            .expect("watch router table");
        let mut endpoints = BTreeSet::new();
        for (path, routes) in router {
            // A function's name alone: every method of the path.
            if let Some(function) = routes.as_str() {
                endpoints.insert(("ANY".to_owned(), path.clone(), function.to_owned()));
                continue;
            }
            for route in routes.as_array().expect("a list of {method, function}") {
                endpoints.insert((
                    route["method"].as_str().unwrap().to_owned(),
                    path.clone(),
                    route["function"].as_str().unwrap().to_owned(),
                ));
            }
        }
        Manifest { router: endpoints }
    }
}

/// The string inside a value, with any CloudFormation tag (`!Sub`, `!Ref`) taken off.
fn untagged(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => untagged(&tagged.value),
        Value::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

#[test]
fn the_signing_identity_may_only_write_uploads_and_read_verified_objects() {
    let template = template();
    let resources = &template["Resources"];
    let user = &resources["UrlSigningUser"];
    assert_eq!(user["Type"].as_str(), Some("AWS::IAM::User"));
    let mut granted = BTreeSet::new();
    for policy in user["Properties"]["Policies"].as_sequence().expect("inline policies") {
        for statement in policy["PolicyDocument"]["Statement"].as_sequence().expect("statements") {
            assert_eq!(statement["Effect"].as_str(), Some("Allow"));
            for action in statement["Action"].as_sequence().expect("an action list") {
                granted.insert((
                    action.as_str().unwrap_or_default().to_owned(),
                    untagged(&statement["Resource"]),
                ));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = [
        ("s3:PutObject", "${UploadsBucket.Arn}/incoming/*"),
        ("s3:GetObject", "${UploadsBucket.Arn}/ns_*"),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_owned(), r.to_owned()))
    .collect();
    assert_eq!(granted, expected);
    assert_eq!(resources["UrlSigningKey"]["Type"].as_str(), Some("AWS::IAM::AccessKey"));
    assert_eq!(
        resources["UrlSigningSecret"]["Type"].as_str(),
        Some("AWS::SecretsManager::Secret")
    );

    // Rotation: scheduled, by the rotation function, less often than a key must stay current.
    let schedule = &resources["UrlSigningSecretRotation"];
    assert_eq!(schedule["Type"].as_str(), Some("AWS::SecretsManager::RotationSchedule"));
    assert_eq!(untagged(&schedule["Properties"]["SecretId"]), "UrlSigningSecret.Id");
    assert_eq!(
        untagged(&schedule["Properties"]["RotationLambdaARN"]),
        "RotateSigningKeyFunction.Arn"
    );
    let every = untagged(&schedule["Properties"]["RotationRules"]["ScheduleExpression"]);
    let days: u64 = every
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(" days)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("rate(N days) expected: {every}"));
    let min_age: u64 = untagged(
        &resources["RotateSigningKeyFunction"]["Properties"]["Environment"]["Variables"]["UPLOADS_SIGNING_MIN_KEY_AGE_SECS"],
    )
    .parse()
    .expect("seconds");
    let longest_url = bucket_uploads::uploads::MAX_EXPIRATION_SECS;
    let refresh = bucket_uploads::objects::signing_identity::DEFAULT_REFRESH.as_secs();
    assert!(min_age >= longest_url + refresh, "min key age {min_age}");
    assert!(days * 86_400 > min_age, "a rotation every {days} days would be refused");

    let alarm = &resources["SigningKeyRotationAlarm"];
    assert_eq!(alarm["Type"].as_str(), Some("AWS::CloudWatch::Alarm"));
    assert_eq!(alarm["Properties"]["MetricName"].as_str(), Some("Errors"));
    assert_eq!(
        untagged(&alarm["Properties"]["Dimensions"][0]["Value"]),
        "RotateSigningKeyFunction"
    );
    assert_eq!(
        untagged(&template["Globals"]["Function"]["Environment"]["Variables"]["UPLOADS_SIGNING_SECRET_ARN"]),
        "UrlSigningSecret.Id"
    );
}

#[test]
fn the_api_is_throttled_and_the_expensive_functions_cannot_starve_the_others() {
    let template = template();
    let resources = &template["Resources"];
    let settings = &resources["UploadsApi"]["Properties"]["DefaultRouteSettings"];
    assert_eq!(untagged(&settings["ThrottlingRateLimit"]), "ApiThrottlingRateLimit");
    assert_eq!(untagged(&settings["ThrottlingBurstLimit"]), "ApiThrottlingBurstLimit");
    for (function, parameter) in [
        ("ListUploadsFunction", "ListUploadsConcurrency"),
        ("ConfirmWorkerFunction", "ConfirmWorkerConcurrency"),
    ] {
        assert_eq!(
            untagged(&resources[function]["Properties"]["ReservedConcurrentExecutions"]),
            parameter,
            "{function}"
        );
    }
    let env = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(untagged(&env["UPLOADS_KEY_RATE_PER_SEC"]), "KeyRatePerSecond");
    assert_eq!(untagged(&env["UPLOADS_KEY_RATE_BURST"]), "KeyRateBurst");
    for parameter in [
        "ApiThrottlingRateLimit",
        "ApiThrottlingBurstLimit",
        "KeyRatePerSecond",
        "KeyRateBurst",
        "ListUploadsConcurrency",
        "ConfirmWorkerConcurrency",
    ] {
        assert!(
            template["Parameters"][parameter]["Default"]
                .as_u64()
                .is_some_and(|d| d > 0),
            "{parameter} has a default"
        );
    }
}

/// Every function reads a tenant's default quota from the template's parameters, whose
/// defaults are the code's.
#[test]
fn the_default_quota_is_a_parameter_of_every_function() {
    let template = template();
    let env = &template["Globals"]["Function"]["Environment"]["Variables"];
    let defaults = bucket_uploads::quota::Quota::DEFAULT;
    for (variable, parameter, default) in [
        ("UPLOADS_QUOTA_MAX_BYTES", "QuotaMaxBytes", defaults.max_bytes),
        (
            "UPLOADS_QUOTA_MAX_PENDING_UPLOADS",
            "QuotaMaxPendingUploads",
            defaults.max_pending_uploads,
        ),
        (
            "UPLOADS_QUOTA_MAX_FILE_SIZE_BYTES",
            "QuotaMaxFileSizeBytes",
            defaults.max_file_size_bytes,
        ),
    ] {
        assert_eq!(untagged(&env[variable]), parameter);
        assert_eq!(
            template["Parameters"][parameter]["Default"].as_u64(),
            Some(default),
            "{parameter}"
        );
    }
}

/// Functions that write nothing else may update only the shared request counters.
#[test]
fn read_only_functions_may_update_only_the_request_counters() {
    let template = template();
    let prefix = format!("{}*", bucket_uploads::store::RATE_PREFIX);
    for name in [
        "GetUploadFunction",
        "ListUploadsFunction",
        "GetTaskFunction",
        "GetUsageFunction",
        "GetBatchFunction",
        "ConfirmUploadsBatchFunction",
    ] {
        let policies = template["Resources"][name]["Properties"]["Policies"]
            .as_sequence()
            .expect("Policies");
        let updates: Vec<Value> = policies
            .iter()
            .flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default())
            .filter(|s| format!("{:?}", s["Action"]).contains("dynamodb:UpdateItem"))
            .collect();
        assert_eq!(updates.len(), 1, "{name}");
        let keys = &updates[0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
        let keys: Vec<&str> = keys
            .as_sequence()
            .expect("LeadingKeys")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(keys, [prefix.as_str()], "{name}");
    }
}

/// Every function links through the shared build script (position-dependent, issue 13), the
/// release profile says `panic = "unwind"`, which `cargo lambda build` would otherwise set to
/// abort, and builds for size but `sha2` fast.
#[test]
fn every_function_links_alike_and_unwinds_in_release() {
    let manifest: toml::Value = toml::from_str(&workspace_file("Cargo.toml")).expect("Cargo.toml");
    assert_eq!(manifest["profile"]["release"]["panic"].as_str(), Some("unwind"));
    // Everything is built for size but the hashing of whole objects.
    assert_eq!(manifest["profile"]["release"]["opt-level"].as_str(), Some("z"));
    let packages = &manifest["profile"]["release"]["package"];
    assert_eq!(packages["sha2"]["opt-level"].as_integer(), Some(3));
    for route in routes::ALL
        .iter()
        .map(|r| r.function)
        .chain(routes::WORKERS.iter().copied())
    {
        let own: toml::Value =
            toml::from_str(&workspace_file(&format!("functions/{route}/Cargo.toml"))).expect("a function manifest");
        let build = own["package"].get("build").and_then(toml::Value::as_str);
        if route == "get-openapi" {
            assert!(workspace_file("functions/get-openapi/build.rs").contains("rustc-link-arg-bins=-no-pie"));
        } else {
            assert_eq!(build, Some("../no-pie.rs"), "{route}");
        }
    }
}

/// docs/events.md shows one example of each event the publisher makes, each exactly as the
/// code would write it: the detail-types it publishes, and details with the schema's fields
/// and types (read into the code's own detail types and written back unchanged).
#[test]
fn the_documented_events_are_the_published_ones() {
    use bucket_uploads::events::{BATCH_SUBMITTED, BatchSubmitted, UploadEvent, UploadEventKind};
    let doc = workspace_file("docs/events.md");
    let examples: Vec<serde_json::Value> = doc
        .split("```json\n")
        .skip(1)
        .map(|block| {
            let json = block.split("```").next().expect("a closed block");
            serde_json::from_str(json).unwrap_or_else(|err| panic!("{err}: {json}"))
        })
        .collect();
    let mut shown: Vec<&str> = examples
        .iter()
        .map(|e| e["detail-type"].as_str().expect("a detail-type"))
        .collect();
    shown.sort_unstable();
    let mut published: Vec<&str> = UploadEventKind::ALL
        .iter()
        .map(|kind| kind.detail_type())
        .chain([BATCH_SUBMITTED])
        .collect();
    published.sort_unstable();
    assert_eq!(shown, published);
    for example in &examples {
        assert_eq!(example["source"], bucket_uploads::event_bus::SOURCE);
        let detail = &example["detail"];
        let written = if example["detail-type"] == BATCH_SUBMITTED {
            let read: BatchSubmitted = serde_json::from_value(detail.clone()).expect("a Batch Submitted detail");
            serde_json::to_value(read).unwrap()
        } else {
            let read: UploadEvent = serde_json::from_value(detail.clone()).expect("an upload event's detail");
            assert_eq!(read.schema_version, bucket_uploads::events::UPLOAD_EVENT_SCHEMA_VERSION);
            assert!(bucket_uploads::ids::UploadId::parse(read.upload_id.as_str()).is_some());
            assert!(read.s3_key.contains(read.namespace_id.as_str()));
            serde_json::to_value(read).unwrap()
        };
        assert_eq!(&written, detail, "{}", example["detail-type"]);
    }
}

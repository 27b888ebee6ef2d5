//! A Lambda function for `tests/tests/local_watch.rs`, speaking the Runtime API by hand so
//! that it can answer the way that exposed the watch's held responses: the response's head
//! and body in two writes, and the next poll on a new connection while the old one stays
//! open and idle. It answers every HTTP event with the request's body. `cargo lambda watch`
//! starts it on the first request to `/lambda-url/split-response-function/` (no route of the
//! API leads here).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API");
    // The watch gives it as a URL with a path: http://HOST:PORT/PREFIX.
    let api = api.strip_prefix("http://").unwrap_or(&api).to_owned();
    let (host, prefix) = match api.split_once('/') {
        Some((host, prefix)) => (host.to_owned(), format!("/{prefix}")),
        None => (api.clone(), String::new()),
    };
    let api = Api { host, prefix };
    // Connections that answered, kept open and idle: a held response would wait for them.
    let mut idle = Vec::new();
    loop {
        // As lambda_runtime's client does when its pool has not taken the last connection
        // back yet: the poll on a new connection, the response on the poll's connection.
        let connection = TcpStream::connect(&api.host).expect("the runtime API");
        connection.set_nodelay(true).expect("TCP_NODELAY");
        let mut reader = BufReader::new(connection.try_clone().expect("a second handle"));
        let (request_id, event) = next_invocation(&api, &connection, &mut reader);
        // An HTTP answer (Lambda function URLs' and API Gateway's format) echoing the request
        // body it was given.
        let event: serde_json::Value = serde_json::from_str(&event).expect("a JSON event");
        let echoed = event["body"].as_str().unwrap_or_default();
        let body = serde_json::json!({"statusCode": 200, "headers": {"content-type": "application/json"}, "multiValueHeaders": {}, "cookies": [], "body": echoed, "isBase64Encoded": false}).to_string();
        let head = format!(
            "POST {}/2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            api.prefix,
            api.host,
            body.len()
        );
        let mut writer = &connection;
        writer.write_all(head.as_bytes()).expect("the head");
        std::thread::sleep(Duration::from_millis(50));
        writer.write_all(body.as_bytes()).expect("the body");
        read_response(&mut reader);
        idle.push(connection);
    }
}

struct Api {
    host: String,
    prefix: String,
}

/// Polls for the next invocation: its request id and event.
fn next_invocation(api: &Api, connection: &TcpStream, reader: &mut impl BufRead) -> (String, String) {
    let request = format!(
        "GET {}/2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {}\r\n\r\n",
        api.prefix, api.host
    );
    let mut writer = connection;
    writer.write_all(request.as_bytes()).expect("the poll");
    let (headers, body) = read_response(reader);
    let request_id = headers
        .iter()
        .find_map(|(name, value)| (name == "lambda-runtime-aws-request-id").then(|| value.clone()))
        .expect("a request id");
    (request_id, String::from_utf8(body).expect("a UTF-8 event"))
}

/// An HTTP/1.1 response with a Content-Length: its headers (lowercase names) and body.
fn read_response(reader: &mut impl BufRead) -> (Vec<(String, String)>, Vec<u8>) {
    let mut headers = Vec::new();
    let mut line = String::new();
    reader.read_line(&mut line).expect("a status line");
    loop {
        line.clear();
        reader.read_line(&mut line).expect("a header line");
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find_map(|(name, value)| (name == "content-length").then(|| value.parse().ok()).flatten())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("the body");
    (headers, body)
}

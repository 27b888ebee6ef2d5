//! The bucket's CORS rule, read from `template.yaml` (one source for AWS and this server), so
//! browsers can PUT to presigned URLs locally exactly as they can in AWS: S3 answers a
//! preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from the rule, or
//! 403 when no rule allows it, and adds the allowed origin and exposed headers to the answers
//! of requests that carry an `Origin`.

use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use serde_norway::Value;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsRule {
    pub allowed_methods: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub exposed_headers: Vec<String>,
    pub max_age: Option<u64>,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The CORS rules of the template's S3 bucket (the one bucket it declares).
pub fn rules_from_template(path: &Path) -> Result<Vec<CorsRule>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let template: Value = serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let buckets: Vec<&Value> = template["Resources"]
        .as_mapping()
        .map(|resources| {
            resources
                .values()
                .filter(|r| r["Type"].as_str() == Some("AWS::S3::Bucket"))
                .collect()
        })
        .unwrap_or_default();
    let [bucket] = buckets.as_slice() else {
        return Err(format!(
            "{}: expected one AWS::S3::Bucket, found {}",
            path.display(),
            buckets.len()
        ));
    };
    let rules = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    Ok(rules
        .iter()
        .map(|rule| CorsRule {
            allowed_methods: strings(&rule["AllowedMethods"]),
            allowed_origins: strings(&rule["AllowedOrigins"]),
            allowed_headers: strings(&rule["AllowedHeaders"]),
            exposed_headers: strings(&rule["ExposedHeaders"]),
            max_age: rule["MaxAge"].as_u64(),
        })
        .collect())
}

fn matches(patterns: &[String], value: &str) -> bool {
    patterns.iter().any(|p| {
        if p == "*" {
            return true;
        }
        // S3 allows one '*' wildcard in an origin or header.
        match p.split_once('*') {
            Some((prefix, suffix)) => {
                let value = value.to_ascii_lowercase();
                value.len() >= prefix.len() + suffix.len()
                    && value.starts_with(&prefix.to_ascii_lowercase())
                    && value.ends_with(&suffix.to_ascii_lowercase())
            }
            None => p.eq_ignore_ascii_case(value),
        }
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The first rule that allows `origin` to send `method` with `requested` headers.
fn allowing<'a>(rules: &'a [CorsRule], origin: &str, method: &str, requested: &[&str]) -> Option<&'a CorsRule> {
    rules.iter().find(|rule| {
        matches(&rule.allowed_origins, origin)
            && rule.allowed_methods.iter().any(|m| m == method)
            && requested.iter().all(|h| matches(&rule.allowed_headers, h))
    })
}

fn allow_origin(rule: &CorsRule, origin: &str) -> String {
    if rule.allowed_origins.iter().any(|o| o == "*") {
        "*".to_owned()
    } else {
        origin.to_owned()
    }
}

/// The answer to a preflight request, or `None` when `method` and `headers` are not one.
pub fn preflight(rules: &[CorsRule], method: &Method, headers: &HeaderMap) -> Option<(StatusCode, HeaderMap)> {
    if method != Method::OPTIONS {
        return None;
    }
    let origin = header(headers, "origin")?;
    let wanted = header(headers, "access-control-request-method")?;
    let requested: Vec<&str> = header(headers, "access-control-request-headers")
        .map(|h| h.split(',').map(str::trim).filter(|h| !h.is_empty()).collect())
        .unwrap_or_default();
    let mut answer = HeaderMap::new();
    let Some(rule) = allowing(rules, origin, wanted, &requested) else {
        return Some((StatusCode::FORBIDDEN, answer));
    };
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            answer.insert(name, value);
        }
    };
    set("access-control-allow-origin", allow_origin(rule, origin));
    set("access-control-allow-methods", rule.allowed_methods.join(", "));
    if !requested.is_empty() {
        set("access-control-allow-headers", requested.join(", "));
    }
    if !rule.exposed_headers.is_empty() {
        set("access-control-expose-headers", rule.exposed_headers.join(", "));
    }
    if let Some(max_age) = rule.max_age {
        set("access-control-max-age", max_age.to_string());
    }
    set(
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_owned(),
    );
    Some((StatusCode::OK, answer))
}

/// The headers S3 adds to the answer of a request that carries an allowed `Origin`.
pub fn response_headers(rules: &[CorsRule], method: &Method, request: &HeaderMap) -> HeaderMap {
    let mut answer = HeaderMap::new();
    let Some(origin) = header(request, "origin") else {
        return answer;
    };
    if let Some(rule) = allowing(rules, origin, method.as_str(), &[]) {
        if let Ok(value) = HeaderValue::from_str(&allow_origin(rule, origin)) {
            answer.insert("access-control-allow-origin", value);
        }
        if let Ok(value) = HeaderValue::from_str(&rule.exposed_headers.join(", ")) {
            answer.insert("access-control-expose-headers", value);
        }
        answer.insert("vary", HeaderValue::from_static("Origin"));
    }
    answer
}

/// The S3 service behind the bucket's CORS rules: preflights answered from them, and the
/// answers to requests from an allowed origin carrying their headers.
#[derive(Clone)]
pub struct WithCors {
    s3: s3s::service::S3Service,
    rules: std::sync::Arc<Vec<CorsRule>>,
}

impl WithCors {
    pub fn new(s3: s3s::service::S3Service, rules: Vec<CorsRule>) -> Self {
        Self {
            s3,
            rules: std::sync::Arc::new(rules),
        }
    }
}

type Answer = Result<hyper::Response<s3s::Body>, s3s::HttpError>;

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for WithCors {
    type Response = hyper::Response<s3s::Body>;
    type Error = s3s::HttpError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + Send>>;

    fn call(&self, req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let (s3, rules) = (self.s3.clone(), self.rules.clone());
        Box::pin(async move {
            if let Some((status, headers)) = preflight(&rules, req.method(), req.headers()) {
                let mut answer = hyper::Response::new(s3s::Body::empty());
                *answer.status_mut() = status;
                *answer.headers_mut() = headers;
                return Ok(answer);
            }
            let extra = response_headers(&rules, req.method(), req.headers());
            let mut answer = hyper::service::Service::call(&s3, req).await?;
            answer.headers_mut().extend(extra);
            Ok(answer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_methods: vec!["PUT".into()],
            allowed_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
            allowed_headers: headers.iter().map(|s| (*s).to_owned()).collect(),
            exposed_headers: vec!["ETag".into()],
            max_age: None,
        }
    }

    fn asking(origin: &str, method: &str, headers: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in [
            ("origin", origin),
            ("access-control-request-method", method),
            ("access-control-request-headers", headers),
        ] {
            map.insert(name, HeaderValue::from_str(value).expect("a header value"));
        }
        map
    }

    #[test]
    fn a_preflight_is_allowed_only_by_a_rule_that_names_its_origin_method_and_headers() {
        let rules = [rule(&["https://*.example.com"], &["content-type", "x-amz-*"])];
        let status = |origin, method, headers| {
            preflight(&rules, &Method::OPTIONS, &asking(origin, method, headers)).map(|(s, _)| s.as_u16())
        };
        assert_eq!(
            status("https://app.example.com", "PUT", "Content-Type, x-amz-checksum-sha256"),
            Some(200)
        );
        assert_eq!(status("https://example.org", "PUT", "content-type"), Some(403));
        assert_eq!(status("https://app.example.com", "DELETE", "content-type"), Some(403));
        assert_eq!(status("https://app.example.com", "PUT", "authorization"), Some(403));
        let (_, headers) = preflight(
            &rules,
            &Method::OPTIONS,
            &asking("https://app.example.com", "PUT", "content-type"),
        )
        .expect("a preflight");
        assert_eq!(headers["access-control-allow-origin"], "https://app.example.com");
        assert!(preflight(&rules, &Method::PUT, &asking("https://app.example.com", "PUT", "")).is_none());
    }
}

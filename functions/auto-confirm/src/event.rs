//! Reading an SQS message's body as the EventBridge event S3 sent for a created object.

use bucket_uploads::confirm::auto::ObjectCreated;
use bucket_uploads::time::Timestamp;
use serde::Deserialize;

/// The parts of an EventBridge event this function reads (`source` "aws.s3", `detail-type`
/// "Object Created"; S3 reports the key as stored, not URL-encoded).
#[derive(Debug, Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    time: String,
    detail: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Detail {
    bucket: Named,
    object: Object,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Object {
    key: String,
}

/// The object an S3 "Object Created" event reports; `None` for any other event.
pub fn object_created(body: &str) -> Result<Option<ObjectCreated>, String> {
    let envelope: Envelope = serde_json::from_str(body).map_err(|err| format!("not an EventBridge event: {err}"))?;
    if envelope.source != "aws.s3" || envelope.detail_type != "Object Created" {
        return Ok(None);
    }
    let detail: Detail =
        serde_json::from_value(envelope.detail).map_err(|err| format!("not an Object Created event: {err}"))?;
    let stored_at = Timestamp::parse(&envelope.time)
        .ok_or_else(|| format!("the event's time is not a timestamp: {}", envelope.time))?;
    Ok(Some(ObjectCreated {
        bucket: detail.bucket.name,
        key: detail.object.key,
        stored_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_s3s_object_created_events_and_skips_others() {
        let body = r#"{"version": "0", "id": "c988", "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2026-12-06T10:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:s3:::uploads"], "detail": {"version": "0", "bucket": {"name": "uploads"},
            "object": {"key": "incoming/a b+c.txt", "size": 5, "etag": "e"}, "request-id": "R",
            "requester": "123456789012", "reason": "PutObject"}}"#;
        let created = object_created(body).unwrap().unwrap();
        assert_eq!(created.bucket, "uploads");
        assert_eq!(created.key, "incoming/a b+c.txt");
        assert_eq!(created.stored_at, Timestamp::parse("2026-12-06T10:00:00Z").unwrap());
        let other = body.replace("Object Created", "Object Deleted");
        assert_eq!(object_created(&other).unwrap(), None);
        assert!(object_created("{}").is_err());
        assert!(object_created(&body.replace("\"bucket\"", "\"bucketX\"")).is_err());
    }
}

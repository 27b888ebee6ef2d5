//! RFC 3339 UTC timestamps with a fixed millisecond width (`2024-01-15T10:35:00.123Z`),
//! so their string order is their time order (they are used in DynamoDB sort keys).

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Self(Utc::now().trunc_subsecs(3))
    }

    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0 + chrono::Duration::seconds(seconds))
    }

    pub fn plus_millis(self, millis: i64) -> Self {
        Self(self.0 + chrono::Duration::milliseconds(millis))
    }

    /// Milliseconds from `self` to `later` (negative when `later` is earlier).
    pub fn millis_until(self, later: Timestamp) -> i64 {
        (later.0 - self.0).num_milliseconds()
    }

    /// The instant `millis` after the Unix epoch (a Lambda invocation's deadline, say).
    pub fn from_epoch_millis(millis: u64) -> Self {
        let millis = i64::try_from(millis).unwrap_or(i64::MAX);
        Self(DateTime::from_timestamp_millis(millis).unwrap_or(DateTime::<Utc>::MAX_UTC))
    }

    /// Milliseconds since the Unix epoch.
    pub fn epoch_millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// Whole seconds since the Unix epoch (the form DynamoDB's TTL reads).
    pub fn epoch_seconds(&self) -> i64 {
        self.0.timestamp()
    }

    pub fn parse(s: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| Self(t.with_timezone(&Utc).trunc_subsecs(3)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Timestamp::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {s}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_utc_with_millis_and_round_trips() {
        let t = Timestamp::parse("2024-01-15T12:35:00.5+02:00").unwrap();
        assert_eq!(t.to_string(), "2024-01-15T10:35:00.500Z");
        assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
        let now = Timestamp::now();
        assert_eq!(Timestamp::parse(&now.to_string()), Some(now));
    }

    #[test]
    fn string_order_is_time_order() {
        let a = Timestamp::parse("2024-01-15T10:35:00Z").unwrap();
        let b = a.plus_seconds(1);
        assert!(a.to_string() < b.to_string());
    }
}

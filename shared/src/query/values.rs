//! Typed comparison of JSON values: numbers as numbers, timestamps as instants, strings as
//! strings. Values of different types are neither equal nor ordered — a condition comparing
//! them is simply false.

use super::fields::FieldPath;
use super::filter::CaseSensitive;
use crate::time::Timestamp;
use serde_json::{Number, Value};
use std::cmp::Ordering;

/// A condition's value, prepared for the field it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Json(Value),
    /// A timestamp field's value as a canonical timestamp string (which orders as time).
    Instant(String),
    /// A timestamp field compared with a string that is not a timestamp: matches nothing.
    Mismatch,
}

impl Operand {
    pub fn new(field: &FieldPath, value: Value) -> Self {
        match (&value, field.is_timestamp()) {
            (Value::String(s), true) => match Timestamp::parse(s) {
                Some(t) => Operand::Instant(t.to_string()),
                None => Operand::Mismatch,
            },
            _ => Operand::Json(value),
        }
    }
}

fn number_cmp(a: &Number, b: &Number) -> Ordering {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x.cmp(&y);
    }
    let (x, y) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
    x.partial_cmp(&y).unwrap_or(Ordering::Equal)
}

/// Structural equality, with numbers compared by value (`1 == 1.0`) and strings (values,
/// not keys, nested ones too) by `case`.
fn json_eq(a: &Value, b: &Value, case: CaseSensitive) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y) == Ordering::Equal,
        (Value::String(x), Value::String(y)) if !case.0 => x == y || x.to_lowercase() == y.to_lowercase(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q, case)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w, case)))
        }
        _ => a == b,
    }
}

/// `actual` is `None` for a missing or null field; a `null` operand matches exactly that.
/// Timestamps compare as instants, whatever `case` says.
pub fn equals(actual: Option<&Value>, operand: &Operand, case: CaseSensitive) -> bool {
    match (actual, operand) {
        (None, Operand::Json(Value::Null)) => true,
        (Some(a), Operand::Json(b)) => json_eq(a, b, case),
        (Some(Value::String(a)), Operand::Instant(b)) => a == b,
        _ => false,
    }
}

/// How `actual` orders against the operand, or `None` when their types differ.
pub fn compare(actual: &Value, operand: &Operand) -> Option<Ordering> {
    match (actual, operand) {
        (Value::Number(a), Operand::Json(Value::Number(b))) => Some(number_cmp(a, b)),
        (Value::String(a), Operand::Json(Value::String(b))) => Some(a.as_str().cmp(b.as_str())),
        (Value::String(a), Operand::Instant(b)) => Some(a.as_str().cmp(b.as_str())),
        _ => None,
    }
}

/// True when any scalar inside `value` (nested values too), turned into a lowercase string,
/// contains `needle_lower`.
pub fn text_contains(value: &Value, needle_lower: &str) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => s.to_lowercase().contains(needle_lower),
        Value::Number(n) => n.to_string().contains(needle_lower),
        Value::Bool(b) => b.to_string().contains(needle_lower),
        Value::Array(items) => items.iter().any(|v| text_contains(v, needle_lower)),
        Value::Object(map) => map.values().any(|v| text_contains(v, needle_lower)),
    }
}

fn type_rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// A total order over present values for sorting: by type (booleans, numbers, strings,
/// arrays, objects), then by value. Timestamps are canonical strings, so they sort as time.
pub fn sort_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ if type_rank(a) == type_rank(b) => a.to_string().cmp(&b.to_string()),
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str) -> FieldPath {
        FieldPath::parse(name).unwrap()
    }

    #[test]
    fn numbers_compare_as_numbers() {
        let five = Operand::new(&field("file_size_bytes"), json!(5));
        assert_eq!(compare(&json!(10), &five), Some(Ordering::Greater));
        assert_eq!(compare(&json!(5.0), &five), Some(Ordering::Equal));
        assert!(equals(Some(&json!(5.0)), &five, CaseSensitive(true)));
        assert_eq!(compare(&json!("10"), &five), None, "a string is not a number");
    }

    #[test]
    fn timestamps_compare_as_instants() {
        let t = Operand::new(&field("created_at"), json!("2024-01-15T12:00:00+02:00"));
        assert_eq!(t, Operand::Instant("2024-01-15T10:00:00.000Z".into()));
        assert_eq!(compare(&json!("2024-01-15T10:00:00.001Z"), &t), Some(Ordering::Greater));
        assert!(equals(
            Some(&json!("2024-01-15T10:00:00.000Z")),
            &t,
            CaseSensitive(false)
        ));
        let not_a_time = Operand::new(&field("created_at"), json!("yesterday"));
        assert_eq!(compare(&json!("2024-01-15T10:00:00.000Z"), &not_a_time), None);
        assert!(!equals(Some(&json!("yesterday")), &not_a_time, CaseSensitive(false)));
    }

    #[test]
    fn null_operands_match_missing_values() {
        let null = Operand::Json(Value::Null);
        let case = CaseSensitive(false);
        assert!(equals(None, &null, case));
        assert!(!equals(Some(&json!(0)), &null, case));
        assert!(!equals(None, &Operand::Json(json!(0)), case));
    }

    #[test]
    fn strings_compare_by_case_only_when_asked() {
        let summer = Operand::Json(json!("Summer_2024"));
        assert!(equals(Some(&json!("SUMMER_2024")), &summer, CaseSensitive(false)));
        assert!(!equals(Some(&json!("SUMMER_2024")), &summer, CaseSensitive(true)));
        let tags = Operand::Json(json!(["Red", {"k": "Blue"}]));
        assert!(equals(
            Some(&json!(["red", {"k": "BLUE"}])),
            &tags,
            CaseSensitive(false)
        ));
        assert!(
            !equals(Some(&json!(["red", {"K": "Blue"}])), &tags, CaseSensitive(false)),
            "keys keep their case"
        );
    }

    #[test]
    fn text_reaches_nested_values() {
        let v = json!({"a": ["Summer_2024", {"b": 42}], "c": true});
        assert!(text_contains(&v, "summer"));
        assert!(text_contains(&v, "42"));
        assert!(text_contains(&v, "true"));
        assert!(!text_contains(&v, "winter"));
    }

    #[test]
    fn sorting_is_total_and_typed() {
        let mut values = vec![
            json!("b"),
            json!(10),
            json!(2),
            json!(true),
            json!("a"),
            json!([1]),
            json!(2.5),
        ];
        values.sort_by(sort_cmp);
        assert_eq!(
            values,
            vec![
                json!(true),
                json!(2),
                json!(2.5),
                json!(10),
                json!("a"),
                json!("b"),
                json!([1])
            ]
        );
    }
}

//! Field-by-field reading of a JSON object that collects *every* problem as a
//! `{"loc", "msg", "type"}` entry, like FastAPI/pydantic, instead of stopping at the first.

use crate::errors::{FieldError, Invalid, Loc};
use serde_json::{Map, Value};

/// The items of the list `body[field]`, which must hold 1 to `max`; otherwise none, with the
/// problem added to `errors` at `["body", field]`.
pub fn list_of<'a>(body: &'a Value, field: &str, max: usize, errors: &mut Vec<FieldError>) -> &'a [Value] {
    let loc = vec![Loc::from("body"), Loc::from(field)];
    let (kind, msg) = match body.get(field) {
        Some(Value::Array(items)) if (1..=max).contains(&items.len()) => return items,
        Some(Value::Array(items)) if items.is_empty() => ("too_short", "List should have at least 1 item".to_owned()),
        Some(Value::Array(_)) => ("too_long", format!("List should have at most {max} items")),
        None | Some(Value::Null) => ("missing", "Field required".to_owned()),
        Some(_) => ("list_type", "Input should be a valid list".to_owned()),
    };
    errors.push(FieldError::new(loc, kind, msg));
    &[]
}

pub struct FieldReader<'a> {
    object: &'a Map<String, Value>,
    prefix: Vec<Loc>,
    errors: Vec<FieldError>,
}

impl<'a> FieldReader<'a> {
    /// Reads `body` as an object located at `prefix` (e.g. `["body"]`). A body that is not
    /// an object is reported at `prefix` itself.
    pub fn object(body: &'a Value, prefix: Vec<Loc>) -> Result<Self, Invalid> {
        match body.as_object() {
            Some(object) => Ok(Self {
                object,
                prefix,
                errors: Vec::new(),
            }),
            None => Err(Invalid::at(
                prefix,
                "model_attributes_type",
                "Input should be a valid dictionary or object",
            )),
        }
    }

    pub fn loc(&self, field: &str) -> Vec<Loc> {
        let mut loc = self.prefix.clone();
        loc.push(field.into());
        loc
    }

    pub fn error(&mut self, field: &str, kind: &str, msg: impl Into<String>) {
        let loc = self.loc(field);
        self.errors.push(FieldError::new(loc, kind, msg));
    }

    /// True when `field` is missing or `null`.
    pub fn is_absent(&self, field: &str) -> bool {
        self.present(field).is_none()
    }

    /// The value of `field`, treating JSON `null` as absent.
    fn present(&self, field: &str) -> Option<&'a Value> {
        self.object.get(field).filter(|v| !v.is_null())
    }

    pub fn required_str(&mut self, field: &str) -> Option<&'a str> {
        match self.object.get(field) {
            None => {
                self.error(field, "missing", "Field required");
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.error(field, "string_type", "Input should be a valid string");
                None
            }
        }
    }

    pub fn optional_str(&mut self, field: &str) -> Option<&'a str> {
        let value = self.present(field)?;
        match value.as_str() {
            Some(s) => Some(s),
            None => {
                self.error(field, "string_type", "Input should be a valid string");
                None
            }
        }
    }

    /// A JSON integer ≥ 0. Fractions, strings and negative numbers are errors.
    pub fn optional_u64(&mut self, field: &str) -> Option<u64> {
        let value = self.present(field)?;
        if let Some(n) = value.as_u64() {
            return Some(n);
        }
        if value.as_i64().is_some() {
            self.error(
                field,
                "greater_than_equal",
                "Input should be greater than or equal to 0",
            );
        } else {
            self.error(field, "int_type", "Input should be a valid integer");
        }
        None
    }

    pub fn optional_bool(&mut self, field: &str) -> Option<bool> {
        let value = self.present(field)?;
        match value.as_bool() {
            Some(b) => Some(b),
            None => {
                self.error(field, "bool_type", "Input should be a valid boolean");
                None
            }
        }
    }

    pub fn optional_object(&mut self, field: &str) -> Option<&'a Map<String, Value>> {
        let value = self.present(field)?;
        match value.as_object() {
            Some(map) => Some(map),
            None => {
                self.error(field, "dict_type", "Input should be a valid dictionary");
                None
            }
        }
    }

    /// Records an `extra_forbidden` error for every key of the object not in `accepted`,
    /// naming the accepted keys (Mixpeek refuses undeclared keys since 2026-11-02).
    pub fn forbid_unknown(&mut self, accepted: &[&str]) {
        let unknown: Vec<&String> = self.object.keys().filter(|k| !accepted.contains(&k.as_str())).collect();
        for key in unknown {
            self.error(
                key,
                "extra_forbidden",
                format!("Extra inputs are not permitted; accepted keys: {}", accepted.join(", ")),
            );
        }
    }

    /// Checks `value` against an inclusive range, recording a pydantic-style error.
    pub fn in_range(&mut self, field: &str, value: u64, min: u64, max: u64) -> Option<u64> {
        if value < min {
            self.error(
                field,
                "greater_than_equal",
                format!("Input should be greater than or equal to {min}"),
            );
            None
        } else if value > max {
            self.error(
                field,
                "less_than_equal",
                format!("Input should be less than or equal to {max}"),
            );
            None
        } else {
            Some(value)
        }
    }

    pub fn finish(self) -> Result<(), Invalid> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Invalid(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(result: Result<(), Invalid>) -> Value {
        match result {
            Err(Invalid(errors)) => serde_json::to_value(errors).unwrap(),
            Ok(()) => Value::Null,
        }
    }

    #[test]
    fn collects_every_problem_with_its_location() {
        let body = json!({"name": 5, "size": -1, "flag": "yes", "meta": []});
        let mut r = FieldReader::object(&body, vec!["body".into()]).unwrap();
        assert_eq!(r.required_str("name"), None);
        assert_eq!(r.required_str("absent"), None);
        assert_eq!(r.optional_u64("size"), None);
        assert_eq!(r.optional_bool("flag"), None);
        assert_eq!(r.optional_object("meta"), None);
        let types: Vec<_> = errors(r.finish())
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["loc"][1].clone(), e["type"].clone()))
            .collect();
        assert_eq!(
            types,
            vec![
                (json!("name"), json!("string_type")),
                (json!("absent"), json!("missing")),
                (json!("size"), json!("greater_than_equal")),
                (json!("flag"), json!("bool_type")),
                (json!("meta"), json!("dict_type")),
            ]
        );
    }

    #[test]
    fn unknown_keys_are_forbidden_and_the_accepted_ones_named() {
        let body = json!({"a": 1, "b": 2, "zz": 3});
        let mut r = FieldReader::object(&body, vec!["body".into()]).unwrap();
        r.forbid_unknown(&["a", "b"]);
        let detail = errors(r.finish());
        assert_eq!(detail.as_array().unwrap().len(), 1);
        assert_eq!(detail[0]["loc"], json!(["body", "zz"]));
        assert_eq!(detail[0]["type"], "extra_forbidden");
        assert!(detail[0]["msg"].as_str().unwrap().contains("a, b"));
    }

    #[test]
    fn null_means_absent_for_optional_fields() {
        let body = json!({"a": null});
        let mut r = FieldReader::object(&body, vec!["body".into()]).unwrap();
        assert_eq!(r.optional_u64("a"), None);
        assert!(r.finish().is_ok());
    }

    #[test]
    fn a_non_object_body_is_reported_at_the_body() {
        let Err(Invalid(errors)) = FieldReader::object(&json!([1]), vec!["body".into()]) else {
            panic!("accepted an array")
        };
        assert_eq!(errors[0].loc, vec![Loc::from("body")]);
    }

    #[test]
    fn ranges_are_inclusive() {
        let body = json!({});
        let mut r = FieldReader::object(&body, vec![]).unwrap();
        assert_eq!(r.in_range("x", 60, 60, 86400), Some(60));
        assert_eq!(r.in_range("x", 86400, 60, 86400), Some(86400));
        assert!(r.finish().is_ok());
        let mut r = FieldReader::object(&body, vec![]).unwrap();
        assert_eq!(r.in_range("x", 59, 60, 86400), None);
        assert_eq!(r.in_range("x", 86401, 60, 86400), None);
        assert_eq!(errors(r.finish()).as_array().unwrap().len(), 2);
    }
}

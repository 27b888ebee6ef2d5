//! The filter language: shorthand equalities, `AND`/`OR`/`NOT`, and conditions
//! `{"field", "operator", "value", "case_sensitive"}`. Parsing reports problems as 422s whose
//! `loc` points into the request body; evaluation never fails.
//!
//! `case_sensitive` (default false) governs every string comparison but `text` (always
//! case-insensitive) and the orderings. It may stand on a condition or, as Mixpeek's SDK
//! puts it, on a logical operator (`{"AND": [...], "case_sensitive": true}`), where `true`
//! applies to everything beneath. `false` never undoes an enclosing `true`: the SDK writes
//! `"case_sensitive": false` on every node and condition it does not set.

use super::fields::FieldPath;
use super::values::{Operand, compare, equals, text_contains};
use crate::errors::{Invalid, Loc};
use regex::Regex;
use serde_json::{Map, Value};
use std::cmp::Ordering;

pub const MAX_DEPTH: usize = 8;
pub const MAX_CONDITIONS: usize = 100;
pub const MAX_REGEX_LEN: usize = 256;
const MAX_LIST_LEN: usize = 100;
/// Compiled regexes are automata run in linear time; this bounds their size.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Condition(Condition),
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub field: FieldPath,
    pub op: Op,
}

/// Whether string comparisons respect case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseSensitive(pub bool);

#[derive(Debug, Clone)]
pub enum Op {
    Eq(Operand, CaseSensitive),
    Ne(Operand, CaseSensitive),
    Cmp(Ordering, bool, Operand),
    In(Vec<Operand>, CaseSensitive),
    Nin(Vec<Operand>, CaseSensitive),
    Contains { needle: Value, case_sensitive: bool },
    StartsWith { prefix: String, case_sensitive: bool },
    EndsWith { suffix: String, case_sensitive: bool },
    Regex(Regex),
    Exists(bool),
    IsNull(bool),
    Text(String),
}

impl Filter {
    pub fn matches(&self, upload: &Value) -> bool {
        match self {
            Filter::And(children) => children.iter().all(|c| c.matches(upload)),
            Filter::Or(children) => children.iter().any(|c| c.matches(upload)),
            Filter::Not(child) => !child.matches(upload),
            Filter::Condition(condition) => condition.matches(upload),
        }
    }

    /// Calls `f` on every condition, for the planner and for projections.
    pub fn for_each_condition<'a>(&'a self, f: &mut impl FnMut(&'a Condition)) {
        match self {
            Filter::And(children) | Filter::Or(children) => children.iter().for_each(|c| c.for_each_condition(f)),
            Filter::Not(child) => child.for_each_condition(f),
            Filter::Condition(condition) => f(condition),
        }
    }
}

fn fold(s: &str, case_sensitive: bool) -> String {
    if case_sensitive { s.to_owned() } else { s.to_lowercase() }
}

impl Condition {
    pub fn matches(&self, upload: &Value) -> bool {
        let actual = self.field.resolve(upload).filter(|v| !v.is_null());
        match &self.op {
            Op::Eq(operand, case) => equals(actual, operand, *case),
            Op::Ne(operand, case) => !equals(actual, operand, *case),
            Op::Cmp(ordering, or_equal, operand) => actual
                .and_then(|a| compare(a, operand))
                .is_some_and(|o| o == *ordering || (*or_equal && o == Ordering::Equal)),
            Op::In(operands, case) => operands.iter().any(|o| equals(actual, o, *case)),
            Op::Nin(operands, case) => !operands.iter().any(|o| equals(actual, o, *case)),
            Op::Contains { needle, case_sensitive } => match (actual, needle) {
                (Some(Value::String(s)), Value::String(n)) => {
                    fold(s, *case_sensitive).contains(&fold(n, *case_sensitive))
                }
                (Some(Value::Array(items)), _) => items.iter().any(|item| match (item, needle) {
                    (Value::String(i), Value::String(n)) => fold(i, *case_sensitive) == fold(n, *case_sensitive),
                    _ => equals(Some(item), &Operand::Json(needle.clone()), CaseSensitive(true)),
                }),
                _ => false,
            },
            Op::StartsWith { prefix, case_sensitive } => actual
                .and_then(Value::as_str)
                .is_some_and(|s| fold(s, *case_sensitive).starts_with(prefix.as_str())),
            Op::EndsWith { suffix, case_sensitive } => actual
                .and_then(Value::as_str)
                .is_some_and(|s| fold(s, *case_sensitive).ends_with(suffix.as_str())),
            Op::Regex(regex) => actual.and_then(Value::as_str).is_some_and(|s| regex.is_match(s)),
            Op::Exists(wanted) => actual.is_some() == *wanted,
            Op::IsNull(wanted) => actual.is_none() == *wanted,
            Op::Text(needle) => actual.is_some_and(|v| text_contains(v, needle)),
        }
    }
}

/// Parses `filters` (located at `loc`). `{}` matches everything.
pub fn parse(value: &Value, loc: Vec<Loc>) -> Result<Filter, Invalid> {
    let mut parser = Parser { conditions: 0 };
    parser.node(value, loc, 1, CaseSensitive(false))
}

/// `case_sensitive` as given on the object at `loc` (`None` when absent or null).
fn case_flag(object: &Map<String, Value>, loc: &[Loc]) -> Result<Option<CaseSensitive>, Invalid> {
    match object.get("case_sensitive") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(CaseSensitive(*b))),
        Some(_) => Err(invalid(
            at(loc, "case_sensitive"),
            "bool_type",
            "Input should be a valid boolean",
        )),
    }
}

struct Parser {
    conditions: usize,
}

fn at(loc: &[Loc], more: impl Into<Loc>) -> Vec<Loc> {
    let mut loc = loc.to_vec();
    loc.push(more.into());
    loc
}

fn invalid(loc: Vec<Loc>, kind: &str, msg: impl Into<String>) -> Invalid {
    Invalid::at(loc, kind, msg)
}

impl Parser {
    fn node(
        &mut self,
        value: &Value,
        loc: Vec<Loc>,
        depth: usize,
        inherited: CaseSensitive,
    ) -> Result<Filter, Invalid> {
        if depth > MAX_DEPTH {
            return Err(invalid(
                loc,
                "value_error",
                format!("filters may nest at most {MAX_DEPTH} levels deep"),
            ));
        }
        let object = value
            .as_object()
            .ok_or_else(|| invalid(loc.clone(), "dict_type", "Input should be a valid dictionary"))?;
        let own = case_flag(object, &loc)?.unwrap_or(CaseSensitive(false));
        let case = CaseSensitive(inherited.0 || own.0);
        if object.contains_key("field") || object.contains_key("operator") {
            return self.condition(object, loc, case).map(Filter::Condition);
        }
        let mut parts = Vec::new();
        for (key, child) in object.iter().filter(|(key, _)| *key != "case_sensitive") {
            let child_loc = at(&loc, key.as_str());
            parts.push(match key.as_str() {
                "AND" | "OR" => {
                    let items = child
                        .as_array()
                        .ok_or_else(|| invalid(child_loc.clone(), "list_type", "Input should be a valid list"))?;
                    let children = self.nodes(items, &child_loc, depth, case)?;
                    if key == "AND" {
                        Filter::And(children)
                    } else {
                        Filter::Or(children)
                    }
                }
                // A list under NOT holds when none of its filters does (Mixpeek: "all
                // conditions must be false").
                "NOT" => match child {
                    Value::Array(items) => {
                        Filter::Not(Box::new(Filter::Or(self.nodes(items, &child_loc, depth, case)?)))
                    }
                    _ => Filter::Not(Box::new(self.node(child, child_loc, depth + 1, case)?)),
                },
                field => {
                    let field = self.field(field, child_loc.clone())?;
                    let operand = Operand::new(&field, child.clone());
                    Filter::Condition(Condition {
                        field,
                        op: Op::Eq(operand, case),
                    })
                }
            });
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn nodes(
        &mut self,
        items: &[Value],
        loc: &[Loc],
        depth: usize,
        case: CaseSensitive,
    ) -> Result<Vec<Filter>, Invalid> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.node(item, at(loc, i), depth + 1, case))
            .collect()
    }

    fn field(&mut self, name: &str, loc: Vec<Loc>) -> Result<FieldPath, Invalid> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(invalid(
                loc,
                "value_error",
                format!("filters may hold at most {MAX_CONDITIONS} conditions"),
            ));
        }
        FieldPath::parse(name).ok_or_else(|| {
            invalid(
                loc,
                "value_error",
                format!("unknown field '{name}': use an upload field, or metadata.<path> / object_metadata.<path>"),
            )
        })
    }

    /// A condition; `case` is true when it or a logical operator above it says so.
    fn condition(
        &mut self,
        object: &Map<String, Value>,
        loc: Vec<Loc>,
        case: CaseSensitive,
    ) -> Result<Condition, Invalid> {
        if let Some(extra) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "field" | "operator" | "value" | "case_sensitive"))
        {
            return Err(invalid(
                at(&loc, extra.as_str()),
                "extra_forbidden",
                "Extra inputs are not permitted",
            ));
        }
        let name = object.get("field").and_then(Value::as_str).ok_or_else(|| {
            invalid(
                at(&loc, "field"),
                "string_type",
                "field should be a string naming a field",
            )
        })?;
        let field = self.field(name, at(&loc, "field"))?;
        let operator = object
            .get("operator")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(at(&loc, "operator"), "string_type", "operator should be a string"))?;
        let value_loc = at(&loc, "value");
        let value = object.get("value").cloned().unwrap_or(Value::Null);
        let op = op(&field, operator, value, case, value_loc, at(&loc, "operator"))?;
        Ok(Condition { field, op })
    }
}

fn op(
    field: &FieldPath,
    operator: &str,
    value: Value,
    case: CaseSensitive,
    loc: Vec<Loc>,
    op_loc: Vec<Loc>,
) -> Result<Op, Invalid> {
    let case_sensitive = case.0;
    let string = |value: &Value| -> Result<String, Invalid> {
        value
            .as_str()
            .map(|s| fold(s, case_sensitive))
            .ok_or_else(|| invalid(loc.clone(), "string_type", format!("'{operator}' needs a string value")))
    };
    let list = |value: Value| -> Result<Vec<Operand>, Invalid> {
        match value {
            Value::Array(items) if items.len() <= MAX_LIST_LEN => {
                Ok(items.into_iter().map(|v| Operand::new(field, v)).collect())
            }
            Value::Array(_) => Err(invalid(
                loc.clone(),
                "too_long",
                format!("'{operator}' takes at most {MAX_LIST_LEN} values"),
            )),
            _ => Err(invalid(
                loc.clone(),
                "list_type",
                format!("'{operator}' needs a list value"),
            )),
        }
    };
    let flag = |value: &Value| -> Result<bool, Invalid> {
        match value {
            Value::Null => Ok(true),
            Value::Bool(b) => Ok(*b),
            _ => Err(invalid(
                loc.clone(),
                "bool_type",
                format!("'{operator}' takes true or false"),
            )),
        }
    };
    let ordered = |ordering: Ordering, or_equal: bool, value: Value| -> Result<Op, Invalid> {
        match value {
            Value::Number(_) | Value::String(_) => Ok(Op::Cmp(ordering, or_equal, Operand::new(field, value))),
            _ => Err(invalid(
                loc.clone(),
                "value_error",
                format!("'{operator}' needs a number, string or timestamp value"),
            )),
        }
    };
    Ok(match operator {
        "eq" => Op::Eq(Operand::new(field, value), case),
        "ne" => Op::Ne(Operand::new(field, value), case),
        "gt" => ordered(Ordering::Greater, false, value)?,
        "gte" => ordered(Ordering::Greater, true, value)?,
        "lt" => ordered(Ordering::Less, false, value)?,
        "lte" => ordered(Ordering::Less, true, value)?,
        "in" => Op::In(list(value)?, case),
        "nin" => Op::Nin(list(value)?, case),
        "contains" => match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => Op::Contains {
                needle: value,
                case_sensitive,
            },
            _ => {
                return Err(invalid(
                    loc,
                    "value_error",
                    "'contains' needs a string, number or boolean value",
                ));
            }
        },
        "starts_with" => Op::StartsWith {
            prefix: string(&value)?,
            case_sensitive,
        },
        "ends_with" => Op::EndsWith {
            suffix: string(&value)?,
            case_sensitive,
        },
        "text" => Op::Text(string(&value)?.to_lowercase()),
        "exists" => Op::Exists(flag(&value)?),
        "is_null" => Op::IsNull(flag(&value)?),
        "regex" => {
            let pattern = value
                .as_str()
                .ok_or_else(|| invalid(loc.clone(), "string_type", "'regex' needs a string value"))?;
            if pattern.len() > MAX_REGEX_LEN {
                return Err(invalid(
                    loc,
                    "string_too_long",
                    format!("regex patterns are at most {MAX_REGEX_LEN} characters"),
                ));
            }
            let regex = regex::RegexBuilder::new(pattern)
                .case_insensitive(!case_sensitive)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|err| invalid(loc, "value_error", format!("invalid regex: {err}")))?;
            Op::Regex(regex)
        }
        other => {
            return Err(invalid(
                op_loc,
                "enum",
                format!(
                    "unknown operator '{other}': use eq, ne, gt, gte, lt, lte, in, nin, contains, starts_with, ends_with, regex, exists, is_null or text"
                ),
            ));
        }
    })
}

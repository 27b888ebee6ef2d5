//! The `created_at` range a filter confines its matches to, so that List reads only that
//! slice of an index (both indexes sort by `created_at`), and its split into disjoint
//! slices read at once.
//!
//! The range is a superset: every upload the filter matches lies in it, and the filter is
//! still evaluated on what is read. `created_at` is stored to the millisecond, so `gt T` is
//! `from T + 1 ms` and `lte T` is `until T + 1 ms`.

use super::filter::{Condition, Filter, Op};
use super::values::Operand;
use crate::time::Timestamp;
use std::cmp::Ordering;

/// `from <= created_at < until`; `None` leaves that side open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreatedAtRange {
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl CreatedAtRange {
    pub const ALL: Self = Self {
        from: None,
        until: None,
    };

    /// The range `filter` confines its matches to (`ALL` when it says nothing of
    /// `created_at` that narrows it).
    pub fn of(filter: Option<&Filter>) -> Self {
        filter.map_or(Self::ALL, range_of)
    }

    pub fn is_all(&self) -> bool {
        *self == Self::ALL
    }

    /// Nothing can be in it.
    pub fn is_empty(&self) -> bool {
        matches!((self.from, self.until), (Some(from), Some(until)) if from >= until)
    }

    fn intersect(self, other: Self) -> Self {
        Self {
            from: max_bound(self.from, other.from),
            until: min_bound(self.until, other.until),
        }
    }

    /// The smallest range holding both (an `OR` of ranges).
    fn hull(self, other: Self) -> Self {
        if self.is_empty() {
            return other;
        }
        if other.is_empty() {
            return self;
        }
        Self {
            from: self.from.zip(other.from).map(|(a, b)| a.min(b)),
            until: self.until.zip(other.until).map(|(a, b)| a.max(b)),
        }
    }

    /// Splits the range into at most `parts` disjoint, adjacent ranges that together are
    /// this one. The cuts fall evenly between `earliest` and `latest` (where uploads are
    /// expected: from the bucket's creation to now) clipped to the range; the first and last
    /// parts keep the range's open sides, so nothing outside the cuts is lost.
    pub fn split(self, parts: usize, earliest: Timestamp, latest: Timestamp) -> Vec<Self> {
        let start = self.from.map_or(earliest, |from| from.max(earliest));
        let end = self.until.map_or(latest, |until| until.min(latest));
        let span = start.millis_until(end);
        let parts = i64::try_from(parts).unwrap_or(1).max(1).min(span.max(1));
        if self.is_empty() || parts == 1 {
            return vec![self];
        }
        let cuts: Vec<Timestamp> = (1..parts).map(|i| start.plus_millis(span * i / parts)).collect();
        let mut bounds = vec![self.from];
        bounds.extend(cuts.into_iter().map(Some));
        bounds.push(self.until);
        bounds
            .windows(2)
            .map(|pair| Self {
                from: pair[0],
                until: pair[1],
            })
            .collect()
    }
}

fn max_bound(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn min_bound(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn range_of(filter: &Filter) -> CreatedAtRange {
    match filter {
        Filter::And(children) => children
            .iter()
            .map(range_of)
            .fold(CreatedAtRange::ALL, CreatedAtRange::intersect),
        Filter::Or(children) => children
            .iter()
            .map(range_of)
            .reduce(CreatedAtRange::hull)
            // An empty OR matches nothing.
            .unwrap_or_else(empty),
        Filter::Not(_) => CreatedAtRange::ALL,
        Filter::Condition(condition) => condition_range(condition),
    }
}

/// A range nothing is in.
fn empty() -> CreatedAtRange {
    let now = Timestamp::now();
    CreatedAtRange {
        from: Some(now),
        until: Some(now),
    }
}

fn instant(operand: &Operand) -> Option<Timestamp> {
    match operand {
        Operand::Instant(canonical) => Timestamp::parse(canonical),
        _ => None,
    }
}

fn condition_range(condition: &Condition) -> CreatedAtRange {
    if !condition.field.is("created_at") {
        return CreatedAtRange::ALL;
    }
    let exactly = |t: Timestamp| CreatedAtRange {
        from: Some(t),
        until: Some(t.plus_millis(1)),
    };
    match &condition.op {
        Op::Eq(operand, _) => instant(operand).map_or(CreatedAtRange::ALL, exactly),
        Op::In(operands, _) => {
            let instants: Option<Vec<Timestamp>> = operands.iter().map(instant).collect();
            match instants {
                Some(instants) => instants
                    .into_iter()
                    .map(exactly)
                    .reduce(CreatedAtRange::hull)
                    .unwrap_or_else(empty),
                None => CreatedAtRange::ALL,
            }
        }
        Op::Cmp(ordering, or_equal, operand) => {
            let Some(t) = instant(operand) else {
                return CreatedAtRange::ALL;
            };
            match (ordering, or_equal) {
                (Ordering::Greater, true) => CreatedAtRange {
                    from: Some(t),
                    until: None,
                },
                (Ordering::Greater, false) => CreatedAtRange {
                    from: Some(t.plus_millis(1)),
                    until: None,
                },
                (Ordering::Less, false) => CreatedAtRange {
                    from: None,
                    until: Some(t),
                },
                (Ordering::Less, true) => CreatedAtRange {
                    from: None,
                    until: Some(t.plus_millis(1)),
                },
                (Ordering::Equal, _) => exactly(t),
            }
        }
        _ => CreatedAtRange::ALL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::Loc;
    use serde_json::{Value, json};

    fn range(filters: Value) -> CreatedAtRange {
        CreatedAtRange::of(Some(
            &super::super::filter::parse(&filters, vec![Loc::from("filters")]).unwrap(),
        ))
    }

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn at(s: &str) -> Option<Timestamp> {
        Some(t(s))
    }

    #[test]
    fn comparisons_bound_one_side_each() {
        let cmp = |op: &str| json!({"field": "created_at", "operator": op, "value": "2024-01-15T10:00:00Z"});
        assert_eq!(range(cmp("gte")).from, at("2024-01-15T10:00:00.000Z"));
        assert_eq!(range(cmp("gt")).from, at("2024-01-15T10:00:00.001Z"));
        assert_eq!(range(cmp("lt")).until, at("2024-01-15T10:00:00.000Z"));
        assert_eq!(range(cmp("lte")).until, at("2024-01-15T10:00:00.001Z"));
        let eq = range(cmp("eq"));
        assert_eq!(
            (eq.from, eq.until),
            (at("2024-01-15T10:00:00Z"), at("2024-01-15T10:00:00.001Z"))
        );
        assert!(range(cmp("ne")).is_all());
    }

    #[test]
    fn and_intersects_or_takes_the_hull_not_gives_up() {
        let between = json!({"AND": [
            {"field": "created_at", "operator": "gte", "value": "2024-01-01T00:00:00Z"},
            {"field": "metadata.a", "operator": "eq", "value": 1},
            {"AND": [{"field": "created_at", "operator": "lt", "value": "2024-02-01T00:00:00Z"}]},
        ]});
        assert_eq!(
            range(between),
            CreatedAtRange {
                from: at("2024-01-01T00:00:00Z"),
                until: at("2024-02-01T00:00:00Z")
            }
        );
        let either = json!({"OR": [
            {"field": "created_at", "operator": "lt", "value": "2024-01-01T00:00:00Z"},
            {"field": "created_at", "operator": "gte", "value": "2024-03-01T00:00:00Z"},
        ]});
        assert!(range(either).is_all());
        let one_side = json!({"OR": [
            {"field": "created_at", "operator": "lt", "value": "2024-01-01T00:00:00Z"},
            {"field": "created_at", "operator": "lt", "value": "2024-03-01T00:00:00Z"},
        ]});
        assert_eq!(range(one_side).until, at("2024-03-01T00:00:00Z"));
        let not = json!({"NOT": {"field": "created_at", "operator": "lt", "value": "2024-01-01T00:00:00Z"}});
        assert!(range(not).is_all());
        let unrelated = json!({"OR": [{"field": "created_at", "operator": "lt", "value": "2024-01-01T00:00:00Z"}, {"status": "PENDING"}]});
        assert!(range(unrelated).is_all());
        let disjoint = json!({"AND": [
            {"field": "created_at", "operator": "gte", "value": "2024-02-01T00:00:00Z"},
            {"field": "created_at", "operator": "lt", "value": "2024-01-01T00:00:00Z"},
        ]});
        assert!(range(disjoint).is_empty());
    }

    #[test]
    fn values_that_are_not_timestamps_narrow_nothing() {
        assert!(range(json!({"field": "created_at", "operator": "gt", "value": "yesterday"})).is_all());
        assert!(range(json!({"field": "created_at", "operator": "gt", "value": 5})).is_all());
        assert!(range(json!({"metadata.created_at": "2024-01-01T00:00:00Z"})).is_all());
        let listed = range(
            json!({"field": "created_at", "operator": "in", "value": ["2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z"]}),
        );
        assert_eq!(listed.from, at("2024-01-01T00:00:00Z"));
        assert_eq!(listed.until, at("2024-01-02T00:00:00.001Z"));
    }

    #[test]
    fn splits_are_disjoint_adjacent_and_keep_the_open_sides() {
        let earliest = t("2024-01-01T00:00:00Z");
        let latest = t("2024-01-01T00:00:08Z");
        let parts = CreatedAtRange::ALL.split(4, earliest, latest);
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0].from, None);
        assert_eq!(parts[3].until, None);
        assert_eq!(parts[0].until, at("2024-01-01T00:00:02Z"));
        for pair in parts.windows(2) {
            assert_eq!(pair[0].until, pair[1].from);
        }
        let bounded = CreatedAtRange {
            from: at("2024-01-01T00:00:04Z"),
            until: at("2024-01-01T00:00:06Z"),
        };
        let parts = bounded.split(2, earliest, latest);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].from, bounded.from);
        assert_eq!(parts[0].until, at("2024-01-01T00:00:05Z"));
        assert_eq!(parts[1].until, bounded.until);
        // A range outside where uploads are expected, or a single part: as it is.
        let old = CreatedAtRange {
            from: None,
            until: at("2023-01-01T00:00:00Z"),
        };
        assert_eq!(old.split(8, earliest, latest), vec![old]);
        assert_eq!(
            CreatedAtRange::ALL.split(1, earliest, latest),
            vec![CreatedAtRange::ALL]
        );
    }
}

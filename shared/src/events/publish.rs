//! Publishing a batch of stream records' events, in order. A stream record is delivered
//! once per write and redelivered only after a failure reported for it or before it, so an
//! event is published once per transition unless the bus fails: then the first record
//! whose event could not be published is reported, Lambda delivers the batch again from
//! it, and nothing before it is published again.

use super::{Event, event_of};
use crate::event_bus::{Entry, EntryOutcome, EventSink};
use aws_lambda_events::event::dynamodb::EventRecord;
use std::time::Duration;

/// The most entries one PutEvents call takes.
const ENTRIES_PER_CALL: usize = 10;

/// How often the entries the bus refused are offered again before the record is reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// Calls in all, the first included.
    pub attempts: u32,
    /// The wait before the second call; it doubles before each further one.
    pub first_backoff: Duration,
}

impl Retry {
    /// Four calls over about 1.4 s: a throttled bus usually recovers within that; longer
    /// trouble is Lambda's to retry (the event source mapping's MaximumRetryAttempts).
    pub const DEFAULT: Retry = Retry {
        attempts: 4,
        first_backoff: Duration::from_millis(200),
    };
}

/// Publishes the events of `records`, in order. `None` when every event was published;
/// otherwise the index of the first record whose event was not (an unreadable record, or
/// one the bus kept refusing): the records before it are done, and those from it on must be
/// delivered again. Records that make no event are skipped.
pub async fn publish(sink: &dyn EventSink, records: &[EventRecord], retry: Retry) -> Option<usize> {
    // (index of the record, its entry), for one call.
    let mut pending: Vec<(usize, Entry)> = Vec::with_capacity(ENTRIES_PER_CALL);
    for (index, record) in records.iter().enumerate() {
        let entry = match event_of(record).map(|event| event.as_ref().map(Event::entry)) {
            Ok(None) => continue,
            Ok(Some(Ok(entry))) => entry,
            Ok(Some(Err(err))) => {
                tracing::error!(event_id = %record.event_id, error = %err, "event detail not serializable");
                return flush(sink, &mut pending, retry).await.or(Some(index));
            }
            Err(err) => {
                tracing::error!(error = %err, "unreadable stream record");
                return flush(sink, &mut pending, retry).await.or(Some(index));
            }
        };
        pending.push((index, entry));
        if pending.len() == ENTRIES_PER_CALL
            && let Some(failed) = flush(sink, &mut pending, retry).await
        {
            return Some(failed);
        }
    }
    flush(sink, &mut pending, retry).await
}

/// Publishes `pending` (emptying it), offering refused entries again as `retry` says. The
/// index of the first record whose entry was never accepted, if any.
async fn flush(sink: &dyn EventSink, pending: &mut Vec<(usize, Entry)>, retry: Retry) -> Option<usize> {
    let mut unpublished = std::mem::take(pending);
    let mut backoff = retry.first_backoff;
    for attempt in 1..=retry.attempts.max(1) {
        if unpublished.is_empty() {
            return None;
        }
        if attempt > 1 {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        let entries: Vec<Entry> = unpublished.iter().map(|(_, entry)| entry.clone()).collect();
        match sink.put(&entries).await {
            Ok(outcomes) if outcomes.len() == entries.len() => {
                let mut outcomes = outcomes.into_iter();
                unpublished.retain(|(index, entry)| match outcomes.next() {
                    Some(EntryOutcome::Failed(code)) => {
                        tracing::warn!(
                            record = index,
                            detail_type = entry.detail_type,
                            code,
                            attempt,
                            "event refused"
                        );
                        true
                    }
                    _ => false,
                });
            }
            Ok(outcomes) => {
                // Which entries were taken is unknown: all are offered again (at least once).
                tracing::error!(
                    entries = entries.len(),
                    outcomes = outcomes.len(),
                    "the bus answered a count of outcomes that does not match"
                );
            }
            Err(err) => tracing::warn!(error = %err, attempt, "publishing events failed"),
        }
    }
    unpublished.first().map(|(index, _)| *index)
}

#[cfg(test)]
mod tests {
    use super::super::stream::tests::{modify, record, upload};
    use super::*;
    use crate::errors::Failure;
    use crate::model::{Upload, UploadStatus};
    use futures::future::BoxFuture;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// Records what it published; refuses the entries (or calls) it is told to.
    #[derive(Default)]
    struct FakeBus {
        published: Mutex<Vec<Entry>>,
        /// Per call, in order: `None` fails the call, `Some(refused)` refuses the entries at
        /// those positions. Calls past the script publish everything.
        script: Mutex<VecDeque<Option<Vec<usize>>>>,
        calls: Mutex<Vec<usize>>,
    }

    impl FakeBus {
        fn scripted(script: Vec<Option<Vec<usize>>>) -> Self {
            Self {
                script: Mutex::new(script.into()),
                ..Self::default()
            }
        }

        fn published(&self) -> Vec<String> {
            let published = self.published.lock().unwrap();
            published.iter().map(|e| e.detail.clone()).collect()
        }
    }

    impl EventSink for FakeBus {
        fn put<'a>(&'a self, entries: &'a [Entry]) -> BoxFuture<'a, Result<Vec<EntryOutcome>, Failure>> {
            Box::pin(async move {
                assert!(entries.len() <= ENTRIES_PER_CALL);
                self.calls.lock().unwrap().push(entries.len());
                let refused = match self.script.lock().unwrap().pop_front() {
                    Some(None) => return Err(Failure::Unavailable),
                    Some(Some(refused)) => refused,
                    None => vec![],
                };
                let mut published = self.published.lock().unwrap();
                Ok(entries
                    .iter()
                    .enumerate()
                    .map(|(i, entry)| {
                        if refused.contains(&i) {
                            EntryOutcome::Failed("ThrottlingException".into())
                        } else {
                            published.push(entry.clone());
                            EntryOutcome::Published
                        }
                    })
                    .collect())
            })
        }
    }

    const NO_WAIT: Retry = Retry {
        attempts: 3,
        first_backoff: Duration::ZERO,
    };

    /// `n` records, each completing another upload.
    fn completions(n: u32) -> (Vec<EventRecord>, Vec<String>) {
        let records: Vec<EventRecord> = (0..n)
            .map(|i| {
                let before = upload(UploadStatus::Pending);
                let after = Upload {
                    status: UploadStatus::Completed,
                    ..before.clone()
                };
                modify(&before, &after, i)
            })
            .collect();
        let details = records
            .iter()
            .map(|r| event_of(r).unwrap().unwrap().entry().unwrap().detail)
            .collect();
        (records, details)
    }

    #[tokio::test]
    async fn every_event_is_published_once_in_order_ten_a_call() {
        let (mut records, details) = completions(23);
        // Records that make no event are skipped.
        let new = upload(UploadStatus::Pending);
        records.insert(5, modify(&new, &new, 99));
        let bus = FakeBus::default();
        assert_eq!(publish(&bus, &records, NO_WAIT).await, None);
        assert_eq!(bus.published(), details);
        assert_eq!(*bus.calls.lock().unwrap(), vec![10, 10, 3]);
    }

    #[tokio::test]
    async fn refused_entries_are_offered_again_and_only_they() {
        let (records, details) = completions(4);
        let bus = FakeBus::scripted(vec![Some(vec![1, 3]), Some(vec![0])]);
        assert_eq!(publish(&bus, &records, NO_WAIT).await, None);
        // Entries 1 and 3 refused, then 1 again: each published once in all.
        let mut published = bus.published();
        published.sort();
        let mut expected = details.clone();
        expected.sort();
        assert_eq!(published, expected);
        assert_eq!(*bus.calls.lock().unwrap(), vec![4, 2, 1]);
    }

    #[tokio::test]
    async fn a_record_the_bus_keeps_refusing_is_reported_and_nothing_after_it_is_published() {
        let (records, details) = completions(14);
        // The second call (records 10…13) refuses record 11 on every attempt.
        let bus = FakeBus::scripted(vec![Some(vec![]), Some(vec![1]), Some(vec![0]), Some(vec![0])]);
        assert_eq!(publish(&bus, &records, NO_WAIT).await, Some(11));
        // 0…9 and, in the same call as 11, 10, 12 and 13: Lambda redelivers from 11, so 12
        // and 13 will be published again (at least once; subscribers drop them by event_id).
        let mut expected = details[..11].to_vec();
        expected.extend_from_slice(&details[12..]);
        assert_eq!(bus.published(), expected);

        // The redelivery from the reported record publishes nothing before it again.
        let again = FakeBus::default();
        assert_eq!(publish(&again, &records[11..], NO_WAIT).await, None);
        assert_eq!(again.published(), details[11..].to_vec());
    }

    #[tokio::test]
    async fn a_failed_call_is_retried_then_reported_from_its_first_record() {
        let (records, details) = completions(3);
        let recovers = FakeBus::scripted(vec![None, None]);
        assert_eq!(publish(&recovers, &records, NO_WAIT).await, None);
        assert_eq!(recovers.published(), details);

        let down = FakeBus::scripted(vec![None, None, None]);
        assert_eq!(publish(&down, &records, NO_WAIT).await, Some(0));
        assert!(down.published().is_empty());
    }

    #[tokio::test]
    async fn an_unreadable_record_is_reported_after_what_precedes_it_is_published() {
        let (mut records, details) = completions(3);
        records.insert(2, record("REMOVE", "upload", None, None, None, 50));
        let bus = FakeBus::default();
        assert_eq!(publish(&bus, &records, NO_WAIT).await, Some(2));
        assert_eq!(bus.published(), details[..2].to_vec());
    }
}

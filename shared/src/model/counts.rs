use super::UploadStatus;
use std::collections::BTreeMap;

/// A bucket's uploads and their bytes per status, as its counters item holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketCounts {
    pub by_status: BTreeMap<UploadStatus, StatusCount>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCount {
    pub uploads: u64,
    pub bytes: u64,
}

impl BucketCounts {
    /// The counts of these statuses only.
    pub fn of_statuses(&self, statuses: &std::collections::BTreeSet<UploadStatus>) -> Self {
        Self {
            by_status: self
                .by_status
                .iter()
                .filter(|(status, _)| statuses.contains(status))
                .map(|(status, count)| (*status, *count))
                .collect(),
        }
    }
}

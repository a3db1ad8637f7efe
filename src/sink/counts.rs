//! Delivery counts, per batch, per source and in total.

use super::client::BatchOutcome;

/// Delivery counts, per source and in total.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Documents produced from the input (one per non-blank line).
    pub read: u64,
    /// Documents the cluster created.
    pub indexed: u64,
    /// Documents already there (409 on `create`: the same `_id`).
    pub duplicates: u64,
    /// Documents the cluster rejected, stored in the dead letter.
    pub dead_lettered: u64,
    /// Documents printed instead of indexed (a dry run).
    pub printed: u64,
    /// Documents not acknowledged (not indexed, not already there, not dead-lettered).
    pub failed: u64,
    /// Bulk requests repeated after throttling, server errors or transport errors.
    pub retries: u64,
}

impl Counts {
    /// Adds a batch's outcome (all but `failed`, which the caller settles).
    pub fn add_outcome(&mut self, outcome: &BatchOutcome) {
        let failed = self.failed;
        self.add(&outcome.counts);
        self.failed = failed;
    }

    /// Adds another count.
    pub fn add(&mut self, other: &Counts) {
        self.read += other.read;
        self.indexed += other.indexed;
        self.duplicates += other.duplicates;
        self.dead_lettered += other.dead_lettered;
        self.printed += other.printed;
        self.failed += other.failed;
        self.retries += other.retries;
    }

    /// Documents accounted for: indexed, already indexed, dead-lettered, or (a dry run)
    /// printed.
    pub fn acknowledged(&self) -> u64 {
        self.indexed + self.duplicates + self.dead_lettered + self.printed
    }
}

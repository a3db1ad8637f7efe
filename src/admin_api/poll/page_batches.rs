//! One page of Admin API events → bulk batches within the limits, built one at a time as
//! the poller sends them (a page never sits in memory as documents all at once).

use serde_json::value::RawValue;

use crate::normalize::Ids;
use crate::shipping::{NewestTimestamp, Provenance, Shipper};
use crate::sink::{BulkBatch, ShipMode};

/// The batches of one page, in order. `first` numbers the first event (it stands in for
/// a line number in dead-letter records).
pub struct PageBatches<'a> {
    shipper: &'a Shipper,
    mode: &'a ShipMode,
    events: std::iter::Zip<std::ops::RangeFrom<u64>, std::slice::Iter<'a, Box<RawValue>>>,
    first: u64,
    newest: NewestTimestamp,
}

impl<'a> PageBatches<'a> {
    /// The batches of `events`, as `mode` wants them.
    pub fn new(
        shipper: &'a Shipper,
        mode: &'a ShipMode,
        events: &'a [Box<RawValue>],
        first: u64,
    ) -> PageBatches<'a> {
        PageBatches {
            shipper,
            mode,
            events: (0u64..).zip(events),
            first,
            newest: NewestTimestamp::default(),
        }
    }

    /// The newest `@timestamp` among the events batched so far that normalized without
    /// error.
    pub fn newest(&self) -> &NewestTimestamp {
        &self.newest
    }
}

impl Iterator for PageBatches<'_> {
    type Item = BulkBatch;

    fn next(&mut self) -> Option<BulkBatch> {
        let provenance = Provenance::CursorApi;
        let mut batch = BulkBatch::new();
        for (index, event) in self.events.by_ref() {
            let raw = event.get();
            let Some(normalized) = self.shipper.normalizer.normalize_line(raw.as_bytes()) else {
                continue;
            };
            let document = self.shipper.document_of(
                normalized,
                raw.as_bytes(),
                0,
                &provenance,
                self.mode,
                Ids::Computed,
            );
            if let Some(timestamp) = &document.newest {
                self.newest.offer(timestamp);
            }
            batch.push(
                (document.id, document.index),
                &document.body,
                raw,
                self.first + index,
            );
            if batch.is_full(&self.shipper.limits) {
                return Some(batch);
            }
        }
        (!batch.is_empty()).then_some(batch)
    }
}

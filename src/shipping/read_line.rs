//! One line read by a [`LineReader`](crate::lines::LineReader) → its document: an
//! over-long line becomes an error document that keeps the line's beginning.

use crate::lines::Line;
use crate::normalize::{Ids, Normalized, Normalizer};

/// Normalizes one line read by a [`LineReader`](crate::lines::LineReader), turning an
/// over-long line into an error document that keeps its beginning. The `_id` is computed
/// only when `ids` asks for it.
pub fn normalize_read_line(
    normalizer: &Normalizer,
    line: &Line<'_>,
    max_line_bytes: usize,
    ids: Ids,
) -> Option<Normalized> {
    if line.is_truncated() {
        let original = String::from_utf8_lossy(line.bytes);
        let message = format!(
            "line {} is {} bytes, longer than MAX_LINE_BYTES ({max_line_bytes}); event.original holds its first {} bytes",
            line.number,
            line.length,
            line.bytes.len()
        );
        return Some(normalizer.error_document(&original, message));
    }
    normalizer.normalize_line_ids(line.bytes, ids)
}

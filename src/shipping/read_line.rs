//! One line read by a [`LineReader`](crate::shipping::lines::LineReader) → its document: an
//! over-long line becomes an error document that keeps the line's beginning.

use std::io::{self, BufRead, Write};

use super::lines::{Line, LineReader};
use crate::normalize::{Ids, Normalized, Normalizer};
use crate::sink::DocumentWriter;

/// Normalizes one line read by a [`LineReader`](crate::shipping::lines::LineReader), turning an
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

/// `normalize`: every line of `input` → its document (no shipping fields, no `_id`) on
/// `out`, one per line, with the same line handling as shipping.
pub fn normalize_stream<W: Write>(
    normalizer: &Normalizer,
    input: impl BufRead,
    max_line_bytes: usize,
    out: &mut DocumentWriter<W>,
) -> io::Result<()> {
    let mut lines = LineReader::new(input, max_line_bytes);
    while let Some(line) = lines.next_line()? {
        if let Some(normalized) =
            normalize_read_line(normalizer, &line, max_line_bytes, Ids::Skipped)
        {
            out.write_document(&normalized.document)?;
        }
    }
    out.flush()
}

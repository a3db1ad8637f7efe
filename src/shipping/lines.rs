//! A length-capped line reader: yields each line with its byte offset, never holding more
//! than `max_line_bytes` of one line in memory, whatever the input.

use std::io::{self, BufRead};

/// One line of input, without its `\n`.
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line's bytes, at most `max_line_bytes` of them.
    pub bytes: &'a [u8],
    /// Byte offset of the line's first byte in the (decompressed) input.
    pub offset: u64,
    /// 1-based line number.
    pub number: u64,
    /// The line's full length, which exceeds `bytes.len()` when it was truncated.
    pub length: u64,
}

impl Line<'_> {
    /// True when the line was longer than the cap and `bytes` holds only its beginning.
    pub fn is_truncated(&self) -> bool {
        self.length > self.bytes.len() as u64
    }
}

/// Splits a [`BufRead`] into [`Line`]s. A line that lies whole in the reader's buffer is
/// lent from there without copying; only lines spanning buffer refills are copied.
pub struct LineReader<R> {
    inner: R,
    max_line_bytes: usize,
    offset: u64,
    number: u64,
    buf: Vec<u8>,
    /// Bytes of the previous line still to be consumed from `inner`.
    pending_consume: usize,
}

impl<R: BufRead> LineReader<R> {
    /// Lines longer than `max_line_bytes` are cut to that length (see [`Line::is_truncated`]).
    pub fn new(inner: R, max_line_bytes: usize) -> Self {
        LineReader {
            inner,
            max_line_bytes: max_line_bytes.max(1),
            offset: 0,
            number: 0,
            buf: Vec::new(),
            pending_consume: 0,
        }
    }

    /// Bytes consumed so far (the offset where the next line starts).
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// The next line, or `None` at the end of input.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.inner
            .consume(std::mem::take(&mut self.pending_consume));
        self.buf.clear();
        let start = self.offset;
        // Fast path: the whole line is already buffered.
        let buffered_line = loop {
            match self.inner.fill_buf() {
                Ok(available) => {
                    break memchr::memchr(b'\n', available)
                        .filter(|&newline| newline <= self.max_line_bytes);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        };
        if let Some(newline) = buffered_line {
            self.pending_consume = newline + 1;
            self.offset += newline as u64 + 1;
            self.number += 1;
            let available = self.inner.fill_buf()?;
            return Ok(Some(Line {
                bytes: &available[..newline],
                offset: start,
                number: self.number,
                length: newline as u64,
            }));
        }
        let mut length: u64 = 0;
        let mut saw_newline = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            if available.is_empty() {
                break;
            }
            let (chunk, used) = match memchr::memchr(b'\n', available) {
                Some(newline) => {
                    saw_newline = true;
                    (&available[..newline], newline + 1)
                }
                None => (available, available.len()),
            };
            let room = self.max_line_bytes.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            length += chunk.len() as u64;
            self.inner.consume(used);
            self.offset += used as u64;
            if saw_newline {
                break;
            }
        }
        if !saw_newline && length == 0 {
            return Ok(None);
        }
        self.number += 1;
        Ok(Some(Line {
            bytes: &self.buf,
            offset: start,
            number: self.number,
            length,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], max: usize) -> Vec<(Vec<u8>, u64, u64, bool)> {
        // A tiny buffer forces lines to span many fill_buf calls.
        let mut reader = LineReader::new(io::BufReader::with_capacity(3, input), max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push((
                line.bytes.to_vec(),
                line.offset,
                line.number,
                line.is_truncated(),
            ));
        }
        out
    }

    #[test]
    fn splits_with_offsets() {
        assert_eq!(
            collect(b"ab\n\ncde\nf", 100),
            vec![
                (b"ab".to_vec(), 0, 1, false),
                (b"".to_vec(), 3, 2, false),
                (b"cde".to_vec(), 4, 3, false),
                (b"f".to_vec(), 8, 4, false),
            ]
        );
    }

    #[test]
    fn trailing_newline_adds_no_line() {
        assert_eq!(collect(b"a\n", 100).len(), 1);
        assert!(collect(b"", 100).is_empty());
    }

    #[test]
    fn long_lines_are_capped_and_the_rest_skipped() {
        let lines = collect(b"0123456789\nok\n", 4);
        assert_eq!(lines[0], (b"0123".to_vec(), 0, 1, true));
        assert_eq!(lines[1], (b"ok".to_vec(), 11, 2, false));
    }

    #[test]
    fn reports_full_length() {
        let input = b"xxxxxxxxxx";
        let mut reader = LineReader::new(&input[..], 3);
        let line = reader.next_line().unwrap().unwrap();
        assert_eq!(line.length, 10);
        assert_eq!(line.bytes, b"xxx");
        assert_eq!(reader.position(), 10);
    }
}

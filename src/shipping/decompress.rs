//! Decompression: gzip is recognized by its magic bytes (multi-member gzip included) and
//! inflated on a thread of its own, a few chunks ahead of the reader, so decompression and
//! normalization use both cores while memory stays bounded by the chunks in flight.

use std::io::{BufRead, BufReader, Read};

/// The default `MAX_OBJECT_INFLATED_BYTES`: 16 GiB, far beyond any audit object, but a
/// bound on a gzip bomb.
pub const DEFAULT_MAX_INFLATED_BYTES: u64 = 16 * 1024 * 1024 * 1024;

/// Opens a reader, detecting gzip by its magic bytes (multi-member gzip included). Gzip is
/// inflated on its own thread; inflating more than `max_inflated` bytes is an error
/// (`InvalidData`) after what came before it was delivered.
pub fn decompressing_reader<R: Read + Send + 'static>(
    inner: R,
    max_inflated: u64,
) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut buffered = BufReader::with_capacity(256 * 1024, inner);
    let magic = buffered.fill_buf()?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(ChunkReader::spawn(
            flate2::bufread::MultiGzDecoder::new(buffered),
            max_inflated,
        )?))
    } else {
        Ok(Box::new(buffered))
    }
}

/// Chunks of an input produced by a reading thread.
struct ChunkReader {
    chunks: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    position: usize,
}

/// Size of one decompressed chunk, and how many may wait.
const CHUNK_BYTES: usize = 256 * 1024;
const CHUNKS_AHEAD: usize = 4;

impl ChunkReader {
    fn spawn<R: Read + Send + 'static>(
        mut inner: R,
        max_inflated: u64,
    ) -> std::io::Result<ChunkReader> {
        let (sender, chunks) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD);
        std::thread::Builder::new()
            .name("inflate".into())
            .spawn(move || {
                let mut total: u64 = 0;
                loop {
                    let mut chunk = vec![0u8; CHUNK_BYTES];
                    let mut filled = 0;
                    let result = loop {
                        match inner.read(&mut chunk[filled..]) {
                            Ok(0) => break Ok(()),
                            Ok(n) => {
                                filled += n;
                                if filled == chunk.len() {
                                    break Ok(());
                                }
                            }
                            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(err) => break Err(err),
                        }
                    };
                    chunk.truncate(filled);
                    total = total.saturating_add(filled as u64);
                    if total > max_inflated {
                        let _ = sender.send(Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!(
                                "it inflates to more than MAX_OBJECT_INFLATED_BYTES ({max_inflated} bytes)"
                            ),
                        )));
                        return;
                    }
                    let end = filled < CHUNK_BYTES;
                    if filled > 0 && sender.send(Ok(chunk)).is_err() {
                        return;
                    }
                    if let Err(err) = result {
                        let _ = sender.send(Err(err));
                        return;
                    }
                    if end {
                        return;
                    }
                }
            })?;
        Ok(ChunkReader {
            chunks,
            current: Vec::new(),
            position: 0,
        })
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.position >= self.current.len() {
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.position = 0;
                }
                Ok(Err(err)) => return Err(err),
                // The thread is done: end of input.
                Err(_) => {
                    self.current.clear();
                    self.position = 0;
                }
            }
        }
        Ok(&self.current[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position = (self.position + amount).min(self.current.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn truncated_gzip_keeps_what_was_read_and_then_fails() {
        let text: String = (0..50_000).map(|i| format!("line {i}\n")).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        let mut data = gz.finish().unwrap();
        data.truncate(data.len() / 2);
        let mut reader = decompressing_reader(std::io::Cursor::new(data), u64::MAX).unwrap();
        let mut lines = 0;
        let error = loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => panic!("a truncated stream must not end cleanly"),
                Ok(_) => lines += 1,
                Err(err) => break err,
            }
        };
        assert!(lines > 1000, "{lines}");
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
    }

    #[test]
    fn gzip_is_detected_by_magic_bytes() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"one\n").unwrap();
        let mut data = gz.finish().unwrap();
        // A second gzip member.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"two\n").unwrap();
        data.extend(gz.finish().unwrap());
        let mut text = String::new();
        decompressing_reader(std::io::Cursor::new(data), u64::MAX)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "one\ntwo\n");
        let mut plain = String::new();
        decompressing_reader(std::io::Cursor::new(b"plain\n".to_vec()), 1)
            .unwrap()
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, "plain\n");
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap_after_what_fits() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        for _ in 0..64 {
            gz.write_all(&[b'{'; 64 * 1024]).unwrap();
        }
        let data = gz.finish().unwrap();
        assert!(data.len() < 20_000, "{}", data.len());
        let mut reader = decompressing_reader(std::io::Cursor::new(data), 1024 * 1024).unwrap();
        let mut sink = Vec::new();
        let err = reader.read_to_end(&mut sink).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(
            err.to_string().contains("MAX_OBJECT_INFLATED_BYTES"),
            "{err}"
        );
        assert!(sink.len() <= 1024 * 1024, "{}", sink.len());
    }
}

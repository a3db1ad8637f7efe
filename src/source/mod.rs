//! Where raw audit lines come from: files and S3 objects (NDJSON lines) and the Cursor
//! Admin API (pages of events).

pub mod cursor_api;
pub mod lines;
pub mod s3_object;

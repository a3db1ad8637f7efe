//! Where raw audit lines come from.

pub mod lines;
pub mod s3_object;

//! Where raw audit lines come from.

pub mod lines;

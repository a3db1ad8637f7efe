//! What the two HTTP clients (the cluster's and the Cursor Admin API's) share: the one retry
//! engine and bounded reading of response bodies.

pub mod body;
pub mod retry;

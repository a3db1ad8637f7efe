//! Shipping, shared by both input paths: lines → normalizer → the shipping fields of
//! docs/normalization.md §10 → bulk batches → the sink, streamed with bounded memory.

pub mod deadline;
pub mod decompress;
pub mod fields;
pub mod lines;
pub mod newest;
pub mod raw_document;
pub mod read_line;
pub mod report;
pub mod routes;
pub mod shipper;

pub use fields::{DATASET, Provenance, ShipFields, add_shipping_fields};
pub use newest::NewestTimestamp;
pub use read_line::{normalize_read_line, normalize_stream};
pub use report::{ShipError, SourceReport};
pub use routes::TeamRoutes;
pub use shipper::Shipper;

//! The S3 input path: Cursor streams audit objects (`.jsonl.gz` under `YYYY/MM/DD/`) to a
//! bucket; a notification names each new object, which is read streamed and shipped,
//! resuming after the lines an earlier delivery acknowledged.

pub mod batch;
pub mod dead_letters;
pub mod forwarder;
pub mod notification;
pub mod object;
pub mod progress;

pub use batch::ObjectsFailed;
pub use dead_letters::DeadLetterPlace;
pub use forwarder::{DEFAULT_SUFFIXES, ObjectError, ObjectResult, S3Forwarder};
pub use notification::{
    Notification, NotificationError, ObjectRef, S3Notification, has_accepted_suffix,
    object_of_eventbridge, objects_of_s3_event, parse_notification,
};
pub use object::{GetObjectError, ListError, OpenedObject, list_keys, open_object};
pub use progress::{ObjectProgress, ObjectProgressStore};

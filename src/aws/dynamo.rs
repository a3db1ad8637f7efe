//! Durable state shared by both input paths: its error type and the consistent DynamoDB
//! reads of the checkpoint table `CHECKPOINT_TABLE` (partition key `pk`, string). The S3
//! path keeps per-object progress there (`s3::progress`); the Admin API path its
//! checkpoint and lease (`admin_api::store`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::aws_error_message;

/// Failures reading or writing progress, checkpoints and leases.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A DynamoDB read or write failed.
    #[error("checkpoint table {table}, item {pk}: {message}")]
    DynamoDb {
        /// The table.
        table: String,
        /// The item's partition key.
        pk: String,
        /// The AWS error.
        message: String,
    },
    /// The checkpoint file could not be read or written.
    #[error("checkpoint file {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A conditional write found the lease held by another poller.
    #[error("the poll lease ({what}) was taken over by another poller; stopped without writing")]
    LeaseLost {
        /// The lease item and its table.
        what: String,
    },
}

impl crate::error::Retryable for CheckpointError {
    fn is_retryable(&self) -> bool {
        !matches!(self, CheckpointError::File { .. })
    }
}

/// A DynamoDB item as the SDK returns it.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// The item `pk` of `table`, read consistently (`None` when there is none).
pub(crate) async fn read_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
) -> Result<Option<Item>, CheckpointError> {
    let output = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|err| CheckpointError::DynamoDb {
            table: table.to_owned(),
            pk: pk.to_owned(),
            message: aws_error_message(&err),
        })?;
    Ok(output.item)
}

/// A number attribute of an item.
pub(crate) fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// True when a conditional write failed its condition (someone else wrote first).
pub(crate) fn is_condition_failure<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

//! How far each notified object got: how many of its lines are acknowledged, so that a
//! redelivered notification resumes instead of starting over. One item per object version
//! in the checkpoint table (`object#<bucket>/<key>#<etag>`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::aws_error_message;
use crate::aws::dynamo::{CheckpointError, is_condition_failure, number, read_item};

/// How far an object got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectProgress {
    /// Every line up to and including this one is acknowledged.
    pub lines_acknowledged: u64,
    /// The object was read to its end and everything is acknowledged.
    pub complete: bool,
}

/// Per-object progress items expire after this long (the table's TTL attribute is `ttl`).
pub const OBJECT_PROGRESS_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where object progress lives.
#[derive(Debug, Clone)]
pub enum ObjectProgressStore {
    /// In the DynamoDB table `CHECKPOINT_TABLE`.
    DynamoDb {
        /// The DynamoDB client.
        client: aws_sdk_dynamodb::Client,
        /// The table.
        table: String,
    },
    /// No table configured (command-line use): every object starts from its first line.
    Disabled,
}

fn object_pk(bucket: &str, key: &str, etag: Option<&str>) -> String {
    format!("object#{bucket}/{key}#{}", etag.unwrap_or("-"))
}

impl ObjectProgressStore {
    /// The recorded progress (nothing recorded: start at line 1).
    pub async fn load(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
    ) -> Result<ObjectProgress, CheckpointError> {
        let ObjectProgressStore::DynamoDb { client, table } = self else {
            return Ok(ObjectProgress::default());
        };
        let pk = object_pk(bucket, key, etag);
        let Some(item) = read_item(client, table, &pk).await? else {
            return Ok(ObjectProgress::default());
        };
        Ok(ObjectProgress {
            lines_acknowledged: number(&item, "lines_acknowledged").unwrap_or(0),
            complete: item
                .get("complete")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
        })
    }

    /// Records progress; never moves it backwards (a conditional write).
    pub async fn save(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
        progress: ObjectProgress,
    ) -> Result<(), CheckpointError> {
        let ObjectProgressStore::DynamoDb { client, table } = self else {
            return Ok(());
        };
        let pk = object_pk(bucket, key, etag);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut item = HashMap::new();
        item.insert("pk".to_owned(), AttributeValue::S(pk.clone()));
        item.insert(
            "lines_acknowledged".to_owned(),
            AttributeValue::N(progress.lines_acknowledged.to_string()),
        );
        item.insert(
            "complete".to_owned(),
            AttributeValue::Bool(progress.complete),
        );
        item.insert("bucket".to_owned(), AttributeValue::S(bucket.to_owned()));
        item.insert("key".to_owned(), AttributeValue::S(key.to_owned()));
        item.insert(
            "updated_at".to_owned(),
            AttributeValue::N(now.as_secs().to_string()),
        );
        item.insert(
            "ttl".to_owned(),
            AttributeValue::N((now + OBJECT_PROGRESS_TTL).as_secs().to_string()),
        );
        let result = client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR (lines_acknowledged <= :lines AND complete = :false)",
            )
            .expression_attribute_values(
                ":lines",
                AttributeValue::N(progress.lines_acknowledged.to_string()),
            )
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone recorded more progress already: nothing to do.
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(CheckpointError::DynamoDb {
                table: table.clone(),
                pk,
                message: aws_error_message(&err),
            }),
        }
    }
}

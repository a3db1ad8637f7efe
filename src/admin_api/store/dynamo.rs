//! The poll state in the DynamoDB table `CHECKPOINT_TABLE`: two items,
//! `poll#<name>#checkpoint` and `poll#<name>#lease`, written with conditional expressions;
//! checkpoint writes are fenced by the lease's generation.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::{
    Lease, LeaseAttempt, PollCheckpoint, PollStore, WindowProgress, epoch_ms, from_epoch_ms,
};
use crate::admin_api::client::wire::{Window, rfc3339};
use crate::aws::aws_error_message;
use crate::aws::dynamo::{CheckpointError, is_condition_failure, number, read_item};

/// The poll state in the DynamoDB table `CHECKPOINT_TABLE`.
#[derive(Debug, Clone)]
pub struct DynamoPollStore {
    /// The DynamoDB client.
    pub client: aws_sdk_dynamodb::Client,
    /// The checkpoint table (`CHECKPOINT_TABLE`).
    pub table: String,
    /// Tells pollers apart when several share a table (namespace and event filter, or
    /// the team).
    pub name: String,
    /// The checkpoint's label when it is not the live one (a replay's).
    pub checkpoint_label: Option<String>,
}

fn string<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn time(item: &HashMap<String, AttributeValue>, name: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(string(item, name)?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn time_value(time: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(rfc3339(time))
}

impl DynamoPollStore {
    fn lease_pk(&self) -> String {
        format!("poll#{}#lease", self.name)
    }

    fn checkpoint_pk(&self) -> String {
        match &self.checkpoint_label {
            Some(label) => format!("poll#{}#{label}", self.name),
            None => format!("poll#{}#checkpoint", self.name),
        }
    }

    fn error(&self, pk: String, message: String) -> CheckpointError {
        CheckpointError::DynamoDb {
            table: self.table.clone(),
            pk,
            message,
        }
    }

    /// Sets the lease's expiry (and the last request time) if it is still ours.
    async fn update_lease(
        &self,
        lease: &Lease,
        expires_at_ms: u64,
        last_request_at: Option<SystemTime>,
    ) -> Result<(), CheckpointError> {
        let pk = self.lease_pk();
        let mut update = "SET expires_at = :expires".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .condition_expression("#owner = :me AND generation = :generation")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", AttributeValue::S(lease.owner.clone()))
            .expression_attribute_values(
                ":generation",
                AttributeValue::N(lease.generation.to_string()),
            )
            .expression_attribute_values(":expires", AttributeValue::N(expires_at_ms.to_string()));
        if let Some(last) = last_request_at {
            update.push_str(", last_request_at = :last");
            request = request.expression_attribute_values(
                ":last",
                AttributeValue::N(epoch_ms(last).to_string()),
            );
        }
        match request.update_expression(update).send().await {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(CheckpointError::LeaseLost {
                what: format!("{pk} in {}", self.table),
            }),
            Err(err) => Err(self.error(pk, aws_error_message(&err))),
        }
    }
}

impl PollStore for DynamoPollStore {
    fn describe(&self) -> String {
        format!("DynamoDB table {} ({})", self.table, self.checkpoint_pk())
    }

    fn with_checkpoint(&self, label: &str) -> DynamoPollStore {
        DynamoPollStore {
            checkpoint_label: Some(label.to_owned()),
            ..self.clone()
        }
    }

    async fn acquire(
        &self,
        owner: &str,
        duration: Duration,
    ) -> Result<LeaseAttempt, CheckpointError> {
        let pk = self.lease_pk();
        let now = SystemTime::now();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .update_expression(
                "SET #owner = :me, expires_at = :expires, acquired_at = :now ADD generation :one",
            )
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now OR #owner = :me")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N(epoch_ms(now + duration).to_string()),
            )
            .expression_attribute_values(":now", AttributeValue::N(epoch_ms(now).to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(LeaseAttempt::Acquired(Lease {
                    owner: owner.to_owned(),
                    generation: number(&item, "generation").unwrap_or(1),
                    expires_at: now + duration,
                    last_request_at: number(&item, "last_request_at").map(from_epoch_ms),
                }))
            }
            Err(err) if is_condition_failure(&err) => {
                let item = read_item(&self.client, &self.table, &self.lease_pk())
                    .await?
                    .unwrap_or_default();
                Ok(LeaseAttempt::Held {
                    owner: string(&item, "owner").unwrap_or("unknown").to_owned(),
                    expires_at: number(&item, "expires_at").map(from_epoch_ms),
                })
            }
            Err(err) => Err(self.error(pk, aws_error_message(&err))),
        }
    }

    async fn renew(
        &self,
        lease: &Lease,
        duration: Duration,
        last_request_at: Option<SystemTime>,
    ) -> Result<(), CheckpointError> {
        self.update_lease(
            lease,
            epoch_ms(SystemTime::now() + duration),
            last_request_at,
        )
        .await
    }

    async fn release(
        &self,
        lease: &Lease,
        last_request_at: Option<SystemTime>,
    ) -> Result<(), CheckpointError> {
        // An expiry of zero frees the lease; holder and generation stay for the record.
        match self.update_lease(lease, 0, last_request_at).await {
            // Taken over already: nothing of ours to free.
            Err(CheckpointError::LeaseLost { .. }) => Ok(()),
            other => other,
        }
    }

    async fn load(&self) -> Result<PollCheckpoint, CheckpointError> {
        let Some(item) = read_item(&self.client, &self.table, &self.checkpoint_pk()).await? else {
            return Ok(PollCheckpoint::default());
        };
        let window = match (time(&item, "window_start"), time(&item, "window_end")) {
            (Some(start), Some(end)) => Some(WindowProgress {
                window: Window { start, end },
                next_page: number(&item, "next_page").unwrap_or(1).max(1) as u32,
                events_acknowledged: number(&item, "events_acknowledged").unwrap_or(0),
            }),
            _ => None,
        };
        Ok(PollCheckpoint {
            collected_until: time(&item, "collected_until"),
            window,
            newest_event: time(&item, "newest_event"),
        })
    }

    async fn save(
        &self,
        lease: &Lease,
        checkpoint: &PollCheckpoint,
    ) -> Result<(), CheckpointError> {
        let pk = self.checkpoint_pk();
        let mut item = HashMap::new();
        item.insert("pk".to_owned(), AttributeValue::S(pk.clone()));
        item.insert(
            "generation".to_owned(),
            AttributeValue::N(lease.generation.to_string()),
        );
        item.insert(
            "updated_at".to_owned(),
            AttributeValue::N(epoch_ms(SystemTime::now()).to_string()),
        );
        item.insert("owner".to_owned(), AttributeValue::S(lease.owner.clone()));
        if let Some(until) = checkpoint.collected_until {
            item.insert("collected_until".to_owned(), time_value(until));
        }
        if let Some(newest) = checkpoint.newest_event {
            item.insert("newest_event".to_owned(), time_value(newest));
        }
        if let Some(progress) = &checkpoint.window {
            item.insert("window_start".to_owned(), time_value(progress.window.start));
            item.insert("window_end".to_owned(), time_value(progress.window.end));
            item.insert(
                "next_page".to_owned(),
                AttributeValue::N(progress.next_page.to_string()),
            );
            item.insert(
                "events_acknowledged".to_owned(),
                AttributeValue::N(progress.events_acknowledged.to_string()),
            );
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR generation <= :generation")
            .expression_attribute_values(
                ":generation",
                AttributeValue::N(lease.generation.to_string()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(CheckpointError::LeaseLost {
                what: format!("{} in {}", self.lease_pk(), self.table),
            }),
            Err(err) => Err(self.error(pk, aws_error_message(&err))),
        }
    }
}

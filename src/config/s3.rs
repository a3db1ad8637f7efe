//! The S3 path's settings, and where durable progress lives (both paths).

use clap::Args;

use super::parse::CommaList;

/// The S3 path's settings.
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// Objects with other names are skipped (and logged).
    #[arg(long, env = "S3_KEY_SUFFIXES", default_value = crate::s3::DEFAULT_SUFFIXES)]
    pub s3_key_suffixes: CommaList,
}

impl S3Args {
    /// The suffix list.
    pub fn suffixes(&self) -> Vec<String> {
        self.s3_key_suffixes.0.clone()
    }
}

/// Where durable progress lives (both paths).
#[derive(Debug, Clone, Args)]
pub struct CheckpointArgs {
    /// DynamoDB table (partition key `pk`) for per-object progress and the poll checkpoint.
    #[arg(long, env = "CHECKPOINT_TABLE")]
    pub checkpoint_table: Option<String>,
}

impl CheckpointArgs {
    /// The table, when one is set.
    pub fn table(&self) -> Option<&str> {
        self.checkpoint_table.as_deref().filter(|t| !t.is_empty())
    }
}

//! What the process tells its operator: JSON logs on stderr, and per invocation one summary
//! line and one CloudWatch Embedded Metric Format record.

pub mod logging;
pub mod metrics;

//! Which ingest pipelines run on a data stream (`index.default_pipeline`,
//! `index.final_pipeline`), read from the write index or, before the data stream exists,
//! from the template that would create it: what `NORMALIZE_IN=auto` decides on.

use serde_json::Value;

use super::connection::EsConnection;
use super::error::EsError;
use super::templates::MAX_ANSWER_BYTES;

/// The ingest pipelines that run on documents written to a data stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectivePipelines {
    /// `index.default_pipeline` (replaced by a request's `pipeline` parameter).
    pub default_pipeline: Option<String>,
    /// `index.final_pipeline` (always runs).
    pub final_pipeline: Option<String>,
}

impl EffectivePipelines {
    /// Reads both settings from an index `settings` object, nested or flat.
    fn from_settings(settings: &Value) -> EffectivePipelines {
        let read = |name: &str| {
            settings["index"][name]
                .as_str()
                .or_else(|| settings[format!("index.{name}")].as_str())
                .map(str::to_owned)
        };
        EffectivePipelines {
            default_pipeline: read("default_pipeline"),
            final_pipeline: read("final_pipeline"),
        }
    }
}

/// GET or POST `path`; the status and the JSON answer (`Null` when it is not JSON).
pub(super) async fn read_json(
    connection: &EsConnection,
    method: reqwest::Method,
    path: &str,
) -> Result<(u16, Value), EsError> {
    let mut response = connection
        .send(path, connection.request(method, path))
        .await?;
    let status = response.status().as_u16();
    let bytes = crate::http::body::read_limited(&mut response, MAX_ANSWER_BYTES)
        .await
        .map_err(|err| EsError::BadResponse {
            url: connection.url_for(path),
            message: err.to_string(),
        })?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// The pipelines that run on what is written to `data_stream`: its write index's settings
/// when it exists, else those of the template that would create it (asked only then:
/// OpenSearch answers 500 when simulating a name an existing data stream holds). `None`
/// when neither can be read (the key lacks `view_index_metadata` and
/// `manage_index_templates`). A cluster that cannot be reached or fails is an error.
pub async fn effective_pipelines(
    connection: &EsConnection,
    data_stream: &str,
) -> Result<Option<EffectivePipelines>, EsError> {
    let retryable = |status: u16, path: &str, body: &Value| {
        (status == 429 || status >= 500).then(|| EsError::Status {
            url: connection.url_for(path),
            status,
            body: body.to_string().chars().take(2000).collect(),
            retry_after: None,
        })
    };
    let settings_path = format!(
        "{data_stream}/_settings/index.default_pipeline,index.final_pipeline?flat_settings=true"
    );
    let (status, body) = read_json(connection, reqwest::Method::GET, &settings_path).await?;
    if let Some(err) = retryable(status, &settings_path, &body) {
        return Err(err);
    }
    if status == 200
        && let Some(indices) = body.as_object()
    {
        // The stream exists. Backing indices are named .ds-<stream>-<date>-<generation>:
        // the last is the write index. None listed (`{}`, on Elasticsearch and OpenSearch
        // alike) means neither setting is set on any of them.
        let write_settings =
            indices.keys().max().map_or(
                &Value::Null,
                |write_index| &indices[write_index]["settings"],
            );
        return Ok(Some(EffectivePipelines::from_settings(write_settings)));
    }
    let simulate_path = format!("_index_template/_simulate_index/{data_stream}");
    let (status, body) = read_json(connection, reqwest::Method::POST, &simulate_path).await?;
    if let Some(err) = retryable(status, &simulate_path, &body) {
        return Err(err);
    }
    if status != 200 {
        return Ok(None);
    }
    Ok(Some(EffectivePipelines::from_settings(
        &body["template"]["settings"],
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pipelines_are_read_nested_or_flat() {
        let nested = json!({"index": {"default_pipeline": "logs-cursor.audit-1.3.0",
                                      "final_pipeline": ".fleet_final_pipeline-1"}});
        let flat = json!({"index.default_pipeline": "logs-cursor.audit-1.3.0",
                          "index.final_pipeline": ".fleet_final_pipeline-1"});
        let expected = EffectivePipelines {
            default_pipeline: Some("logs-cursor.audit-1.3.0".into()),
            final_pipeline: Some(".fleet_final_pipeline-1".into()),
        };
        assert_eq!(EffectivePipelines::from_settings(&nested), expected);
        assert_eq!(EffectivePipelines::from_settings(&flat), expected);
        assert_eq!(
            EffectivePipelines::from_settings(&json!({})),
            EffectivePipelines::default()
        );
    }
}

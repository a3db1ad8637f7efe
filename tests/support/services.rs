//! The local services started by `scripts/services.sh` (Elasticsearch node, moto), found
//! through the environment or `target/services.env`. Tests never skip when they are missing:
//! they fail and say how to start them.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

/// Service addresses and AWS variables.
pub fn env() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut vars = HashMap::new();
        let file = super::repo_root().join("target/services.env");
        if let Ok(text) = std::fs::read_to_string(&file) {
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    vars.insert(k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
                }
            }
        }
        // The process environment wins (scripts/test.sh exports the same values).
        for key in [
            "ES_URL",
            "OPENSEARCH_URL",
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            if let Ok(value) = std::env::var(key) {
                vars.insert(key.to_owned(), value);
            }
        }
        assert!(
            vars.contains_key("ES_URL") && vars.contains_key("AWS_ENDPOINT_URL"),
            "local services are not running: start them with `scripts/services.sh start` (scripts/test.sh does)"
        );
        vars.entry("AWS_REGION".into()).or_insert_with(|| "us-east-1".into());
        vars.entry("AWS_ACCESS_KEY_ID".into()).or_insert_with(|| "testing".into());
        vars.entry("AWS_SECRET_ACCESS_KEY".into()).or_insert_with(|| "testing".into());
        vars
    })
}

/// The Elasticsearch URL.
pub fn es_url() -> String {
    env()["ES_URL"].clone()
}

/// The OpenSearch node's URL (`ENGINE=opensearch scripts/services.sh start` runs it beside
/// the Elasticsearch node; scripts/test.sh does).
pub fn opensearch_url() -> String {
    env().get("OPENSEARCH_URL").cloned().unwrap_or_else(|| {
        panic!(
            "no OpenSearch node: start the services with `ENGINE=opensearch scripts/services.sh start` (scripts/test.sh does)"
        )
    })
}

/// Environment for a child process: the AWS variables pointing at moto, nothing else.
pub fn aws_env() -> Vec<(String, String)> {
    [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), env()[*k].clone()))
    .collect()
}

/// The AWS settings of [`aws_env`], then `settings` and `extra` in order, a later value
/// replacing an earlier one of the same name.
pub fn aws_env_with(settings: &[(&str, &str)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = aws_env();
    for (k, v) in settings.iter().chain(extra) {
        env.retain(|(key, _)| key != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    env
}

/// A namespace no other test uses, so each test has its own data stream.
pub fn unique_namespace(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{}{}{nanos}",
        test.replace(['_', '-'], ""),
        std::process::id()
    )
}

/// A small async client for checks against the engine.
pub struct Engine {
    pub url: String,
    /// True for the OpenSearch node.
    pub opensearch: bool,
    http: reqwest::Client,
}

impl Engine {
    /// The Elasticsearch node.
    pub fn new() -> Engine {
        Engine {
            url: es_url(),
            opensearch: false,
            http: reqwest::Client::new(),
        }
    }

    /// The OpenSearch node.
    pub fn opensearch() -> Engine {
        Engine {
            url: opensearch_url(),
            opensearch: true,
            http: reqwest::Client::new(),
        }
    }

    /// The field type of an open-ended object: `flattened` (Elasticsearch) or `flat_object`
    /// (OpenSearch).
    pub fn flat_type(&self) -> &'static str {
        if self.opensearch {
            "flat_object"
        } else {
            "flattened"
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}/{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn refresh(&self, target: &str) {
        self.http
            .post(format!("{}/{target}/_refresh", self.url))
            .send()
            .await
            .unwrap();
    }

    /// The number of documents in `target` (after a refresh). Panics with the status and
    /// body when the engine does not answer a count: a missing index, a failed query or an
    /// answer without `count` is never taken for zero.
    pub async fn count(&self, target: &str) -> u64 {
        match self.try_count(target).await {
            Ok(count) => count,
            Err((status, body)) => panic!("{target}/_count failed: {status} {body}"),
        }
    }

    /// Like [`Engine::count`], but a target that does not exist (404 `index_not_found_exception`,
    /// and only that) counts 0: for checks that nothing was ever written, where the data
    /// stream is not created at all.
    pub async fn count_or_zero_if_missing(&self, target: &str) -> u64 {
        match self.try_count(target).await {
            Ok(count) => count,
            Err((404, body)) if body["error"]["type"] == "index_not_found_exception" => 0,
            Err((status, body)) => panic!("{target}/_count failed: {status} {body}"),
        }
    }

    async fn try_count(&self, target: &str) -> Result<u64, (u16, Value)> {
        let response = self
            .http
            .post(format!("{}/{target}/_refresh", self.url))
            .send()
            .await
            .unwrap_or_else(|err| panic!("{target}/_refresh: {err}"));
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.json().await.unwrap_or(Value::Null);
            return Err((status, body));
        }
        let response = self
            .http
            .get(format!("{}/{target}/_count", self.url))
            .send()
            .await
            .unwrap_or_else(|err| panic!("{target}/_count: {err}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        match body["count"].as_u64() {
            Some(count) if status == 200 => Ok(count),
            _ => Err((status, body)),
        }
    }

    /// Every document of `target` as (`_id`, `_source`). Panics when the search fails (a
    /// missing index included) or would not return them all.
    pub async fn all_documents(&self, target: &str) -> Vec<(String, Value)> {
        self.refresh(target).await;
        let response = self
            .http
            .post(format!("{}/{target}/_search", self.url))
            .json(&serde_json::json!({"size": 10000, "query": {"match_all": {}}}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let hits = match body["hits"]["hits"].as_array() {
            Some(hits) if status == 200 => hits.clone(),
            _ => panic!("{target}/_search failed: {status} {body}"),
        };
        // Never a silently truncated list.
        assert!(
            body["hits"]["total"]["value"].as_u64() == Some(hits.len() as u64),
            "{target}: more documents than one search returns: {}",
            body["hits"]["total"]
        );
        hits.into_iter()
            .map(|hit| {
                (
                    hit["_id"].as_str().unwrap().to_owned(),
                    hit["_source"].clone(),
                )
            })
            .collect()
    }
}

/// The AWS SDK configuration for moto.
pub async fn moto_config() -> aws_config::SdkConfig {
    let vars = env();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&vars["AWS_ENDPOINT_URL"])
        .region(aws_config::Region::new(vars["AWS_REGION"].clone()))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            &vars["AWS_ACCESS_KEY_ID"],
            &vars["AWS_SECRET_ACCESS_KEY"],
            None,
            None,
            "tests",
        ))
        .load()
        .await
}

/// An S3 client against moto.
pub async fn s3() -> aws_sdk_s3::Client {
    let config = moto_config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// Creates a bucket (fine if it exists).
pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    let _ = s3.create_bucket().bucket(bucket).send().await;
}

/// Every object under `prefix`, as text.
pub async fn objects(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<(String, String)> {
    object_bytes(s3, bucket, prefix)
        .await
        .into_iter()
        .map(|(key, bytes)| (key, String::from_utf8_lossy(&bytes).into_owned()))
        .collect()
}

/// Every object under `prefix`, as bytes.
pub async fn object_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Vec<(String, Vec<u8>)> {
    let listing = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for object in listing.contents() {
        let key = object.key().unwrap().to_owned();
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        let bytes = body.body.collect().await.unwrap().into_bytes();
        out.push((key, bytes.to_vec()));
    }
    out
}

/// A Secrets Manager client against moto.
pub async fn secrets() -> aws_sdk_secretsmanager::Client {
    let config = moto_config().await;
    aws_sdk_secretsmanager::Client::new(&config)
}

/// Creates a secret and returns its ARN.
pub async fn create_secret(name: &str, value: &str) -> String {
    secrets()
        .await
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create secret in moto")
        .arn()
        .expect("secret ARN")
        .to_owned()
}

/// Points this process's AWS SDK at moto (the library reads the standard variables).
pub fn export_aws_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (key, value) in aws_env() {
            // SAFETY: called once, before the test creates any AWS client; every test
            // process sets the same values.
            unsafe { std::env::set_var(key, value) };
        }
    });
}

/// Creates a DynamoDB table with partition key `pk` (fine if it exists).
pub async fn create_table(name: &str) {
    export_aws_env();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let _ = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await;
}

/// Uploads an object.
pub async fn put_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .expect("put object in moto");
}

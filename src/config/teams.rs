//! The team list of a Cursor Organization (docs/teams.md): `CURSOR_TEAMS` (a JSON array,
//! inline) or `CURSOR_TEAMS_SECRET_ARN` (a secret holding it). Each team has a name, a key
//! (`api_key` or `api_key_secret_arn`) and optionally a namespace, tags, an event filter
//! and the `team_id` its S3 records carry. Without a list, the single-team settings
//! (`CURSOR_API_KEY…`, `DATA_STREAM_NAMESPACE`, `TAGS`, `CURSOR_EVENT_TYPES`) are one team.
//!
//! Errors name the team and the field, never a value (the list may hold keys).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use serde_json::{Map, Value};

use super::parse::CommaList;
use super::secret::Secret;
use super::validate::parse_namespace;
use super::{ConfigError, CursorArgs};
use crate::admin_api::ApiKeySource;
use crate::aws::secrets::{parse_json, secret_string};
use crate::shipping::{ShipFields, TeamRoutes};

/// The fields a team may have.
const FIELDS: &[&str] = &[
    "name",
    "api_key",
    "api_key_secret_arn",
    "namespace",
    "tags",
    "event_types",
    "team_id",
];

/// Where the team list comes from (docs/teams.md).
#[derive(Debug, Clone, Default, Args)]
pub struct TeamsArgs {
    /// The teams of a Cursor Organization, as a JSON array (docs/teams.md); replaces the
    /// single-team key settings.
    #[arg(long, env = "CURSOR_TEAMS", hide_env_values = true)]
    pub cursor_teams: Option<Secret>,
    /// A Secrets Manager secret holding the CURSOR_TEAMS JSON.
    #[arg(long, env = "CURSOR_TEAMS_SECRET_ARN")]
    pub cursor_teams_secret_arn: Option<String>,
}

/// Where a team's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamKey {
    /// `api_key` (local use).
    Plain(Secret),
    /// `api_key_secret_arn`.
    Secret(String),
}

/// One team of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// Names the team in logs, metrics (`Team`), checkpoints and `--team`.
    pub name: String,
    /// Its Admin API key.
    pub key: TeamKey,
    /// `data_stream.namespace` of its documents (else `DATA_STREAM_NAMESPACE`).
    pub namespace: Option<String>,
    /// Tags its documents get after `TAGS`.
    pub tags: Vec<String>,
    /// Its event filter, canonical (sorted, comma-separated; else `CURSOR_EVENT_TYPES`).
    pub event_types: Option<String>,
    /// The `team_id` its S3 records carry, which routes them to its namespace and tags.
    pub team_id: Option<String>,
}

impl Team {
    /// Where its key comes from.
    pub fn key_source(&self, aws: &aws_config::SdkConfig) -> ApiKeySource {
        match &self.key {
            TeamKey::Plain(key) => ApiKeySource::Plain(key.expose().to_owned()),
            TeamKey::Secret(arn) => ApiKeySource::Secret {
                client: crate::aws::secrets_client(aws),
                arn: arn.clone(),
            },
        }
    }

    /// Its documents' namespace (its own, else the deployment's) and tags (the
    /// deployment's, then its own).
    pub fn ship_fields(&self, home: &ShipFields) -> ShipFields {
        let mut tags = home.tags.clone();
        for tag in &self.tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        ShipFields {
            namespace: self
                .namespace
                .clone()
                .unwrap_or_else(|| home.namespace.clone()),
            tags,
        }
    }

    /// Its checkpoint and lease name in a shared table: the team and its event filter.
    pub fn poller_name(&self, cursor: &CursorArgs) -> String {
        let types = self.event_types.clone().or_else(|| cursor.event_types());
        format!("team#{}#{}", self.name, types.as_deref().unwrap_or("all"))
    }
}

/// A team's checkpoint file beside `file`: `<stem>.<team>.<extension>`.
pub fn team_file(file: &Path, team: &str) -> PathBuf {
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    let name = match file.extension() {
        Some(ext) => format!("{stem}.{team}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{team}"),
    };
    file.with_file_name(name)
}

/// Where S3 records of listed `team_id`s go: each team's namespace and tags.
pub fn routes(teams: &[Team], home: &ShipFields) -> TeamRoutes {
    let by_team_id = teams
        .iter()
        .filter_map(|team| {
            let id = team.team_id.clone()?;
            Some((id, Arc::new(team.ship_fields(home))))
        })
        .collect::<HashMap<_, _>>();
    TeamRoutes {
        fixed: None,
        by_team_id: Arc::new(by_team_id),
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

impl TeamsArgs {
    /// True when a team list is configured.
    pub fn is_set(&self) -> bool {
        non_empty(self.cursor_teams.as_ref().map(Secret::expose)).is_some()
            || non_empty(self.cursor_teams_secret_arn.as_deref()).is_some()
    }

    /// The team list, read (from its secret, if so) and validated; `None` without one.
    pub async fn load(
        &self,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<Option<Vec<Team>>, ConfigError> {
        let inline = non_empty(self.cursor_teams.as_ref().map(Secret::expose));
        let arn = non_empty(self.cursor_teams_secret_arn.as_deref());
        let text = match (inline, arn) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "set CURSOR_TEAMS or CURSOR_TEAMS_SECRET_ARN, not both",
                ));
            }
            (Some(text), None) => text.to_owned(),
            (None, Some(arn)) => {
                let aws = super::build::aws_or_load(aws).await;
                let client = crate::aws::secrets_client(&aws);
                secret_string(&client, arn)
                    .await
                    .map_err(|err| invalid(format!("CURSOR_TEAMS_SECRET_ARN: {err}")))?
            }
        };
        parse_teams(&text).map(Some)
    }
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(message.into())
}

/// Parses and validates the team list's JSON.
pub fn parse_teams(text: &str) -> Result<Vec<Team>, ConfigError> {
    let value: Value = parse_json(text).map_err(|err| invalid(format!("CURSOR_TEAMS: {err}")))?;
    let Value::Array(items) = value else {
        return Err(invalid(
            "CURSOR_TEAMS must be a JSON array of teams: [{\"name\": …, \"api_key_secret_arn\": …}, …]",
        ));
    };
    if items.is_empty() {
        return Err(invalid("CURSOR_TEAMS lists no team"));
    }
    let mut teams = Vec::with_capacity(items.len());
    let (mut names, mut ids) = (HashSet::new(), HashSet::new());
    for (index, item) in items.iter().enumerate() {
        let team = parse_team(index, item)
            .map_err(|problem| invalid(format!("CURSOR_TEAMS: {problem}")))?;
        if !names.insert(team.name.clone()) {
            return Err(invalid(format!(
                "CURSOR_TEAMS: the name {:?} is used twice",
                team.name
            )));
        }
        if let Some(id) = &team.team_id
            && !ids.insert(id.clone())
        {
            return Err(invalid(format!(
                "CURSOR_TEAMS: team_id {id:?} is given to two teams"
            )));
        }
        teams.push(team);
    }
    Ok(teams)
}

/// One team; the error names it (by name when it has one, else by position).
fn parse_team(index: usize, item: &Value) -> Result<Team, String> {
    let position = format!("team #{}", index + 1);
    let Value::Object(fields) = item else {
        return Err(format!("{position} is not a JSON object"));
    };
    let name = match fields.get("name") {
        Some(Value::String(name)) => name.trim().to_owned(),
        Some(_) => return Err(format!("{position}: \"name\" must be a string")),
        None => return Err(format!("{position} has no \"name\"")),
    };
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(format!(
            "{position}: \"name\" must be 1 to 64 letters, digits, '-', '_' or '.'"
        ));
    }
    let at = format!("team {name:?}");
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "{at}: unknown field {unknown:?} (known: {})",
            FIELDS.join(", ")
        ));
    }
    let text = |field: &str| -> Result<Option<String>, String> {
        match fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(non_empty(Some(s)).map(str::to_owned)),
            Some(_) => Err(format!("{at}: \"{field}\" must be a string")),
        }
    };
    let key = match (text("api_key")?, text("api_key_secret_arn")?) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "{at}: give \"api_key\" or \"api_key_secret_arn\", not both"
            ));
        }
        (Some(key), None) => TeamKey::Plain(Secret::from(key)),
        (None, Some(arn)) => TeamKey::Secret(arn),
        (None, None) => {
            return Err(format!(
                "{at} has no key: give \"api_key_secret_arn\" (or \"api_key\" for local use)"
            ));
        }
    };
    let namespace = text("namespace")?
        .map(|ns| parse_namespace(&ns).map_err(|err| format!("{at}: namespace: {err}")))
        .transpose()?;
    let team_id = match fields.get("team_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => non_empty(Some(id)).map(str::to_owned),
        Some(Value::Number(id)) => Some(id.to_string()),
        Some(_) => return Err(format!("{at}: \"team_id\" must be a string or a number")),
    };
    Ok(Team {
        tags: strings(fields, "tags", &at)?,
        event_types: CommaList(strings(fields, "event_types", &at)?).canonical(),
        name,
        key,
        namespace,
        team_id,
    })
}

/// An array of strings (absent: empty), blanks dropped.
fn strings(fields: &Map<String, Value>, field: &str, at: &str) -> Result<Vec<String>, String> {
    match fields.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.trim().to_owned()),
                _ => Err(format!("{at}: \"{field}\" must be an array of strings")),
            })
            .filter(|item| item.as_ref().map_or(true, |s| !s.is_empty()))
            .collect(),
        Some(_) => Err(format!("{at}: \"{field}\" must be an array of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> String {
        parse_teams(text).unwrap_err().to_string()
    }

    #[test]
    fn a_full_list_parses() {
        let teams = parse_teams(
            r#"[{"name": "eng", "api_key_secret_arn": "arn:aws:secretsmanager:eu-west-1:1:secret:eng",
                 "namespace": "eng", "tags": ["cursor-eng", " "], "event_types": ["login", "add_user", "login"],
                 "team_id": 15767141},
                {"name": "ops", "api_key": "key_ops"}]"#,
        )
        .unwrap();
        assert_eq!(teams.len(), 2);
        assert_eq!(teams[0].name, "eng");
        assert_eq!(
            teams[0].key,
            TeamKey::Secret("arn:aws:secretsmanager:eu-west-1:1:secret:eng".into())
        );
        assert_eq!(teams[0].namespace.as_deref(), Some("eng"));
        assert_eq!(teams[0].tags, vec!["cursor-eng".to_owned()]);
        assert_eq!(teams[0].event_types.as_deref(), Some("add_user,login"));
        assert_eq!(teams[0].team_id.as_deref(), Some("15767141"));
        assert_eq!(
            teams[1].key,
            TeamKey::Plain(Secret::from("key_ops".to_owned()))
        );
        assert_eq!(teams[1].namespace, None);
        assert_eq!(teams[1].event_types, None);
    }

    #[test]
    fn mistakes_are_named_without_values() {
        assert!(message("{}").contains("must be a JSON array"));
        assert!(message("[]").contains("lists no team"));
        assert!(message(r#"[{"api_key": "k"}]"#).contains("team #1 has no \"name\""));
        assert!(message(r#"[{"name": "a b", "api_key": "k"}]"#).contains("letters, digits"));
        assert!(message(r#"[{"name": "eng"}]"#).contains("team \"eng\" has no key"));
        let both =
            message(r#"[{"name": "eng", "api_key": "sekrit", "api_key_secret_arn": "arn"}]"#);
        assert!(
            both.contains("not both") && !both.contains("sekrit"),
            "{both}"
        );
        let unknown = message(r#"[{"name": "eng", "apikey": "sekrit"}]"#);
        assert!(unknown.contains("unknown field \"apikey\"") && !unknown.contains("sekrit"));
        let typed = message(r#"[{"name": "eng", "api_key": 12345678}]"#);
        assert!(
            typed.contains("must be a string") && !typed.contains("12345678"),
            "{typed}"
        );
        assert!(
            message(r#"[{"name": "eng", "api_key": "k", "namespace": "Eng"}]"#)
                .contains("lowercase")
        );
        assert!(
            message(r#"[{"name": "eng", "api_key": "k", "tags": "x"}]"#)
                .contains("array of strings")
        );
        let twice = r#"[{"name": "eng", "api_key": "k"}, {"name": "eng", "api_key": "j"}]"#;
        assert!(message(twice).contains("used twice"));
        let ids = r#"[{"name": "a", "api_key": "k", "team_id": "1"}, {"name": "b", "api_key": "j", "team_id": 1}]"#;
        assert!(message(ids).contains("two teams"));
        let broken = message(r#"[{"name": "eng", "api_key": "sekrit""#);
        assert!(
            broken.contains("truncated JSON") && !broken.contains("sekrit"),
            "{broken}"
        );
    }

    #[test]
    fn checkpoint_names_keep_teams_apart() {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            cursor: CursorArgs,
        }
        let cursor = Wrapper::try_parse_from(["poll", "--event-types", "logout"])
            .unwrap()
            .cursor;
        let teams = parse_teams(
            r#"[{"name": "eng", "api_key": "k", "event_types": ["login"]}, {"name": "ops", "api_key": "j"}]"#,
        )
        .unwrap();
        assert_eq!(teams[0].poller_name(&cursor), "team#eng#login");
        assert_eq!(teams[1].poller_name(&cursor), "team#ops#logout");
    }
}

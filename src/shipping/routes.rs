//! Which namespace and tags a document gets (docs/teams.md): the deployment's
//! (`DATA_STREAM_NAMESPACE`, `TAGS`), an Admin API team's for everything its poller reads,
//! or, for S3 records, the team whose `team_id` the record carries. A document routed
//! away from the output's data stream names its own (`_index` in its bulk action).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::fields::ShipFields;
use crate::normalize::EcsDocument;

/// The fields of documents that are not the deployment's.
#[derive(Debug, Clone, Default)]
pub struct TeamRoutes {
    /// Every document's fields (an Admin API team's poller): no routing by `team_id`.
    pub fixed: Option<Arc<ShipFields>>,
    /// Records whose `team_id` is listed get that team's fields.
    pub by_team_id: Arc<HashMap<String, Arc<ShipFields>>>,
}

impl TeamRoutes {
    /// True when every document gets the deployment's fields.
    pub fn is_empty(&self) -> bool {
        self.fixed.is_none() && self.by_team_id.is_empty()
    }

    /// The fields for `document`, when they are not `home`'s.
    pub(crate) fn fields_for(&self, document: &EcsDocument) -> Option<&Arc<ShipFields>> {
        if let Some(fixed) = &self.fixed {
            return Some(fixed);
        }
        if self.by_team_id.is_empty() {
            return None;
        }
        let team_id = match document.cursor.as_ref()?.audit.get("team_id")? {
            Value::String(id) => id.trim().to_owned(),
            Value::Number(id) => id.to_string(),
            _ => return None,
        };
        self.by_team_id.get(&team_id)
    }
}

/// The fields a document gets and the data stream it names when it is not `home`'s.
pub(crate) fn route<'a>(
    routes: &'a TeamRoutes,
    home: &'a ShipFields,
    document: &EcsDocument,
) -> (&'a ShipFields, Option<String>) {
    match routes.fields_for(document) {
        Some(fields) if fields.namespace != home.namespace => {
            (fields.as_ref(), Some(fields.data_stream()))
        }
        Some(fields) => (fields.as_ref(), None),
        None => (home, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{GeoIp, NormalizeOptions, Normalizer};

    fn document(line: &str) -> EcsDocument {
        Normalizer::new(NormalizeOptions::default(), GeoIp::default())
            .normalize_line(line.as_bytes())
            .unwrap()
            .document
    }

    fn fields(namespace: &str, tags: &[&str]) -> Arc<ShipFields> {
        Arc::new(ShipFields {
            namespace: namespace.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        })
    }

    #[test]
    fn records_go_to_the_team_their_team_id_names() {
        let home = fields("default", &["cursor-audit"]);
        let routes = TeamRoutes {
            fixed: None,
            by_team_id: Arc::new(HashMap::from([
                ("15767141".to_owned(), fields("eng", &["cursor-eng"])),
                ("42".to_owned(), fields("default", &["cursor-ops"])),
            ])),
        };
        let eng = document(
            r#"{"metadata":{"id":"a","timestamp":"2026-05-04T10:00:00Z"},"team_id":"15767141","logout":{}}"#,
        );
        let (chosen, index) = route(&routes, &home, &eng);
        assert_eq!(chosen.namespace, "eng");
        assert_eq!(index.as_deref(), Some("logs-cursor.audit-eng"));
        // A number routes like its digits; the same namespace names no index.
        let ops = document(
            r#"{"metadata":{"id":"b","timestamp":"2026-05-04T10:00:00Z"},"team_id":42,"logout":{}}"#,
        );
        let (chosen, index) = route(&routes, &home, &ops);
        assert_eq!(
            (chosen.tags.as_slice(), index),
            (&["cursor-ops".to_owned()][..], None)
        );
        // Unlisted or absent team ids stay home.
        let other = document(
            r#"{"metadata":{"id":"c","timestamp":"2026-05-04T10:00:00Z"},"team_id":"7","logout":{}}"#,
        );
        assert_eq!(route(&routes, &home, &other).0.namespace, "default");
        assert_eq!(route(&routes, &home, &other).0.tags, home.tags);
        let none = document(
            r#"{"event_id":"d","event_type":"logout","timestamp":"2026-05-04T10:00:00Z"}"#,
        );
        assert_eq!(route(&routes, &home, &none).1, None);
        // A team's poller: every document is the team's, whatever it carries.
        let fixed = TeamRoutes {
            fixed: Some(fields("ops", &[])),
            ..routes
        };
        assert_eq!(
            route(&fixed, &home, &eng).1.as_deref(),
            Some("logs-cursor.audit-ops")
        );
    }
}

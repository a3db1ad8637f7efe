//! `event.category`, `event.type` and `event.outcome` from `event.action` (docs/normalization.md §3).

/// One row of the categorization table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Category {
    /// `event.category`.
    pub category: &'static [&'static str],
    /// `event.type`.
    pub kind: &'static [&'static str],
    /// `None` where the outcome is derived from the payload (§5) or not known.
    pub outcome: Option<&'static str>,
}

const fn row(
    category: &'static [&'static str],
    kind: &'static [&'static str],
    outcome: Option<&'static str>,
) -> Category {
    Category {
        category,
        kind,
        outcome,
    }
}

const SUCCESS: Option<&str> = Some("success");
const IAM: &[&str] = &["iam"];
const CONFIGURATION: &[&str] = &["configuration"];
const IAM_CONFIGURATION: &[&str] = &["iam", "configuration"];
const CHANGE: &[&str] = &["change"];
const ADMIN: &[&str] = &["admin"];

/// The row for actions starting with `bugbot_` that have no row of their own.
pub(super) const BUGBOT: Category = row(CONFIGURATION, CHANGE, SUCCESS);
/// The row for every other action.
pub(super) const DEFAULT: Category = row(CONFIGURATION, &["info"], Some("unknown"));

/// Looks up `action` in the table; falls back to the bugbot row, then the default row.
pub fn categorize(action: &str) -> Category {
    match action {
        "login" => row(&["authentication"], &["start"], None),
        "logout" => row(&["authentication"], &["end"], SUCCESS),
        "add_user" => row(IAM, &["user", "creation"], SUCCESS),
        "remove_user" => row(IAM, &["user", "deletion"], SUCCESS),
        "update_user_role" => row(IAM, &["user", "change"], SUCCESS),
        "team_settings" => row(CONFIGURATION, CHANGE, SUCCESS),
        "team_api_key" | "user_api_key" | "organization_api_key" | "api_key" => {
            row(IAM_CONFIGURATION, ADMIN, SUCCESS)
        }
        "service_account" => row(IAM, ADMIN, SUCCESS),
        "invite_link" | "invite_email_sent" => row(IAM, &["user", "admin"], SUCCESS),
        "cloud_agent_secret" => row(IAM_CONFIGURATION, ADMIN, SUCCESS),
        "cloud_agent_user_settings"
        | "protected_git_scope"
        | "privacy_mode"
        | "mcp_server_config"
        | "user_spend_limit"
        | "team_rule"
        | "team_repo"
        | "team_hook"
        | "team_command" => row(CONFIGURATION, CHANGE, SUCCESS),
        "protected_git_scope_access_check" => row(IAM, &["info"], None),
        "create_directory_group" => row(IAM, &["group", "creation"], SUCCESS),
        "delete_directory_group" => row(IAM, &["group", "deletion"], SUCCESS),
        "update_directory_group" | "update_directory_group_permissions" => {
            row(IAM, &["group", "change"], SUCCESS)
        }
        "add_user_to_directory_group" | "remove_user_from_directory_group" => {
            row(IAM, &["user", "change"], SUCCESS)
        }
        other if other.starts_with("bugbot_") => BUGBOT,
        _ => DEFAULT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_rows() {
        let login = categorize("login");
        assert_eq!(login.category, ["authentication"]);
        assert_eq!(login.kind, ["start"]);
        assert_eq!(login.outcome, None);
        assert_eq!(
            categorize("team_api_key").category,
            ["iam", "configuration"]
        );
        assert_eq!(categorize("invite_link").kind, ["user", "admin"]);
        assert_eq!(categorize("protected_git_scope_access_check").outcome, None);
    }

    #[test]
    fn bugbot_prefix_and_default() {
        assert_eq!(categorize("bugbot_repo_settings"), BUGBOT);
        assert_eq!(categorize("bugbot_"), BUGBOT);
        assert_eq!(categorize("something_new"), DEFAULT);
        assert_eq!(categorize("Bugbot_x"), DEFAULT);
    }
}

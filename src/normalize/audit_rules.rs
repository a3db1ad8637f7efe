//! The `cursor.audit.*` side of docs/normalization.md §4: the §4.11 table of which
//! `event_data` keys move to which field and when, and the fields mapped as `long` or
//! `boolean`. Applied by `payload.rs`.

use std::collections::HashMap;
use std::sync::LazyLock;

/// `cursor.audit.*` fields mapped as `long`; their values are coerced to JSON integers.
pub const LONG_FIELDS: &[&str] = &[
    "expires_in_seconds",
    "old_limit_cents",
    "new_limit_cents",
    "spend_limit_dollars",
    "repos_updated",
];

/// `cursor.audit.*` fields mapped as `boolean`.
pub const BOOLEAN_FIELDS: &[&str] = &[
    "ghost_mode",
    "is_active",
    "is_required",
    "bugbot_enabled",
    "enabled",
    "repo_scope_enabled",
    "success",
];

/// When a rule of §4.11 applies.
pub(super) enum When {
    /// Always (a plain move, or an "if unset" alias: both only fill an unset target).
    Always,
    /// Only for these actions.
    Actions(&'static [&'static str]),
    /// Unless the value equals this sentinel; the key is dropped from `event_data` either way.
    NotSentinel(&'static str),
}

/// One rule of §4.11: move `event_data.<from>` to `cursor.audit.<to>`.
pub(super) struct Rule {
    /// The key in `event_data`.
    pub(super) from: &'static str,
    /// The field under `cursor.audit`.
    pub(super) to: &'static str,
    /// When it applies.
    pub(super) when: When,
}

const fn plain(name: &'static str) -> Rule {
    Rule {
        from: name,
        to: name,
        when: When::Always,
    }
}

const fn alias(from: &'static str, to: &'static str) -> Rule {
    Rule {
        from,
        to,
        when: When::Always,
    }
}

const fn for_actions(
    from: &'static str,
    to: &'static str,
    actions: &'static [&'static str],
) -> Rule {
    Rule {
        from,
        to,
        when: When::Actions(actions),
    }
}

const fn unless(name: &'static str, sentinel: &'static str) -> Rule {
    Rule {
        from: name,
        to: name,
        when: When::NotSentinel(sentinel),
    }
}

/// §4.11 in the integration's order (the order matters only for the "if unset" aliases).
pub(super) const CURSOR_AUDIT_RULES: &[Rule] = &[
    plain("action"),
    alias("method", "source"),
    alias("source", "source"),
    plain("setting_name"),
    alias("setting", "setting_name"),
    plain("old_value"),
    plain("new_value"),
    alias("previous", "old_value"),
    alias("new", "new_value"),
    alias("value", "new_value"),
    plain("old_role"),
    plain("new_role"),
    alias("previous_role", "old_role"),
    plain("role"),
    plain("rule_id"),
    plain("rule_name"),
    plain("command_id"),
    plain("command_name"),
    for_actions("name", "rule_name", &["team_rule", "bugbot_team_rule"]),
    for_actions("name", "command_name", &["team_command"]),
    for_actions(
        "name",
        "directory_group_name",
        &["create_directory_group", "update_directory_group"],
    ),
    plain("hook_id"),
    plain("hook_step"),
    plain("hook_type"),
    plain("script_name"),
    plain("script_content"),
    plain("operating_systems"),
    plain("is_active"),
    plain("is_required"),
    plain("prompt_content"),
    plain("prompt_model"),
    plain("installation_id"),
    plain("github_app_type"),
    plain("github_hostname"),
    plain("repo_url"),
    plain("repo_node_id"),
    plain("repo_name"),
    plain("repos_updated"),
    alias("repo_count", "repos_updated"),
    plain("bugbot_enabled"),
    plain("operation"),
    plain("provider"),
    plain("enabled"),
    plain("secret_name"),
    plain("scope"),
    plain("server_name"),
    plain("server_type"),
    plain("scoped_to_repos"),
    plain("service_account_id"),
    plain("service_account_name"),
    plain("api_key_id"),
    plain("api_key_name"),
    alias("key_id", "api_key_id"),
    plain("repo_scope"),
    plain("repo_scope_enabled"),
    plain("organization_id"),
    plain("scope_id"),
    plain("git_org_owner"),
    plain("git_provider"),
    unless("git_enterprise_uuid", ""),
    plain("user_id"),
    plain("reason"),
    plain("result"),
    plain("success"),
    plain("login_type"),
    unless("invite_id", ""),
    unless("invited_by_email", ""),
    unless("invited_by_user_id", "0"),
    plain("creator_email"),
    plain("creator_user_id"),
    plain("expires_in_seconds"),
    plain("sender_email"),
    plain("sender_user_id"),
    plain("personal_message"),
    plain("old_limit_cents"),
    plain("new_limit_cents"),
    alias("spendLimitDollars", "spend_limit_dollars"),
    plain("old_privacy_mode"),
    plain("new_privacy_mode"),
    plain("directory_group_name"),
    plain("permissions"),
    plain("metadata"),
];

/// Indices into [`CURSOR_AUDIT_RULES`] by source key, in table order.
pub(super) static RULES_BY_SOURCE: LazyLock<HashMap<&'static str, Vec<usize>>> =
    LazyLock::new(|| {
        let mut by_source: HashMap<&'static str, Vec<usize>> = HashMap::new();
        for (index, rule) in CURSOR_AUDIT_RULES.iter().enumerate() {
            by_source.entry(rule.from).or_default().push(index);
        }
        by_source
    });

//! docs/configuration.md against the code and the template, in both directions: every
//! setting (environment variable) of every command and of the functions, with its flag,
//! default and numeric range; every flag a command has without a variable; and every
//! parameter of template.yaml with its default, allowed values or range and the variables
//! it sets. A setting, flag or parameter added, removed or changed on one side only fails
//! here, naming it. Adding a setting means adding its row to docs/configuration.md.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;
use cursor_audit_forwarder::config::LambdaArgs;

const DOC: &str = include_str!("../docs/configuration.md");
const TEMPLATE: &str = include_str!("../template.yaml");

/// What the code says about one environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting {
    flag: String,
    default: Option<String>,
    /// `(min, max)` of a numeric setting (seconds for durations), as the value parser
    /// enforces it.
    range: Option<(String, String)>,
}

/// The range a value parser enforces, read from its message for a value above every range
/// (`1000000d`: not a whole number, and a duration past every maximum).
fn range_of(command: &clap::Command, arg: &clap::Arg) -> Option<(String, String)> {
    let long = arg.get_long()?;
    let err = command
        .clone()
        .try_get_matches_from([command.get_name().to_owned(), format!("--{long}=1000000d")])
        .err()?
        .to_string();
    let bounds = |after: &str, separator: &str, before: &str| {
        let rest = &err[err.find(after)? + after.len()..];
        let (min, rest) = rest.split_once(separator)?;
        let max = rest.split(before).next()?;
        Some((min.trim().to_owned(), max.trim().to_owned()))
    };
    // `between` (config/validate.rs) and the bounded durations say so in these words.
    bounds("must be a whole number from ", " to ", "\n")
        .or_else(|| bounds("must be between ", " and ", " seconds"))
}

/// Every setting of the command line and of the functions, and every flag without a
/// variable (per command).
fn code() -> (BTreeMap<String, Setting>, BTreeSet<(String, String)>) {
    let mut settings: BTreeMap<String, Setting> = BTreeMap::new();
    let mut flags = BTreeSet::new();
    let cli = cursor_audit_forwarder::cli::command();
    let mut commands: Vec<(String, clap::Command)> = cli
        .get_subcommands()
        .map(|c| (c.get_name().to_owned(), c.clone()))
        .collect();
    commands.push(("lambda".to_owned(), LambdaArgs::command()));
    for (name, mut command) in commands {
        command.build();
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else {
                continue; // the positional SOURCE of `ship`, help, version
            };
            if matches!(long, "help" | "version") {
                continue;
            }
            let flag = format!("--{long}");
            let Some(env) = arg.get_env() else {
                flags.insert((name.clone(), flag));
                continue;
            };
            let env = env.to_string_lossy().into_owned();
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let setting = Setting {
                flag,
                default: (!defaults.is_empty()).then(|| defaults.join(",")),
                range: range_of(&command, arg),
            };
            if let Some(seen) = settings.get(&env) {
                assert_eq!(
                    seen, &setting,
                    "{env} differs between commands (in `{name}`)"
                );
            }
            settings.insert(env, setting);
        }
    }
    (settings, flags)
}

/// The cells of a Markdown table row (`\|` inside a cell is not a separator).
fn cells(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut chars = line.trim().trim_start_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                cells.last_mut().unwrap().push('|');
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    if cells.last().is_some_and(|c| c.trim().is_empty()) {
        cells.pop();
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// The code spans of a cell, in order.
fn spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The rows of the table under the heading `## {heading}` (data rows only).
fn table(heading: &str) -> Vec<Vec<String>> {
    let start = DOC
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("docs/configuration.md has no \"## {heading}\""));
    let section = &DOC[start + heading.len() + 5..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .skip(1)
        .map(cells)
        .collect()
}

/// Seconds of a duration as the documentation writes it (`90s`, `5m`, `1h30m`, `7d`).
fn seconds(text: &str) -> Option<u64> {
    let mut total = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total += number.parse::<u64>().ok()? * unit;
        number.clear();
    }
    if number.is_empty() {
        Some(total)
    } else {
        number.parse::<u64>().ok().map(|n| total + n)
    }
}

/// A documented range `min–max` as numbers (durations in seconds), for comparison.
fn documented_range(cell: &str) -> Option<(String, String)> {
    let span = spans(cell).into_iter().next()?;
    let (min, max) = span.split_once('–')?;
    let norm = |v: &str| match v.parse::<u64>() {
        Ok(n) => Some(n.to_string()),
        Err(_) => seconds(v).map(|s| s.to_string()),
    };
    Some((norm(min)?, norm(max)?))
}

/// What a cell documents: `None` for `–`, else its first code span.
fn documented(cell: &str) -> Option<String> {
    spans(cell).into_iter().next()
}

fn report(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "docs/configuration.md disagrees with the code or template.yaml:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn every_setting_with_its_flag_default_and_range_is_documented_as_the_code_has_it() {
    let (settings, _) = code();
    // The ranges are read from the value parsers' messages: make sure that still works.
    assert_eq!(
        settings["CURSOR_PAGE_SIZE"].range,
        Some(("1".into(), "500".into()))
    );
    assert_eq!(
        settings["CURSOR_OVERLAP"].range,
        Some(("0".into(), "604800".into()))
    );
    let ranged = settings.values().filter(|s| s.range.is_some()).count();
    assert!(ranged >= 20, "only {ranged} settings with a range");
    let mut problems = Vec::new();
    let mut documented_names = BTreeSet::new();
    for row in table("Settings") {
        let [variable, flag, default, allowed, ..] = &row[..] else {
            problems.push(format!("a row with too few cells: {row:?}"));
            continue;
        };
        let Some(name) = documented(variable) else {
            problems.push(format!("a row without a variable: {row:?}"));
            continue;
        };
        documented_names.insert(name.clone());
        let Some(setting) = settings.get(&name) else {
            problems.push(format!("{name} is documented but no command has it"));
            continue;
        };
        if documented(flag).as_deref() != Some(setting.flag.as_str()) {
            problems.push(format!(
                "{name}: flag documented as {flag:?}, the code has {}",
                setting.flag
            ));
        }
        if documented(default) != setting.default {
            problems.push(format!(
                "{name}: default documented as {default:?}, the code has {:?}",
                setting.default
            ));
        }
        let range = documented_range(allowed);
        if range != setting.range {
            problems.push(format!(
                "{name}: range documented as {range:?} (from {allowed:?}), the code enforces {:?}",
                setting.range
            ));
        }
    }
    for name in settings.keys() {
        if !documented_names.contains(name) {
            problems.push(format!(
                "{name} ({}) is a setting of the code but has no row in docs/configuration.md",
                settings[name].flag
            ));
        }
    }
    report(&problems);
}

#[test]
fn every_flag_without_a_variable_is_documented_for_its_command() {
    let (_, flags) = code();
    let documented: BTreeSet<(String, String)> = table("Flags without a variable")
        .iter()
        .filter_map(|row| Some((documented(row.first()?)?, documented(row.get(1)?)?)))
        .collect();
    let mut problems = Vec::new();
    for (command, flag) in flags.difference(&documented) {
        problems.push(format!("`{command} {flag}` is in the code, not in the doc"));
    }
    for (command, flag) in documented.difference(&flags) {
        problems.push(format!("`{command} {flag}` is documented, not in the code"));
    }
    report(&problems);
}

/// One parameter of template.yaml.
#[derive(Debug, Default)]
struct Parameter {
    default: Option<String>,
    allowed: Vec<String>,
    min: Option<String>,
    max: Option<String>,
    /// The function variables set from it (`VAR: … !Ref Parameter …`).
    sets: BTreeSet<String>,
}

fn unquote(text: &str) -> String {
    text.trim().trim_matches('"').to_owned()
}

/// The `Parameters` section of template.yaml, and the variables each one sets.
fn template_parameters() -> BTreeMap<String, Parameter> {
    let mut parameters: BTreeMap<String, Parameter> = BTreeMap::new();
    let mut current = None;
    let mut in_parameters = false;
    for line in TEMPLATE.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_parameters = line == "Parameters:";
            continue;
        }
        if !in_parameters {
            continue;
        }
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
            && !name.starts_with(' ')
        {
            current = Some(name.to_owned());
            parameters.insert(name.to_owned(), Parameter::default());
            continue;
        }
        let Some(parameter) = current.as_ref().and_then(|c| parameters.get_mut(c)) else {
            continue;
        };
        let Some((key, value)) = line.trim().split_once(": ") else {
            continue;
        };
        match key {
            "Default" if line.starts_with("    Default") => {
                parameter.default = Some(unquote(value))
            }
            "AllowedValues" => {
                parameter.allowed = value
                    .trim_matches(['[', ']'])
                    .split(',')
                    .map(unquote)
                    .collect();
            }
            "MinValue" => parameter.min = Some(unquote(value)),
            "MaxValue" => parameter.max = Some(unquote(value)),
            _ => {}
        }
    }
    // The functions' environment: `VARIABLE: … !Ref Parameter …` lines.
    for line in TEMPLATE.lines() {
        let line = line.trim();
        let Some((variable, value)) = line.split_once(": ") else {
            continue;
        };
        if !variable
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        for (name, parameter) in parameters.iter_mut() {
            if value.contains(&format!("!Ref {name},"))
                || value.contains(&format!("!Ref {name}]"))
                || value.ends_with(&format!("!Ref {name}"))
            {
                parameter.sets.insert(variable.to_owned());
            }
        }
    }
    parameters
}

#[test]
fn every_template_parameter_is_documented_with_its_default_rule_and_variables() {
    let parameters = template_parameters();
    assert!(
        parameters.len() > 40,
        "{} parameters read",
        parameters.len()
    );
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for row in table("Template parameters") {
        let [name, default, allowed, sets, ..] = &row[..] else {
            problems.push(format!("a row with too few cells: {row:?}"));
            continue;
        };
        let Some(name) = documented(name) else {
            problems.push(format!("a row without a parameter: {row:?}"));
            continue;
        };
        seen.insert(name.clone());
        let Some(parameter) = parameters.get(&name) else {
            problems.push(format!("{name} is documented but not in template.yaml"));
            continue;
        };
        // An empty default is written "empty".
        let default_doc = if default.trim() == "empty" {
            Some(String::new())
        } else {
            documented(default)
        };
        if default_doc != parameter.default {
            problems.push(format!(
                "{name}: default documented as {default:?}, the template has {:?}",
                parameter.default
            ));
        }
        let allowed_spans = spans(allowed);
        match (&parameter.min, &parameter.max) {
            (Some(min), Some(max)) => {
                if allowed_spans.first() != Some(&format!("{min}–{max}")) {
                    problems.push(format!(
                        "{name}: range documented as {allowed:?}, the template has {min}–{max}"
                    ));
                }
            }
            _ if !parameter.allowed.is_empty() => {
                if allowed_spans != parameter.allowed {
                    problems.push(format!(
                        "{name}: allowed values documented as {allowed_spans:?}, the template has {:?}",
                        parameter.allowed
                    ));
                }
            }
            _ => {
                if allowed_spans.first().is_some_and(|s| s.contains('–')) {
                    problems.push(format!(
                        "{name}: a range is documented ({allowed:?}), the template has none"
                    ));
                }
            }
        }
        let sets_doc: BTreeSet<String> = spans(sets).into_iter().collect();
        if sets_doc != parameter.sets {
            problems.push(format!(
                "{name}: documented to set {sets_doc:?}, the template sets {:?}",
                parameter.sets
            ));
        }
    }
    for name in parameters.keys() {
        if !seen.contains(name) {
            problems.push(format!(
                "{name} is a template parameter without a row in docs/configuration.md"
            ));
        }
    }
    report(&problems);
}

#[test]
fn the_parsers_of_this_test_read_what_they_should() {
    assert_eq!(seconds("1h30m"), Some(5400));
    assert_eq!(seconds("7d"), Some(604_800));
    assert_eq!(
        documented_range("`1s–7d` and text"),
        Some(("1".into(), "604800".into()))
    );
    assert_eq!(
        cells(r"| `A` | x \| y | `3` |"),
        vec!["`A`", "x | y", "`3`"]
    );
}

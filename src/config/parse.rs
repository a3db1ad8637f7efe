//! Parsers shared by the settings: positive numbers, durations and comma-separated lists.

use chrono::TimeDelta;

/// A whole number of at least 1.
pub fn parse_positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(err) => Err(err.to_string()),
    }
}

/// Parses `90s`, `5m`, `24h`, `7d`, `2w` or combinations (`1h30m`); bare numbers are seconds.
pub fn parse_duration(text: &str) -> Result<TimeDelta, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let too_long = || format!("{text:?} is too long a duration");
    if let Ok(seconds) = text.parse::<i64>() {
        return TimeDelta::try_seconds(seconds.max(0)).ok_or_else(too_long);
    }
    let mut total = TimeDelta::zero();
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "{text:?} is not a duration like 90s, 5m, 24h or 7d"
            ));
        }
        let value: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ms" => TimeDelta::try_milliseconds(value),
            "s" => TimeDelta::try_seconds(value),
            "m" => TimeDelta::try_minutes(value),
            "h" => TimeDelta::try_hours(value),
            "d" => TimeDelta::try_days(value),
            "w" => TimeDelta::try_weeks(value),
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?} (use ms, s, m, h, d or w)"
                ));
            }
        };
        total = unit
            .and_then(|unit| total.checked_add(&unit))
            .ok_or_else(too_long)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A comma-separated list: items trimmed, blanks dropped, order kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommaList(pub Vec<String>);

impl CommaList {
    /// The list sorted and without repeats, joined by commas; `None` when empty.
    pub fn canonical(&self) -> Option<String> {
        let mut items: Vec<&str> = self.0.iter().map(String::as_str).collect();
        items.sort_unstable();
        items.dedup();
        (!items.is_empty()).then(|| items.join(","))
    }
}

impl std::str::FromStr for CommaList {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(CommaList(
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), TimeDelta::hours(24));
        assert_eq!(parse_duration("5m").unwrap(), TimeDelta::minutes(5));
        assert_eq!(parse_duration("30d").unwrap(), TimeDelta::days(30));
        assert_eq!(parse_duration("90").unwrap(), TimeDelta::seconds(90));
        assert_eq!(parse_duration("1h30m").unwrap(), TimeDelta::minutes(90));
        assert_eq!(
            parse_duration("250ms").unwrap(),
            TimeDelta::milliseconds(250)
        );
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("9999999999999999w").is_err());
        assert!(parse_duration("100000000000000000d").is_err());
        assert!(parse_duration("99999999999999999999").is_err());
    }

    #[test]
    fn comma_lists() {
        let list: CommaList = " login, add_user,login,".parse().unwrap();
        assert_eq!(list.0, ["login", "add_user", "login"]);
        assert_eq!(list.canonical().as_deref(), Some("add_user,login"));
        assert_eq!(CommaList::default().canonical(), None);
        assert_eq!(parse_positive("0").unwrap_err(), "must be at least 1");
        assert_eq!(parse_positive("12").unwrap(), 12);
    }
}

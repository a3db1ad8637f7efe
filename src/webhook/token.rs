//! The bearer tokens: from `WEBHOOK_TOKEN` or a Secrets Manager secret (a token, or JSON
//! `{"tokens": ["current", "previous"]}` during a rotation), cached, read again when they
//! are older than `max_age`, or older than `recheck_after` when a presented token matches
//! none. Compared in constant time; never logged, never in an error.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::aws::secrets::{SecretError, ShapeError, parse_json, secret_string};

/// The shortest token accepted (a guessable token would make the URL open).
pub const MIN_TOKEN_CHARS: usize = 16;
/// At most this many tokens are valid at once.
pub const MAX_TOKENS: usize = 4;

/// Where the tokens come from.
#[derive(Clone)]
pub enum TokenSource {
    /// `WEBHOOK_TOKEN` (local use).
    Plain(String),
    /// `WEBHOOK_TOKEN_SECRET_ARN`.
    Secret {
        /// Secrets Manager.
        client: aws_sdk_secretsmanager::Client,
        /// The secret's ARN.
        arn: String,
    },
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Plain(_) => f.write_str("Plain(<redacted>)"),
            TokenSource::Secret { arn, .. } => f.debug_struct("Secret").field("arn", arn).finish(),
        }
    }
}

/// How long tokens are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSettings {
    /// A token matching none is checked again after a fresh read when the cache is older.
    pub recheck_after: Duration,
    /// The cache is read again before use when older.
    pub max_age: Duration,
}

/// Why there are no tokens to check against.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The secret cannot be read.
    #[error("{0}")]
    Secret(#[from] SecretError),
    /// What the secret or `WEBHOOK_TOKEN` holds is not a token list.
    #[error("{place}: {problem}")]
    Content {
        /// `WEBHOOK_TOKEN` or the secret's ARN.
        place: String,
        /// What is wrong (never the value).
        problem: TokenFormatError,
    },
}

/// What is wrong with the tokens' text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    /// JSON without a `tokens` list of strings.
    #[error("JSON without a \"tokens\" list of strings ({0})")]
    NotATokenList(ShapeError),
    /// No token.
    #[error("no token")]
    Empty,
    /// Too many tokens.
    #[error("more than {MAX_TOKENS} tokens")]
    TooMany,
    /// A token too short, or with characters a header cannot carry.
    #[error(
        "token {index} must be at least {MIN_TOKEN_CHARS} visible ASCII characters without spaces"
    )]
    Weak {
        /// Which token (from 1).
        index: usize,
    },
}

/// The tokens in a secret's text: the text itself, or the `tokens` of a JSON object.
pub fn tokens_from_text(text: &str) -> Result<Vec<String>, TokenFormatError> {
    #[derive(Deserialize)]
    struct TokenList {
        tokens: Vec<String>,
    }
    let trimmed = text.trim();
    let tokens = if trimmed.starts_with('{') {
        parse_json::<TokenList>(trimmed)
            .map_err(TokenFormatError::NotATokenList)?
            .tokens
    } else {
        vec![trimmed.to_owned()]
    };
    let tokens: Vec<String> = tokens.into_iter().filter(|t| !t.is_empty()).collect();
    if tokens.is_empty() {
        return Err(TokenFormatError::Empty);
    }
    if tokens.len() > MAX_TOKENS {
        return Err(TokenFormatError::TooMany);
    }
    for (i, token) in tokens.iter().enumerate() {
        if token.len() < MIN_TOKEN_CHARS || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenFormatError::Weak { index: i + 1 });
        }
    }
    Ok(tokens)
}

/// True when `a` and `b` are equal, in a time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// True when `presented` equals one of `tokens` (every token compared).
fn matches_any(tokens: &[String], presented: &str) -> bool {
    tokens.iter().fold(false, |found, token| {
        found | constant_time_eq(token.as_bytes(), presented.as_bytes())
    })
}

struct Cached {
    tokens: Vec<String>,
    read_at: Instant,
}

/// The valid tokens, cached.
pub struct Tokens {
    source: TokenSource,
    settings: TokenSettings,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("source", &self.source)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens from `source`, read now (so that a missing secret fails the start).
    pub async fn load(source: TokenSource, settings: TokenSettings) -> Result<Tokens, TokenError> {
        let tokens = read(&source).await?;
        Ok(Tokens {
            source,
            settings,
            cached: tokio::sync::Mutex::new(Some(Cached {
                tokens,
                read_at: Instant::now(),
            })),
        })
    }

    /// True when `presented` is a valid token. The cache is refreshed when older than
    /// `max_age`, and, for a token matching none, when older than `recheck_after`. When a
    /// refresh fails, the cached tokens stay in use (and the failure is logged); with none
    /// cached, the error is returned.
    pub async fn accepts(&self, presented: &str) -> Result<bool, TokenError> {
        let mut cached = self.cached.lock().await;
        let age = |c: &Option<Cached>| c.as_ref().map(|c| c.read_at.elapsed());
        if age(&cached).is_none_or(|age| age > self.settings.max_age) {
            self.refresh(&mut cached).await?;
        }
        let matched = cached
            .as_ref()
            .is_some_and(|c| matches_any(&c.tokens, presented));
        if matched || matches!(self.source, TokenSource::Plain(_)) {
            return Ok(matched);
        }
        if age(&cached).is_some_and(|age| age <= self.settings.recheck_after) {
            return Ok(false);
        }
        self.refresh(&mut cached).await?;
        Ok(cached
            .as_ref()
            .is_some_and(|c| matches_any(&c.tokens, presented)))
    }

    async fn refresh(&self, cached: &mut Option<Cached>) -> Result<(), TokenError> {
        match read(&self.source).await {
            Ok(tokens) => {
                tracing::debug!(tokens = tokens.len(), "webhook tokens read");
                *cached = Some(Cached {
                    tokens,
                    read_at: Instant::now(),
                });
                Ok(())
            }
            Err(err) if cached.is_some() => {
                tracing::warn!(error = %err, "cannot read the webhook tokens again; the cached ones stay in use");
                Ok(())
            }
            Err(err) => Err(err),
        }
    }
}

async fn read(source: &TokenSource) -> Result<Vec<String>, TokenError> {
    match source {
        TokenSource::Plain(text) => tokens_from_text(text).map_err(|problem| TokenError::Content {
            place: "WEBHOOK_TOKEN".into(),
            problem,
        }),
        TokenSource::Secret { client, arn } => {
            let text = secret_string(client, arn).await?;
            tokens_from_text(&text).map_err(|problem| TokenError::Content {
                place: format!("secret {arn}"),
                problem,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "tok_aaaaaaaaaaaaaaaa1";
    const B: &str = "tok_bbbbbbbbbbbbbbbb2";

    #[test]
    fn tokens_from_plain_and_json_text() {
        assert_eq!(tokens_from_text(&format!(" {A}\n")).unwrap(), vec![A]);
        let both = format!(r#"{{"tokens": ["{A}", "{B}"]}}"#);
        assert_eq!(tokens_from_text(&both).unwrap(), vec![A, B]);
        assert_eq!(tokens_from_text(" "), Err(TokenFormatError::Empty));
        assert_eq!(
            tokens_from_text("short"),
            Err(TokenFormatError::Weak { index: 1 })
        );
        let err = tokens_from_text(r#"{"tokens": "SecretValue12345678"}"#).unwrap_err();
        assert!(!err.to_string().contains("SecretValue"), "{err}");
        let spaced = format!(r#"{{"tokens": ["{A}", "has a space in it here"]}}"#);
        assert_eq!(
            tokens_from_text(&spaced),
            Err(TokenFormatError::Weak { index: 2 })
        );
    }

    #[test]
    fn comparison_is_exact() {
        assert!(constant_time_eq(A.as_bytes(), A.as_bytes()));
        assert!(!constant_time_eq(A.as_bytes(), B.as_bytes()));
        assert!(!constant_time_eq(
            A.as_bytes(),
            &A.as_bytes()[..A.len() - 1]
        ));
        assert!(!constant_time_eq(b"", A.as_bytes()));
        assert!(matches_any(&[A.into(), B.into()], B));
        assert!(!matches_any(&[A.into()], B));
    }

    #[tokio::test]
    async fn plain_tokens_are_checked_and_never_shown() {
        let settings = TokenSettings {
            recheck_after: Duration::from_secs(30),
            max_age: Duration::from_secs(300),
        };
        let text = format!(r#"{{"tokens": ["{A}", "{B}"]}}"#);
        let tokens = Tokens::load(TokenSource::Plain(text), settings)
            .await
            .unwrap();
        assert!(tokens.accepts(A).await.unwrap());
        assert!(tokens.accepts(B).await.unwrap());
        assert!(!tokens.accepts("tok_cccccccccccccccc3").await.unwrap());
        let shown = format!("{tokens:?}");
        assert!(
            !shown.contains("aaaa") && !shown.contains("bbbb"),
            "{shown}"
        );
    }
}

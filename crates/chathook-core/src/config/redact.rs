//! Secrets kept out of what chathook shows: `check-config`'s printout, `Debug`, error
//! messages about URLs.

use serde_json::Value;

use super::Config;

impl Config {
    /// This config as JSON with every secret replaced by `[redacted]`, for display.
    pub fn redacted(&self) -> Value {
        let mut value = serde_json::to_value(self).expect("config serializes to JSON");
        redact_handler_settings(&mut value["handlers"]);
        // Each extension's table as it reads it, defaults filled in.
        for extension in crate::extension::linked_extensions() {
            if let Some(effective) =
                extension.effective_settings(self.extensions.get(extension.name()))
            {
                value[extension.name()] = effective;
            }
        }
        value
    }
}

/// Handler settings are free-form, so secrets are found by key name and in URL passwords.
pub(super) fn redact_handler_settings(value: &mut Value) {
    const SECRET_WORDS: [&str; 5] = ["token", "password", "secret", "credential", "seed"];
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                let is_secret = SECRET_WORDS.iter().any(|word| key.contains(word))
                    || key == "key"
                    || key.ends_with("_key");
                if is_secret {
                    *value = Value::String("[redacted]".into());
                } else {
                    redact_handler_settings(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_handler_settings),
        Value::String(text) => {
            if let Some(redacted) = redact_url_password(text) {
                *text = redacted;
            }
        }
        _ => {}
    }
}

/// `text` with the password of a `scheme://user:password@host/...` URL replaced, for error
/// messages about URLs that may carry credentials.
pub fn redact_url(text: &str) -> String {
    redact_url_password(text).unwrap_or_else(|| text.to_owned())
}

/// `scheme://user:password@host/...` with the password replaced.
fn redact_url_password(text: &str) -> Option<String> {
    // Without a scheme, the whole text is the authority and path: `user:pw@host/db`.
    let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (userinfo, _) = rest[..authority_end].rsplit_once('@')?;
    let (user, _password) = userinfo.split_once(':')?;
    let after = &rest[userinfo.len()..];
    let scheme = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    Some(format!("{scheme}{user}:[redacted]{after}"))
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::config::HandlerTable;

    #[test]
    fn handler_tables_debug_print_redacted() {
        let mut settings = Map::new();
        settings.insert("database_url".into(), "postgres://u:pw@h/db".into());
        settings.insert("api_token".into(), "t0k3n".into());
        let table = HandlerTable {
            enabled: true,
            settings,
            ..HandlerTable::default()
        };
        let printed = format!("{table:?}");
        assert!(
            !printed.contains("pw@") && !printed.contains("t0k3n"),
            "{printed}"
        );
    }

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            redact_url_password("postgres://app:s3cret@db:5432/chat").as_deref(),
            Some("postgres://app:[redacted]@db:5432/chat")
        );
        assert_eq!(redact_url_password("sqlite://data/x.db"), None);
        assert_eq!(redact_url_password("postgres://app@db/chat"), None);
        assert_eq!(
            redact_url_password("app:s3cret@db/chat").as_deref(),
            Some("app:[redacted]@db/chat")
        );
        assert_eq!(
            redact_url("mysql://app:s3cret@db/chat"),
            "mysql://app:[redacted]@db/chat"
        );
    }

    #[test]
    fn handler_secrets_are_redacted_by_key_and_url() {
        let mut value = serde_json::json!({
            "store": {"enabled": true, "database_url": "postgres://u:pw@h/db", "api_key": "k", "limit": 3}
        });
        redact_handler_settings(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "store": {"enabled": true, "database_url": "postgres://u:[redacted]@h/db", "api_key": "[redacted]", "limit": 3}
            })
        );
    }
}

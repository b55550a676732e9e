//! Secrets kept out of what chathook shows of a config: `check-config`'s printout and
//! `Debug` (URL credentials through the one helper, [`crate::redact`]).

use serde_json::Value;

use super::Config;

impl Config {
    /// This config as JSON with every secret replaced by `[redacted]`, for display.
    pub fn redacted(&self) -> Value {
        let mut value = serde_json::to_value(self).expect("config serializes to JSON");
        redact_handler_settings(&mut value["handlers"]);
        value["journal"]["database_url"] = crate::redact::url(&self.journal.database_url).into();
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
/// The names cover config keys (`secret`, `secrets`, `api_key`) and HTTP header names a
/// handler sends downstream (`Authorization`, `Cookie`, `X-Api-Key`, `X-Auth-Token`).
pub(super) fn redact_handler_settings(value: &mut Value) {
    const SECRET_WORDS: [&str; 8] = [
        "token",
        "password",
        "secret",
        "credential",
        "seed",
        "authorization",
        "cookie",
        "apikey",
    ];
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                let is_secret = SECRET_WORDS.iter().any(|word| key.contains(word))
                    || key == "key"
                    || key.ends_with("_key")
                    || key.ends_with("-key");
                if is_secret {
                    *value = Value::String(crate::redact::REDACTED.into());
                } else {
                    redact_handler_settings(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_handler_settings),
        Value::String(text) => *text = crate::redact::url(text),
        _ => {}
    }
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
    fn signing_secrets_and_credential_headers_are_redacted() {
        let mut value = serde_json::json!({
            "http_forward": {"endpoints": [{
                "name": "crm",
                "url": "https://crm.example.com/hooks",
                "secret": "whsec_c2VjcmV0",
                "secrets": ["whsec_b2xk", "whsec_bmV3"],
                "headers": {
                    "Authorization": "Bearer abc",
                    "Cookie": "session=1",
                    "X-Api-Key": "k1",
                    "X-ApiKey": "k2",
                    "X-Auth-Token": "t",
                    "X-Team": "chat"
                }
            }]}
        });
        redact_handler_settings(&mut value);
        let endpoint = &value["http_forward"]["endpoints"][0];
        assert_eq!(endpoint["secret"], "[redacted]");
        assert_eq!(endpoint["secrets"], "[redacted]");
        for header in [
            "Authorization",
            "Cookie",
            "X-Api-Key",
            "X-ApiKey",
            "X-Auth-Token",
        ] {
            assert_eq!(endpoint["headers"][header], "[redacted]", "{header}");
        }
        assert_eq!(endpoint["headers"]["X-Team"], "chat");
        assert_eq!(endpoint["name"], "crm");
        assert_eq!(endpoint["url"], "https://crm.example.com/hooks");
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

//! A handler's `[handlers.<name>]` table, less the platform's keys, as its config type: parsed
//! refusing keys the type does not read, then checked by the handler's own `validate`. The one
//! path `check-config`, start-up and `build` all take, so `check-config` never passes a config
//! that `serve` refuses.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::StartupError;

/// A handler's own settings: its `[handlers.<name>]` table without the platform's keys.
pub type HandlerSettings = Map<String, Value>;

/// Settings for a handler that takes none: any key in its table is refused.
#[derive(Clone, Copy, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

/// A handler config's own checks, beyond what its type can express (ranges, URL schemes).
pub type Validate<C> = fn(&C) -> Result<(), String>;

/// Deserializes a handler's settings into its config type. Keys the type does not read are
/// refused even if the type itself would ignore them, so a typo never goes unnoticed.
fn parse_settings<C: DeserializeOwned>(
    handler: &'static str,
    settings: HandlerSettings,
) -> Result<C, StartupError> {
    parse_table(settings).map_err(|problem| StartupError::HandlerSettings { handler, problem })
}

/// Deserializes a settings table into `C`, refusing keys `C` does not read; what is wrong, in
/// words, naming the key.
pub(crate) fn parse_table<C: DeserializeOwned>(settings: HandlerSettings) -> Result<C, String> {
    let mut unknown = Vec::new();
    let mut record_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let deserializer =
        serde_ignored::Deserializer::new(Value::Object(settings), &mut record_unknown);
    let parsed = serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        if path == "." {
            error.into_inner().to_string()
        } else {
            format!("{path}: {}", error.into_inner())
        }
    })?;
    if let Some(key) = unknown.first() {
        return Err(format!("unknown key `{key}`"));
    }
    Ok(parsed)
}

/// Parses and validates a handler's settings: the one validation that `check-config`, `serve`
/// and `build` all share.
pub(crate) fn parse_and_validate<C: DeserializeOwned>(
    handler: &'static str,
    settings: HandlerSettings,
    validate: Option<Validate<C>>,
) -> Result<C, StartupError> {
    let config = parse_settings::<C>(handler, settings)?;
    if let Some(validate) = validate {
        validate(&config).map_err(|problem| StartupError::HandlerSettings { handler, problem })?;
    }
    Ok(config)
}

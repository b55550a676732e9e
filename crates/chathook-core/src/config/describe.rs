//! Config errors in the operator's words: the key as written in the file or the environment,
//! and the closest valid key when one is unknown.

use super::{ENV_PREFIX, sections};

/// figment gathers every error it met; show them all, not just the first.
pub(super) fn all_errors(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|error| describe_config_error(&error))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One config error as the operator wrote the key: `server.listen_adr in config/chathook.toml`
/// or `CHATHOOK_SERVER__LISTEN_ADR`, never figment's profile-qualified path, with the
/// closest valid key when the key is unknown.
fn describe_config_error(error: &figment::Error) -> String {
    use figment::error::Kind;

    let from_environment = error
        .metadata
        .as_ref()
        .is_some_and(|metadata| metadata.name.contains("environment"));
    let is_index = |key: &String| !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
    let as_written = |path: &[String]| {
        if from_environment {
            // One variable holds a whole list: name the variable, not an item of it.
            let upper: Vec<String> = path
                .iter()
                .take_while(|key| !is_index(key))
                .map(|key| key.to_ascii_uppercase())
                .collect();
            format!("{}{}", ENV_PREFIX, upper.join("__"))
        } else {
            let mut written = String::new();
            for key in path {
                if is_index(key) {
                    written.push_str(&format!("[{key}]"));
                } else {
                    if !written.is_empty() {
                        written.push('.');
                    }
                    written.push_str(key);
                }
            }
            written
        }
    };
    let place = match error
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.source.as_ref())
        .and_then(|source| source.file_path())
    {
        Some(file) if !from_environment => format!(" in {}", file.display()),
        _ => String::new(),
    };
    let key = as_written(&error.path);
    let problem = match &error.kind {
        Kind::UnknownField(field, expected) => match closest(field, expected.iter().copied()) {
            Some(candidate) => {
                let mut path = error.path.clone();
                if let Some(last) = path.last_mut() {
                    *last = candidate.to_owned();
                }
                format!("unknown key; did you mean {}?", as_written(&path))
            }
            None => format!("unknown key; the keys here are {}", expected.join(", ")),
        },
        Kind::UnknownVariant(value, expected) => {
            format!(
                "unknown value {value:?}; expected one of {}",
                expected.join(", ")
            )
        }
        Kind::InvalidType(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::InvalidValue(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::MissingField(field) => {
            let mut path = error.path.clone();
            path.push(field.to_string());
            return format!("{} is required{place}", as_written(&path));
        }
        other => other.to_string().replace('`', ""),
    };
    if key.is_empty() {
        format!("{problem}{place}")
    } else {
        format!("{key}{place}: {problem}")
    }
}

/// The candidate closest to a mistyped `field`, if one is close enough to be what was meant.
fn closest<'a>(field: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(field, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= candidate.len().max(2) / 2)
        .min()
        .map(|(_, candidate)| candidate)
}

/// A top-level table that neither core nor a linked extension reads.
pub(super) fn unknown_section(name: &str) -> String {
    let known = sections();
    match closest(name, known.iter().copied()) {
        Some(candidate) => format!("{name}: unknown key; did you mean {candidate}?"),
        None => format!(
            "{name}: unknown key; the keys here are {}",
            known.join(", ")
        ),
    }
}

//! Loading: defaults, then the TOML file, then `CHATHOOK_<SECTION>__...` variables, merged
//! by figment, extracted into [`Config`] and validated.

use figment::Figment;
use figment::providers::{Env, Format, Toml};

use super::describe::all_errors;
use super::{Config, ConfigFile, ENV_PREFIX, sections};
use crate::error::StartupError;

impl Config {
    /// The figment that [`Config::load`] extracts: defaults, then the file, then `CHATHOOK_*`.
    pub fn figment(file: &ConfigFile) -> Result<Figment, StartupError> {
        if let ConfigFile::Named(path) = file
            && !path.is_file()
        {
            return Err(StartupError::ConfigFileMissing(path.clone()));
        }
        let path = file.resolved();
        let mut figment = Figment::new();
        if let Some(path) = path {
            figment = figment.merge(Toml::file_exact(path));
        }
        Ok(figment.merge(
            chathook_env()
                .filter(|key| is_config_key(key.as_str()))
                .split("__"),
        ))
    }

    /// The `CHATHOOK_*` environment variables [`Config::figment`] passes over because they
    /// cannot be config keys (no `__` path into one of the [`SECTIONS`](super::SECTIONS)), sorted, for a
    /// warning. Names only: their values are never read here.
    pub fn ignored_env_vars() -> Vec<String> {
        let mut names: Vec<String> = chathook_env()
            .filter(|key| !is_config_key(key.as_str()))
            .lowercase(false)
            .iter()
            .map(|(key, _)| format!("{ENV_PREFIX}{key}"))
            .collect();
        names.sort();
        names
    }

    /// Loads and validates the config.
    pub fn load(file: &ConfigFile) -> Result<Self, StartupError> {
        Self::from_figment(&Self::figment(file)?)
    }

    /// Where the value at `path` (`["server", "listen_addr"]`) of `figment` came from, for
    /// `check-config`: `file PATH`, `environment CHATHOOK_...`, or `default`.
    pub fn value_source(figment: &Figment, path: &[String]) -> String {
        match figment.find_metadata(&path.join(".")) {
            Some(metadata) if metadata.name.contains("environment") => {
                let upper: Vec<String> = path.iter().map(|key| key.to_ascii_uppercase()).collect();
                format!("environment {ENV_PREFIX}{}", upper.join("__"))
            }
            Some(metadata) => match metadata.source.as_ref().and_then(|s| s.file_path()) {
                Some(file) => format!("file {}", file.display()),
                None => metadata.name.to_string(),
            },
            None => "default".into(),
        }
    }

    /// Extracts and validates a config from any figment (tests build theirs in code).
    pub fn from_figment(figment: &Figment) -> Result<Self, StartupError> {
        let config: Self = figment
            .extract()
            .map_err(|error| StartupError::Config(all_errors(&error)))?;
        config.validate()?;
        Ok(config)
    }
}

/// Every `CHATHOOK_*` variable but [`CONFIG_PATH_ENV`] and [`API_TOKEN_ENV`] (which are not
/// config keys, and not unknown either), prefix stripped.
fn chathook_env() -> Env {
    Env::prefixed(ENV_PREFIX).ignore(&["config", "api_token"])
}

/// Whether a prefix-stripped variable name is `<SECTION>__...`. One that reaches a known
/// table is a config key, so a typo in the rest of it is still refused as an unknown key.
fn is_config_key(key: &str) -> bool {
    key.split_once("__").is_some_and(|(section, _)| {
        sections()
            .iter()
            .any(|known| section.eq_ignore_ascii_case(known))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_double_underscore_path_into_a_section_is_a_config_key() {
        for key in [
            "server__listen_addr",
            "SERVER__LISTEN_ADR",
            "handlers__x__y",
            "log__",
        ] {
            assert!(is_config_key(key), "{key}");
        }
        for key in [
            "port",
            "port_8080_tcp_addr",
            "service_host",
            "server",
            "serverx__a",
        ] {
            assert!(!is_config_key(key), "{key}");
        }
    }
}

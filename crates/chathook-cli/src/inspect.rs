//! What `chathook handlers` and `chathook check-config` print: the routing table, the
//! effective config with where each value came from, and the warnings both give.

use anyhow::Context as _;
use chathook_core::config::ConfigFile;
use chathook_core::registry::{Plan, Role};
use chathook_core::{CallbackKind, Config};

/// What [`ignored_env_vars`] says, on standard error.
pub(crate) fn print_ignored_env_vars() {
    if let Some((warning, names)) = ignored_env_vars() {
        eprintln!("warning: {warning}: {names}");
    }
}

/// One warning, and the names (never the values) of the `CHATHOOK_*` variables that are not
/// config keys, such as those Kubernetes injects for a Service named `chathook`.
pub(crate) fn ignored_env_vars() -> Option<(String, String)> {
    let ignored = Config::ignored_env_vars();
    (!ignored.is_empty()).then(|| {
        let warning = format!(
            "ignoring environment variables that are not config keys (a config key is \
             CHATHOOK_<SECTION>__<KEY>, SECTION one of {})",
            chathook_core::config::SECTIONS.join(", ")
        );
        (warning, ignored.join(", "))
    })
}

/// Each of the plan's warnings, on standard error.
pub(crate) fn print_warnings(plan: &Plan) {
    for warning in plan.warnings() {
        eprintln!("warning: {warning}");
    }
}

/// The journal and each queued handler's retry policy, or that no handler is queued.
pub(crate) fn print_queued(config: &Config, plan: &Plan) {
    let queued = plan.queued_handlers();
    if queued.is_empty() {
        eprintln!("no handler is queued: the journal is not opened");
        return;
    }
    eprintln!(
        "journal: {} (durability {}, at most {} entries and {} bytes)",
        chathook_core::redact::url(&config.journal.database_url),
        format!("{:?}", config.journal.durability).to_lowercase(),
        config.journal.max_entries,
        config.journal.max_bytes,
    );
    for (name, policy) in queued {
        eprintln!("queued handler {name}: {policy}");
    }
}

/// The effective config as TOML, secrets redacted, each value followed by where it came
/// from: `# file PATH`, `# environment CHATHOOK_...` or `# default`.
pub(crate) fn annotated_config(config: &Config, file: &ConfigFile) -> anyhow::Result<String> {
    let figment = Config::figment(file)?;
    // Each enabled handler's settings as it will see them, its defaults included, where its
    // config type can say (it implements Serialize); unset options are left out.
    let mut shown = config.clone();
    for (name, table) in shown.handlers.iter_mut().filter(|(_, table)| table.enabled) {
        let registration = chathook_core::linked_handlers()
            .into_iter()
            .find(|registration| registration.name() == name);
        if let Some(serde_json::Value::Object(mut effective)) =
            registration.and_then(|registration| registration.effective_settings(&table.settings))
        {
            effective.retain(|_, value| !value.is_null());
            table.settings = effective;
        }
    }
    let text = toml::to_string(&shown.redacted()).context("cannot print the config as TOML")?;
    let key_path = |key: &str| -> Vec<String> {
        key.split('.')
            .map(|part| part.trim().trim_matches('"').to_owned())
            .collect()
    };
    let mut table: Vec<String> = Vec::new();
    let mut annotated = String::new();
    for line in text.lines() {
        if let Some(header) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            table = key_path(header);
            annotated.push_str(line);
        } else if let Some((key, _)) = line.split_once(" = ") {
            let mut path = table.clone();
            path.extend(key_path(key));
            annotated.push_str(&format!(
                "{line}  # {}",
                Config::value_source(&figment, &path)
            ));
        } else {
            annotated.push_str(line);
        }
        annotated.push('\n');
    }
    Ok(annotated)
}

/// The `chathook handlers` table: per command, every handler, what it does there (runs,
/// decides, observes, or disabled) and where its command set came from (code, or a pattern
/// of its config or of its registration's default).
pub fn routing_table(plan: &Plan) -> String {
    let rows = plan.routing_table();
    let width = rows
        .iter()
        .map(|row| row.command.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut text = format!("{:<width$}  {:<13}  HANDLERS\n", "COMMAND", "KIND");
    for row in rows {
        let enabled = row.handlers.iter().any(|handler| handler.role.is_some());
        let deciding = row
            .handlers
            .iter()
            .any(|handler| handler.role == Some(Role::Decides));
        let mut handlers: Vec<String> = row
            .handlers
            .iter()
            .map(|handler| {
                let role = handler.role.map_or("disabled", Role::as_str);
                format!("{} {role} ({})", handler.name, handler.source)
            })
            .collect();
        if !enabled {
            handlers.insert(0, "- unrouted".into());
        } else if row.kind != CallbackKind::After && !deciding {
            handlers.push("(no decider: answered as dispatch.unrouted says)".into());
        }
        text.push_str(&format!(
            "{:<width$}  {:<13}  {}\n",
            row.command,
            row.kind.as_str(),
            handlers.join(", ")
        ));
    }
    text
}

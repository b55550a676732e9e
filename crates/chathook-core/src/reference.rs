//! The configuration reference, generated from the config types themselves: their JSON
//! Schema (derived with `schemars`) carries each key's doc comment and default, so the
//! reference in `docs/configuration.md` and the shipped `config/chathook.toml` are checked
//! against the code instead of being kept in step by hand.
//!
//! The reference is a list of [`Section`]s, one per config table: core's own
//! ([`core_sections`]), one per linked handler whose config type derives
//! `schemars::JsonSchema` ([`handler_section`]), and any a crate outside core adds with
//! [`Section::of`] for a table it owns.

use std::fmt::Write as _;

use schemars::{JsonSchema, Schema, generate::SchemaSettings};
use serde_json::{Map, Value};

use crate::config::{
    ApiConfig, AppConfig, AuthConfig, Config, DispatchConfig, HandlerTable, JournalConfig,
    LogConfig, QueueConfig, ServerConfig,
};
use crate::extension::{ExtensionRegistration, linked_extensions};
use crate::handler::{Commands, HandlerRegistration, linked_handlers};

/// `T`'s schema with every sub-schema inlined, so a key's enum values sit beside it.
pub fn schema_for<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<T>()
}

/// One config table of the reference: its path (`server`, `apps.<name>`,
/// `handlers.read_receipt`), what it is for, and its keys.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    path: String,
    about: String,
    keys: Vec<Key>,
    /// A list of tables (`[[path]]`), such as a forwarder's endpoints, rather than one table.
    list: bool,
}

/// One key of a [`Section`].
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// The key's name inside its table.
    pub name: String,
    /// Its kind, as the TOML author writes it: `string`, `integer`, `list of strings`, ...
    pub kind: String,
    /// The value used when the key is absent; `None` when there is none (a required key, or
    /// an optional one that is simply unset).
    pub default: Option<Value>,
    /// Whether the table must give it.
    pub required: bool,
    /// What it means: its doc comment, then the values an enum takes with theirs.
    pub meaning: String,
}

impl Section {
    /// The section of a config type: its struct's doc comment and one key per field.
    pub fn of<T: JsonSchema>(path: impl Into<String>) -> Self {
        Self::from_schema(path, &schema_for::<T>())
    }

    /// The section an object schema describes.
    pub fn from_schema(path: impl Into<String>, schema: &Schema) -> Self {
        Self::from_object(path, &schema.as_object().cloned().unwrap_or_default())
    }

    fn from_object(path: impl Into<String>, object: &Map<String, Value>) -> Self {
        let required: Vec<&str> = object
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let keys = object
            .get("properties")
            .and_then(Value::as_object)
            .map(|properties| {
                properties
                    .iter()
                    .map(|(name, property)| key(name, property, required.contains(&name.as_str())))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            path: path.into(),
            about: description(object),
            keys,
            list: false,
        }
    }

    /// The table's path, as written in TOML between brackets.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the table is one of a list (`[[path]]` in TOML), each of the same keys.
    pub fn is_list(&self) -> bool {
        self.list
    }

    /// What the table is for.
    pub fn description(&self) -> &str {
        &self.about
    }

    /// Its keys, in alphabetical order.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The key called `name`, if the table has one.
    pub fn key(&self, name: &str) -> Option<&Key> {
        self.keys.iter().find(|key| key.name == name)
    }

    /// The same section with another description.
    pub fn about(mut self, about: impl Into<String>) -> Self {
        self.about = about.into();
        self
    }
}

/// What `[handlers.<name>.queue]` is for: its type's doc comment says less than a reader needs.
const QUEUE_ABOUT: &str = "A queued handler's retry policy (`delivery = \"queued\"`; refused on \
     an inline handler). See [queued handlers and the journal](deliveries.md).";

/// Every table of the reference, in the order the shipped config has them: core's, each
/// linked extension's before `[log]`, then each linked handler's that describes its settings.
pub fn sections() -> Vec<Section> {
    let mut sections = core_sections();
    let log = sections
        .iter()
        .position(|section| section.path == "log")
        .expect("core has [log]");
    let extensions = linked_extensions().into_iter().map(extension_section);
    sections.splice(log..log, extensions);
    sections.extend(linked_handlers().into_iter().flat_map(handler_sections));
    sections
}

/// A linked handler's sections: [`handler_section`], then one per key of it that is a list
/// of tables (`[[handlers.<name>.<key>]]`, such as a forwarder's endpoints) with the keys
/// each of its tables takes.
pub fn handler_sections(registration: &HandlerRegistration) -> Vec<Section> {
    let Some(section) = handler_section(registration) else {
        return Vec::new();
    };
    let schema = registration.config_schema().unwrap_or_default();
    let properties = schema
        .as_object()
        .and_then(|object| object.get("properties"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let lists: Vec<Section> = properties
        .iter()
        .filter_map(|(name, property)| {
            let property = present(property.as_object()?);
            let items = property.get("items").and_then(Value::as_object)?;
            (property.get("type") == Some(&Value::from("array"))
                && items.contains_key("properties"))
            .then(|| {
                let mut list = Section::from_object(format!("{}.{name}", section.path), items);
                list.list = true;
                list
            })
        })
        .collect();
    std::iter::once(section).chain(lists).collect()
}

/// The top-level table of a linked extension, described by its config type's doc comment.
pub fn extension_section(registration: &ExtensionRegistration) -> Section {
    Section::from_schema(registration.name(), &registration.config_schema())
}

/// The tables of core's config, in the order the shipped config has them, each described by
/// its field's doc comment in [`Config`].
pub fn core_sections() -> Vec<Section> {
    let config = schema_for::<Config>();
    let about = |field: &str| {
        config
            .get("properties")
            .and_then(|properties| properties.get(field))
            .and_then(Value::as_object)
            .map(description)
            .unwrap_or_default()
    };
    let handlers = format!(
        "{} The keys the platform reads in every handler's table; the rest of the table is the \
         handler's own settings, below for each linked handler that describes them.",
        about("handlers")
    );
    vec![
        Section::of::<ServerConfig>("server").about(about("server")),
        Section::of::<AuthConfig>("auth").about(about("auth")),
        Section::of::<AppConfig>("apps.<name>").about(about("apps")),
        Section::of::<DispatchConfig>("dispatch").about(about("dispatch")),
        Section::of::<JournalConfig>("journal").about(about("journal")),
        Section::of::<ApiConfig>("api").about(about("api")),
        Section::of::<LogConfig>("log").about(about("log")),
        Section::of::<HandlerTable>("handlers.<name>").about(handlers),
        Section::of::<QueueConfig>("handlers.<name>.queue").about(QUEUE_ABOUT),
    ]
}

/// `[handlers.<name>]` of a linked handler whose config type derives `schemars::JsonSchema`:
/// `enabled`, the platform keys whose default the registration sets, then its own settings.
/// `None` for a handler without settings of its own, whose table takes only the platform's.
pub fn handler_section(registration: &HandlerRegistration) -> Option<Section> {
    let schema = registration.config_schema()?;
    let path = format!("handlers.{}", registration.name());
    let about = format!(
        "The `{}` handler's table: the platform's keys with its registration's defaults, then \
         its own settings.",
        registration.name()
    );
    let mut section = Section::from_schema(&path, &schema).about(about);
    if section.keys.is_empty() {
        return None;
    }
    let platform = Section::of::<HandlerTable>(&path);
    let mut keys: Vec<Key> = platform.key("enabled").cloned().into_iter().collect();
    // A handler with destinations takes its commands and decides from them, not its table.
    let fans_out = registration.has_destinations();
    if let (Commands::FromConfig(patterns), false) = (registration.commands(), fans_out) {
        let mut commands = platform.key("commands").cloned()?;
        commands.default = patterns.map(|patterns| Value::from(patterns.to_vec()));
        commands.required = patterns.is_none();
        keys.push(commands);
    }
    if let (Some(decides), false) = (registration.decides(), fans_out) {
        let mut key = platform.key("decides").cloned()?;
        key.default = Some(Value::Bool(decides));
        keys.push(key);
    }
    keys.append(&mut section.keys);
    section.keys = keys;
    Some(section)
}

/// The reference as Markdown: a heading and a table per section.
pub fn markdown(sections: &[Section]) -> String {
    let mut out = String::new();
    for section in sections {
        // Writing into a String cannot fail.
        if section.list {
            let _ = writeln!(out, "### `[[{}]]`\n", section.path);
        } else {
            let _ = writeln!(out, "### `[{}]`\n", section.path);
        }
        if !section.about.is_empty() {
            let _ = writeln!(out, "{}\n", section.about);
        }
        out.push_str("| key | type | default | meaning |\n|---|---|---|---|\n");
        for key in &section.keys {
            let default = match (&key.default, key.required) {
                (Some(value), _) => format!("`{}`", toml_literal(value)),
                (None, true) => "required".to_owned(),
                (None, false) => "unset".to_owned(),
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                key.name,
                key.kind,
                default,
                key.meaning.replace('|', "\\|")
            );
        }
        out.push('\n');
    }
    out
}

/// A value as TOML writes it (the defaults are strings, numbers, booleans and lists).
pub fn toml_literal(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(toml_literal).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

fn key(name: &str, property: &Value, required: bool) -> Key {
    let property = property.as_object().cloned().unwrap_or_default();
    let mut meaning = description(&property);
    let values = enum_values(present(&property));
    if !values.is_empty() {
        if !meaning.is_empty() {
            meaning.push(' ');
        }
        meaning.push_str(&values.join(" "));
    }
    Key {
        name: name.to_owned(),
        kind: kind(present(&property)),
        default: property
            .get("default")
            .filter(|value| !value.is_null())
            .cloned(),
        required,
        meaning,
    }
}

/// An optional key's schema without its `null` alternative (`anyOf: [T, null]`).
fn present(schema: &Map<String, Value>) -> &Map<String, Value> {
    let alternatives = schema.get("anyOf").and_then(Value::as_array);
    let not_null = |alternative: &&Value| alternative.get("type") != Some(&Value::from("null"));
    alternatives
        .and_then(|alternatives| alternatives.iter().find(not_null))
        .and_then(Value::as_object)
        .unwrap_or(schema)
}

/// A schema's doc comment on one line.
fn description(schema: &Map<String, Value>) -> String {
    let text = schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The variants an enum key takes, each with its doc comment: `` `"allow"`: Let ... ``.
fn enum_values(schema: &Map<String, Value>) -> Vec<String> {
    let Some(variants) = schema.get("oneOf").and_then(Value::as_array) else {
        return Vec::new();
    };
    variants
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|variant| {
            let value = variant
                .get("const")
                .or_else(|| variant.get("enum").and_then(|values| values.get(0)))?;
            let about = description(variant);
            Some(if about.is_empty() {
                format!("`{value}`")
            } else {
                format!("`{value}`: {about}")
            })
        })
        .collect()
}

/// What kind of value a key holds, in words.
fn kind(schema: &Map<String, Value>) -> String {
    if schema.contains_key("oneOf") {
        return "string".to_owned();
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let Some(first) = types.into_iter().find(|kind| *kind != "null") else {
        return "any".to_owned();
    };
    if first == "array" {
        let items = schema
            .get("items")
            .and_then(Value::as_object)
            .map(kind)
            .unwrap_or_else(|| "any".to_owned());
        return format!("list of {items}s");
    }
    first.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config type as a plugin writes one.
    #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Example {
        /// Where to connect,
        /// on two lines.
        #[serde(default = "default_url")]
        url: String,
        /// Must be given.
        name: String,
        /// Unset unless given.
        #[serde(default)]
        token: Option<String>,
        /// Optional, one of the modes.
        #[serde(default)]
        fallback: Option<Mode>,
        /// How to go on.
        #[serde(default)]
        mode: Mode,
        /// A list.
        #[serde(default)]
        items: Vec<u32>,
    }

    #[derive(Default, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        /// Quickly.
        #[default]
        Fast,
        /// Surely.
        Safe,
    }

    fn default_url() -> String {
        "sqlite://x.db".into()
    }

    #[test]
    fn a_section_has_each_key_with_its_kind_default_and_meaning() {
        let section = Section::of::<Example>("handlers.example");
        let url = section.key("url").unwrap();
        assert_eq!(url.kind, "string");
        assert_eq!(url.default, Some(Value::from("sqlite://x.db")));
        assert_eq!(url.meaning, "Where to connect, on two lines.");
        assert!(section.key("name").unwrap().required);
        let token = section.key("token").unwrap();
        assert_eq!((token.default.as_ref(), token.required), (None, false));
        assert_eq!(token.kind, "string");
        let mode = section.key("mode").unwrap();
        assert_eq!(mode.default, Some(Value::from("fast")));
        assert_eq!(
            mode.meaning,
            r#"How to go on. `"fast"`: Quickly. `"safe"`: Surely."#
        );
        assert_eq!(section.key("items").unwrap().kind, "list of integers");
        let fallback = section.key("fallback").unwrap();
        assert_eq!(fallback.kind, "string");
        assert!(
            fallback.meaning.ends_with(r#"`"safe"`: Surely."#),
            "{}",
            fallback.meaning
        );
        let markdown = markdown(&[section]);
        assert!(
            markdown.contains(
                "| `url` | string | `\"sqlite://x.db\"` | Where to connect, on two lines. |"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains("| `name` | string | required | Must be given. |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| `items` | list of integers | `[]` | A list. |"),
            "{markdown}"
        );
    }

    #[test]
    fn core_sections_know_their_defaults() {
        let sections = core_sections();
        let server = &sections[0];
        assert_eq!(server.path(), "server");
        assert_eq!(
            server.key("listen_addr").unwrap().default,
            Some(Value::from("127.0.0.1:8080"))
        );
        let apps = sections.iter().find(|s| s.path() == "apps.<name>").unwrap();
        assert!(apps.key("sdk_app_id").unwrap().required);
        let handlers = sections
            .iter()
            .find(|s| s.path() == "handlers.<name>")
            .unwrap();
        assert!(
            handlers.key("settings").is_none(),
            "the handler's own keys are not platform keys"
        );
        assert_eq!(
            handlers.key("enabled").unwrap().default,
            Some(Value::Bool(false))
        );
    }
}

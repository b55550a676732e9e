//! The command line with every linked plugin's tools: each [`ToolRegistration`]'s command
//! becomes a verb beside the built-in ones, so this crate offers a plugin's verbs whenever the
//! plugin is linked, without naming it.

use std::path::PathBuf;

use anyhow::bail;
use chathook_core::config::ConfigFile;
use chathook_core::tool::{ToolRegistration, linked_tools};
use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _};

use crate::Cli;

/// What the command line asks for.
pub(crate) enum Parsed {
    /// A built-in verb.
    BuiltIn(Cli),
    /// A plugin's tool, with what clap parsed for its verb.
    Tool {
        tool: &'static ToolRegistration,
        matches: ArgMatches,
        file: ConfigFile,
    },
}

/// Parses `args` against the built-in verbs and every linked tool's. As `Cli::parse_from`
/// does, prints help, the version or a usage error and exits; the error is a tool whose verb
/// is taken.
pub(crate) fn parse<I, T>(args: I) -> anyhow::Result<Parsed>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut command = Cli::command();
    let mut tools: Vec<(String, &'static ToolRegistration)> = Vec::new();
    for tool in linked_tools() {
        let verb = tool.command();
        let name = verb.get_name().to_owned();
        // `help` is clap's own verb, added when the command is built.
        if name == "help" || command.find_subcommand(&name).is_some() {
            bail!(
                "the tool registered in {} adds the verb `{name}`, which this binary already \
                 has (a built-in verb or another tool's)",
                tool.module()
            );
        }
        command = command.subcommand(verb);
        tools.push((name, tool));
    }
    let mut matches = command.get_matches_from(args);
    let chosen = matches
        .subcommand_name()
        .and_then(|verb| tools.iter().find(|(name, _)| name == verb));
    if let Some(&(_, tool)) = chosen {
        // `--config` is global: clap gives its value to the top level wherever it was written.
        let file = ConfigFile::from_option(matches.get_one::<PathBuf>("config").cloned());
        let (_, matches) = matches
            .remove_subcommand()
            .expect("a tool's verb was chosen");
        return Ok(Parsed::Tool {
            tool,
            matches,
            file,
        });
    }
    Ok(Parsed::BuiltIn(
        Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|error| error.exit()),
    ))
}

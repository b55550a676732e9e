//! A test-only tool, registered exactly as a plugin registers one:
//! `chathook-test-server probe show [--fail]` prints the `probe` handler's checked settings.

use chathook_core::BoxError;
use chathook_core::register_tool;
use chathook_core::tool::ToolInput;
use chathook_core::tool::clap::{Arg, ArgAction, Command};

use crate::handlers::ProbeConfig;

register_tool! {
    command: command,
    settings_of: "probe",
    run: run,
}

fn command() -> Command {
    Command::new("probe")
        .about("The probe handler's test tool")
        .subcommand_required(true)
        .subcommand(
            Command::new("show")
                .about("Print the probe's settings as the server would see them")
                .arg(
                    Arg::new("fail")
                        .long("fail")
                        .action(ArgAction::SetTrue)
                        .help("Fail instead, as a tool whose work goes wrong"),
                ),
        )
}

async fn run(input: ToolInput) -> Result<(), BoxError> {
    let config: ProbeConfig = input.settings()?;
    let Some(("show", show)) = input.matches().subcommand() else {
        return Err("`probe` has one subcommand: show".into());
    };
    if show.get_flag("fail") {
        return Err("the probe tool was told to fail".into());
    }
    println!(
        "probe delay_ms={} ready={} (config file {:?})",
        config.delay_ms,
        config.ready,
        input.config_file()
    );
    Ok(())
}

//! `agentctl uninstall (--from FILE | --id ID)`: request uninstall through the bulk safety
//! flow.

use agentctl_core::Action;

use crate::app::App;
use crate::bulk::{self, Source};
use crate::cli::UninstallArgs;
use crate::error::CliResult;

pub async fn run(app: &App, args: &UninstallArgs) -> CliResult {
    let source = match (&args.from, &args.id) {
        (Some(path), _) => Source::Plan(path.clone()),
        (None, Some(id)) => Source::Single { id: id.clone() },
        (None, None) => unreachable!("clap requires --from or --id"),
    };
    bulk::run(app, Action::Uninstall, source, (&args.safety).into()).await
}

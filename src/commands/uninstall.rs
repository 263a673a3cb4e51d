//! `agentctl uninstall (--from FILE | --id ID | --host PATTERN)`: request uninstall through the bulk safety
//! flow.

use agentctl_core::Action;

use crate::app::App;
use crate::bulk::{self, Source};
use crate::cli::UninstallArgs;
use crate::error::CliResult;

pub async fn run(app: &App, args: &UninstallArgs) -> CliResult {
    let source = Source::from_args(
        args.from.as_ref(),
        args.id.as_ref(),
        args.host.as_ref(),
        args.allow_multiple,
    );
    bulk::run(
        app,
        bulk::Actions::Fixed(Action::Uninstall),
        source,
        bulk::BulkOptions::new(&args.safety, &app.global),
    )
    .await
}

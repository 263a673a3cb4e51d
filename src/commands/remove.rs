//! `agentctl remove (--from FILE | --id ID | --host PATTERN)`: delete agents' registrations
//! from the console through the bulk safety flow (not an uninstall: nothing is asked of the
//! machine).

use agentctl_core::Action;

use crate::app::App;
use crate::bulk::{self, Source};
use crate::cli::RemoveArgs;
use crate::error::CliResult;

pub async fn run(app: &App, args: &RemoveArgs) -> CliResult {
    let source = Source::from_args(
        args.from.as_ref(),
        args.id.as_ref(),
        args.host.as_ref(),
        args.allow_multiple,
    );
    bulk::run(
        app,
        bulk::Actions::Fixed(Action::Remove),
        source,
        bulk::BulkOptions::new(&args.safety, &app.global),
    )
    .await
}

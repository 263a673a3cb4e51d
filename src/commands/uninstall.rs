//! `agentctl uninstall` and `agentctl remove` `(--from FILE | --id ID | --host PATTERN)`: one
//! fixed action through the bulk safety flow — uninstall asks each machine to uninstall its
//! agent; remove deletes agents' registrations from the console (nothing is asked of the
//! machine). Both take the same flags and the same path.

use agentctl_core::Action;

use crate::app::App;
use crate::bulk::{self, Source};
use crate::cli::SelectArgs;
use crate::error::CliResult;

/// Perform `action` (uninstall or remove) on the agents `args` select.
pub async fn run(app: &App, args: &SelectArgs, action: Action) -> CliResult {
    let source = Source::from_args(
        args.from.as_ref(),
        args.agents.id.as_ref(),
        args.agents.host.as_ref(),
        args.allow_multiple,
    );
    bulk::run(
        app,
        bulk::Actions::Fixed(action),
        source,
        bulk::BulkOptions::new(&args.safety, &app.global),
    )
    .await
}

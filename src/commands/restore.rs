//! `agentctl restore (--from FILE|JOURNAL | --id ID)`: bring back registrations a `remove`
//! deleted, where the vendor keeps deleted records. `--from` takes a plan, or the journal of
//! a `remove` run: then exactly the agents that run removed (outcome `requested`) are restored.

use agentctl_core::Action;

use crate::app::App;
use crate::bulk::{self, Source};
use crate::cli::RestoreArgs;
use crate::error::CliResult;

pub async fn run(app: &App, args: &RestoreArgs) -> CliResult {
    let source = match &args.from {
        Some(path) if crate::runstate::journal::looks_like_journal(path) => {
            Source::Journal(path.clone())
        }
        from => Source::from_args(from.as_ref(), args.id.as_ref(), None, false),
    };
    // The re-check runs the other way round for a restore: an agent still listed was not
    // removed and is skipped (`skipped:present`).
    let opts = bulk::BulkOptions::new(&args.safety, &app.global);
    bulk::run(app, bulk::Actions::Fixed(Action::Restore), source, opts).await
}

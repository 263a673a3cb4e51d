//! `agentctl apply --from plan.csv`: perform each row's `action` (uninstall, remove,
//! relocate) in one run — one journal, one summary — through the bulk safety flow.

use agentctl_core::RelocateTarget;

use crate::app::App;
use crate::bulk::{self, Actions, BulkOptions, Source};
use crate::cli::ApplyArgs;
use crate::error::CliResult;

pub async fn run(app: &App, args: &ApplyArgs) -> CliResult {
    let relocate_to = args.to_server.as_ref().map(|to| RelocateTarget {
        to: to.clone(),
        resolved_id: None,
        folder: args.folder.clone(),
        allow_multiple: args.allow_multiple,
    });
    bulk::run(
        app,
        Actions::PerRow { relocate_to },
        Source::Plan(args.from.clone()),
        BulkOptions::new(&args.safety, &app.global),
    )
    .await
}

//! `agentctl relocate (--from FILE | --id ID | --host PATTERN) (--to-server ID|HOSTNAME |
//! --to-group ID|NAME)`: move agents through the bulk safety flow. `--to-server` is Apex
//! Central's spelling (a managing server), `--to-group` the natural one for Secure Endpoint
//! groups and Taegis endpoint groups; either names the destination. The provider resolves it
//! before anything is sent (unknown or ambiguous → exit 2 listing the candidates).

use agentctl_core::{Action, RelocateTarget};

use crate::app::App;
use crate::bulk::{self, Source};
use crate::cli::RelocateArgs;
use crate::error::CliResult;

pub async fn run(app: &App, args: &RelocateArgs) -> CliResult {
    let source = Source::from_args(
        args.from.as_ref(),
        args.agents.id.as_ref(),
        args.agents.host.as_ref(),
        args.allow_multiple,
    );
    let action = Action::Relocate(RelocateTarget {
        to: args.to.clone(),
        resolved_id: None,
        folder: args.folder.clone(),
        allow_multiple: args.allow_multiple,
    });
    bulk::run(
        app,
        bulk::Actions::Fixed(action),
        source,
        bulk::BulkOptions::new(&args.safety, &app.global),
    )
    .await
}

//! `agentctl relocate (--from FILE | --id ID | --host PATTERN) (--to-server ID|HOSTNAME |
//! --to-group ID|NAME)`: move agents through the bulk safety flow. `--to-server` is Apex
//! Central's spelling (a managing server), `--to-group` the natural one for Secure Endpoint
//! groups and Taegis endpoint groups; either names the destination. The provider resolves it
//! before anything is sent (unknown or ambiguous → exit 2 listing the candidates).

use agentctl_core::{Action, RelocateTarget};

use crate::app::App;
use crate::cli::RelocateArgs;
use crate::error::CliResult;

pub async fn run(app: &App, args: &RelocateArgs) -> CliResult {
    let action = Action::Relocate(RelocateTarget {
        to: args.to.clone(),
        resolved_id: None,
        folder: args.folder.clone(),
        allow_multiple: args.allow_multiple,
    });
    super::uninstall::fixed_action(
        app,
        args.from.as_ref(),
        &args.agents,
        args.allow_multiple,
        &args.safety,
        action,
    )
    .await
}

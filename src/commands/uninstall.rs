//! `agentctl uninstall` and `agentctl remove` `(--from FILE | --id ID | --host PATTERN)`: one
//! fixed action through the bulk safety flow — uninstall asks each machine to uninstall its
//! agent; remove deletes agents' registrations from the console (nothing is asked of the
//! machine). Both take the same flags and the same path.

use agentctl_core::Action;

use crate::app::App;
use crate::bulk::{self, Source};
use crate::cli::{AgentArgs, SafetyArgs, SelectArgs};
use crate::error::CliResult;

/// Perform `action` (uninstall or remove) on the agents `args` select.
pub async fn run(app: &App, args: &SelectArgs, action: Action) -> CliResult {
    fixed_action(
        app,
        args.from.as_ref(),
        &args.agents,
        args.allow_multiple,
        &args.safety,
        action,
    )
    .await
}

/// One fixed action on the agents a plan, an id or a host name select (uninstall, remove,
/// relocate).
pub(crate) async fn fixed_action(
    app: &App,
    from: Option<&std::path::PathBuf>,
    agents: &AgentArgs,
    allow_multiple: bool,
    safety: &SafetyArgs,
    action: Action,
) -> CliResult {
    let source = Source::from_args(
        from,
        agents.id.as_ref(),
        agents.host.as_ref(),
        allow_multiple,
    );
    bulk::run(
        app,
        bulk::Actions::Fixed(action),
        source,
        bulk::BulkOptions::new(safety, &app.global),
    )
    .await
}

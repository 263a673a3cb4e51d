//! `agentctl stale --days N`: agents whose last-seen time is older than now − N × 24 h.

use agentctl_core::time::{is_stale, stale_cutoff};
use agentctl_core::{HostPattern, ListQuery, Operation};

use crate::app::App;
use crate::cli::StaleArgs;
use crate::error::CliResult;

use super::list::Shape;

pub async fn run(app: &App, args: &StaleArgs) -> CliResult {
    let cutoff = stale_cutoff(app.now, args.days);
    let shape = Shape {
        plan: args.plan.clone(),
        min_agents: args.min_agents,
    };
    let query = ListQuery {
        host: args.host.as_deref().map(HostPattern::new),
        last_seen_before: Some(cutoff),
        include_unknown: args.include_unknown,
        keep_raw: app.format().shows_raw(),
    };
    let include_unknown = args.include_unknown;
    // Server-side hints may narrow the listing; the rule is always applied here too.
    super::list::stream_agents(app, Operation::Stale, &query, &shape, |r| {
        is_stale(r.last_seen, cutoff) || (include_unknown && r.last_seen.is_none())
    })
    .await
}

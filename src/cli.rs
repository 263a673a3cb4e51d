//! Command-line interface (clap derive). Global options are accepted before or after the
//! subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "agentctl",
    version,
    about = "Find stale endpoint agents across security consoles and clean them up safely",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Ndjson,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Config file [default: $XDG_CONFIG_HOME/agentctl/config.toml]
    #[arg(long, global = true, env = "AGENTCTL_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Provider to use (repeatable) [default: every configured provider that supports the command]
    #[arg(short = 'p', long = "provider", global = true, value_name = "NAME")]
    pub providers: Vec<String>,
    /// Output format [default: table on a terminal, else csv; or from --out's extension]
    #[arg(short = 'o', long = "output", global = true, value_enum)]
    pub output: Option<OutputFormat>,
    /// Write results to FILE instead of stdout
    #[arg(long, global = true, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Start CSV output with a UTF-8 byte-order mark (for Excel)
    #[arg(long, global = true)]
    pub bom: bool,
    /// More logging: -v info, -vv each HTTP exchange, -vvv trace
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Errors only on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// No progress bars
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// When another run holds the same journal (or the sandbox state), wait for it instead of exiting 2
    #[arg(long, global = true)]
    pub wait: bool,
    /// Host globs to protect, one per line (on top of the config's [protect])
    #[arg(long, global = true, value_name = "FILE")]
    pub protect_file: Option<PathBuf>,
    /// Ignore the config and run against built-in simulators on loopback
    #[arg(long, global = true, env = "AGENTCTL_SANDBOX", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub sandbox: bool,
    /// Columns to show, in this order (any format; JSON keeps only these keys)
    #[arg(long, global = true, value_name = "A,B,C", value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Sort rows by these columns (-NAME: descending)
    #[arg(
        long,
        global = true,
        value_name = "FIELD[,FIELD]",
        allow_hyphen_values = true
    )]
    pub sort: Option<String>,
    /// No header row (CSV and table)
    #[arg(long, global = true)]
    pub no_headers: bool,
    /// Time zone of times in tables: local, UTC or an IANA name (CSV/JSON: RFC 3339 UTC unless given)
    #[arg(long, global = true, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Tables show every column, uncut (default on a terminal: the main columns, fitted)
    #[arg(long, global = true)]
    pub wide: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Common(CommonCommand),
    /// Check config, credentials and connectivity per provider
    Doctor,
    /// Machines active in one console but missing from, or stale in, another
    Gaps(GapsArgs),
    /// Machines registered under several agent ids in one console: a removal plan
    Duplicates(DuplicatesArgs),
    /// One report across consoles: HTML with charts, Markdown or JSON (by --out's extension)
    Report(ReportArgs),
    /// Print a shell completion script (completes commands, options and provider names)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Create, check or locate the config file
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Write man pages (agentctl.1 and one per subcommand)
    Man {
        /// Write every page into DIR (created if missing) instead of agentctl.1 to stdout
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Environment variables agentctl reads (also: agentctl help environment)
    Environment,
    /// Cisco Secure Endpoint commands
    #[command(name = "secure-endpoint", visible_alias = "se")]
    SecureEndpoint {
        #[command(subcommand)]
        command: SeCommand,
    },
    /// Cisco Secure Access commands
    #[command(name = "secure-access", visible_alias = "sa")]
    SecureAccess {
        #[command(subcommand)]
        command: SaCommand,
    },
    /// Trend Micro Apex Central commands
    #[command(name = "apex-central", visible_alias = "apex")]
    ApexCentral {
        #[command(subcommand)]
        command: ApexCommand,
    },
    /// Secureworks Taegis XDR commands
    #[command(name = "taegis")]
    Taegis {
        #[command(subcommand)]
        command: TaegisCommand,
    },
}

/// Commands every kind namespace repeats.
#[derive(Debug, Subcommand)]
pub enum CommonCommand {
    /// List agents
    List(ListArgs),
    /// List agents not seen for N days (a reviewable plan for `uninstall --from`)
    Stale(StaleArgs),
    /// Request uninstall of agents from a plan file, by id or by host name
    Uninstall(SelectArgs),
    /// Delete agents' registrations from the console (not an uninstall)
    Remove(SelectArgs),
    /// Bring back registrations a `remove` deleted (vendors with soft delete)
    Restore(RestoreArgs),
    /// Perform each plan row's `action` (uninstall, remove, relocate) in one run
    Apply(ApplyArgs),
    /// Past bulk runs and their outcomes
    Runs(RunsArgs),
    /// Move agents to another server (--to-server) or group (--to-group)
    Relocate(RelocateArgs),
    /// Manage API client credentials (providers that support it)
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SeCommand {
    #[command(flatten)]
    Common(CommonCommand),
    /// Check config, credentials and connectivity
    Doctor,
    /// List the v3 organizations the credentials see
    Orgs,
}

#[derive(Debug, Subcommand)]
pub enum SaCommand {
    #[command(flatten)]
    Common(CommonCommand),
    /// Check config, credentials and connectivity
    Doctor,
    /// List network tunnel groups with status and hubs
    Tunnels,
}

#[derive(Debug, Subcommand)]
pub enum ApexCommand {
    #[command(flatten)]
    Common(CommonCommand),
    /// Check config, credentials and connectivity
    Doctor,
    /// List the managed product servers (relocate destinations)
    Servers,
}

#[derive(Debug, Subcommand)]
pub enum TaegisCommand {
    #[command(flatten)]
    Common(CommonCommand),
    /// Check config, credentials and connectivity
    Doctor,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Host name: case-insensitive glob with * and ? (whole name or first DNS label); without a
    /// wildcard, the same machine by name (first DNS label, NetBIOS truncation)
    #[arg(long, value_name = "PATTERN")]
    pub host: Option<String>,
    #[command(flatten)]
    pub plan: PlanActionArgs,
}

/// The change a plan asks for, per agent (the `action` column `apply` performs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanAction {
    Uninstall,
    Remove,
    Relocate,
    /// uninstall when last seen within --uninstall-within days, else remove
    Auto,
}

#[derive(Debug, Args, Clone)]
pub struct PlanActionArgs {
    /// Write an `action` column (last) saying the change `apply` makes per agent
    #[arg(long, value_enum, value_name = "ACTION")]
    pub action: Option<PlanAction>,
    /// With --action auto: uninstall agents last seen within N days, remove the others
    #[arg(long, value_name = "N", default_value_t = 90)]
    pub uninstall_within: u32,
}

#[derive(Debug, Args)]
pub struct StaleArgs {
    /// Stale when last seen more than N × 24 h ago (N ≥ 1)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
    /// Also list agents with no last-seen time
    #[arg(long)]
    pub include_unknown: bool,
    /// Host name: case-insensitive glob with * and ?; without a wildcard, the same machine
    /// by name (first DNS label, NetBIOS truncation)
    #[arg(long, value_name = "PATTERN")]
    pub host: Option<String>,
    /// Refuse to write a plan when a provider lists fewer agents than N (a truncated listing).
    /// A listing whose rows disagree with the vendor's own reported total is refused always
    #[arg(long, value_name = "N")]
    pub min_agents: Option<u64>,
    #[command(flatten)]
    pub plan: PlanActionArgs,
    /// Keep only agents whose machine is not seen within N days in another provider either;
    /// the others are broken agents, not retired machines
    #[arg(long)]
    pub corroborate: bool,
    /// With --corroborate: write the agents it drops (broken agents) to FILE, same columns
    #[arg(long, value_name = "FILE", requires = "corroborate")]
    pub broken_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GapsArgs {
    /// Active = seen within N × 24 h; stale = registered but not seen for that long
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
    /// Provider kinds (or provider names) every active machine should be in [default: the
    /// config's coverage.expect, else every selected provider]
    #[arg(long, value_name = "KIND,…", value_delimiter = ',')]
    pub expect: Option<Vec<String>>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Active = seen within N × 24 h; stale = registered but not seen for that long
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
    /// Duplicates seen within this many hours are not planned, nor counted as reclaimable
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub min_age: u32,
    /// Provider kinds (or provider names) every active machine should be in, as for gaps
    /// [default: the config's coverage.expect, else every selected provider]
    #[arg(long, value_name = "KIND,…", value_delimiter = ',')]
    pub expect: Option<Vec<String>>,
}

#[derive(Debug, Args)]
pub struct DuplicatesArgs {
    /// Never plan a duplicate seen within this many hours
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub min_age: u32,
}

/// The agents `uninstall` and `remove` act on: a plan, one id or a host name.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("agents").required(true).args(["from", "id", "host"]))]
pub struct SelectArgs {
    /// Plan file (CSV, JSON or NDJSON from `stale`/`list`, or a legacy GUID CSV)
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub agents: AgentArgs,
    /// Let an exact --host name select several agents (duplicate registrations)
    #[arg(long)]
    pub allow_multiple: bool,
    #[command(flatten)]
    pub safety: SafetyArgs,
}

/// One agent by id, or agents by host name: how the bulk changes pick agents without a plan.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// One agent id (needs one provider: -p, or the only one in scope)
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Agents whose host name matches: case-insensitive glob; without a wildcard, the exact name
    #[arg(long, value_name = "PATTERN")]
    pub host: Option<String>,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("agents").required(true).args(["from", "id"]))]
pub struct RestoreArgs {
    /// A plan file, or the journal of a `remove` run (restores what that run removed)
    #[arg(long, value_name = "FILE|JOURNAL")]
    pub from: Option<PathBuf>,
    /// One agent id (needs one provider: -p, or the only one in scope)
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    #[command(flatten)]
    pub safety: SafetyArgs,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("agents").required(true).args(["from", "id", "host"]))]
pub struct RelocateArgs {
    /// Plan file (CSV, JSON or NDJSON from `list`)
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub agents: AgentArgs,
    /// Destination: a group (--to-group: Secure Endpoint group, Taegis endpoint group) or a
    /// server (--to-server: Apex Central), by id or name
    #[arg(long = "to-group", visible_alias = "to-server", value_name = "ID|NAME")]
    pub to: String,
    /// Destination folder on that server (e.g. '\NewDomain\NewFolder')
    #[arg(long, value_name = "PATH")]
    pub folder: Option<String>,
    /// Let one request move every agent matching it (the vendor's allow_multiple_match)
    #[arg(long)]
    pub allow_multiple: bool,
    #[command(flatten)]
    pub safety: SafetyArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Plan file with an `action` column (`stale --action …` writes one)
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Destination of `relocate` rows: server or group id or name
    #[arg(long, visible_alias = "to-group", value_name = "ID|NAME")]
    pub to_server: Option<String>,
    /// Destination folder of `relocate` rows (Apex Central)
    #[arg(long, value_name = "PATH")]
    pub folder: Option<String>,
    /// Let one relocate request move every agent matching it (Apex Central's allow_multiple_match)
    #[arg(long)]
    pub allow_multiple: bool,
    #[command(flatten)]
    pub safety: SafetyArgs,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: Option<RunsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One run's outcomes: by plan digest, run id or journal path
    Show {
        #[arg(value_name = "DIGEST|RUN|PATH")]
        what: String,
    },
}

/// Options every bulk change takes.
#[derive(Debug, Args)]
pub struct SafetyArgs {
    /// Show what would be sent; send no change
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Refuse plans with more agents than this
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub max: usize,
    /// Journal file [default: $XDG_STATE_HOME/agentctl/journals/<plan digest>-<command>.jsonl]
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Do not fetch each agent again just before acting
    #[arg(long)]
    pub no_recheck: bool,
    /// Send an uninstall again when the journal's request is at least D days old and the agent is still there, unseen since (0: never)
    #[arg(long, value_name = "D", default_value_t = 7)]
    pub rerequest_after: u32,
    /// Write a machine-readable run summary (JSON) to FILE
    #[arg(long, value_name = "FILE.json")]
    pub summary: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// List API clients
    List,
    /// Show one API client
    Get { id: String },
    /// Create an API client; its secret is shown once (or saved with --save)
    Create {
        name: String,
        /// Role or scope (repeatable)
        #[arg(long = "role", visible_alias = "scope", value_name = "ROLE")]
        roles: Vec<String>,
        /// Expiry (RFC 3339, e.g. 2027-06-30T00:00:00Z), where the vendor supports one
        #[arg(long, value_name = "TIME")]
        expire_at: Option<jiff::Timestamp>,
        /// Write the credentials to this new file (mode 0600) instead of stdout
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
    /// Issue a new secret for an API client; the old one stops working
    Rotate {
        id: String,
        /// Write the credentials to this new file (mode 0600) instead of stdout
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
    /// Delete an API client (asks for confirmation)
    Delete {
        id: String,
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
        /// Allow deleting the credential agentctl itself is configured with for this provider
        #[arg(long)]
        force_self: bool,
    },
    /// Delete every API client the credentials can see, except agentctl's own (lists them
    /// first; needs --yes)
    DeleteAll {
        #[arg(long, short = 'y')]
        yes: bool,
        /// List what would be deleted; delete nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Add a provider to the config file, asking for each key (writes the file 0600, then
    /// runs doctor on the new provider)
    Init(ConfigInitArgs),
    /// Validate the config file without any network request
    Check,
    /// Print which config file is used and why
    Path,
}

#[derive(Debug, Args)]
pub struct ConfigInitArgs {
    /// Provider kind (secure-endpoint, secure-access, apex-central, taegis or an alias);
    /// given with its keys, no question is asked
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Name of the new [providers.NAME] section [default: the kind's short name]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A key of the provider (repeatable), e.g. --set region=eu --set api_key=env:SE_API_KEY
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Allow a literal secret (not env:NAME or file:PATH) to be written into the file
    #[arg(long)]
    pub allow_literal_secrets: bool,
    /// Do not run doctor on the new provider afterwards
    #[arg(long)]
    pub no_doctor: bool,
}

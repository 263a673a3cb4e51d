//! `agentctl clients list | get | create | rotate | delete | delete-all`: API client
//! credentials of providers that manage them.
//!
//! A new secret is shown exactly once: on stdout, in the `--out` file, or only in the
//! `--save` file. Every file that receives a secret is created new with mode 0600 (see
//! [`crate::secret_file`]) before anything is sent. Once the vendor has issued a secret it is
//! delivered even when the rest of the answer cannot be read; then what could not be read is
//! reported and the command exits 1. The credentials agentctl itself runs on are never
//! deleted by `delete-all` (`skipped:self`) and only with `--force-self` by `delete`.

use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use agentctl_core::{ApiClient, NewClient, NewClientSecret, NotSupported, Operation};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

use crate::app::App;
use crate::cli::ClientsCommand;
use crate::error::{CliError, CliResult, exit};
use crate::output::RowWriter;
use crate::providers::Configured;
use crate::sanitize::terminal_text;
use crate::secret_file;

pub const CLIENT_COLUMNS: [&str; 7] = [
    "provider",
    "id",
    "client_id",
    "name",
    "created_at",
    "updated_at",
    "roles",
];

/// `delete-all` rows: the client and what happened to it.
const OUTCOME_COLUMNS: [&str; 5] = ["provider", "id", "client_id", "name", "outcome"];

fn client_row(provider: &str, c: &ApiClient) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("provider".into(), json!(provider));
    r.insert("id".into(), json!(c.id));
    r.insert("client_id".into(), json!(c.client_id));
    r.insert("name".into(), json!(c.name));
    r.insert(
        "created_at".into(),
        json!(c.created_at.map(|t| t.to_string())),
    );
    r.insert(
        "updated_at".into(),
        json!(c.updated_at.map(|t| t.to_string())),
    );
    r.insert("roles".into(), json!(c.roles));
    if !c.raw.is_null() {
        r.insert("raw".into(), c.raw.clone());
    }
    r
}

/// The one provider `clients` works on: `-p NAME`; else, under a kind namespace or not, the
/// only configured provider that supports clients.
fn pick(app: &App) -> CliResult<Configured> {
    if !app.global.providers.is_empty() {
        return app.single(Operation::Clients, "clients");
    }
    let mut able: Vec<Configured> = Vec::new();
    let mut refused: Vec<NotSupported> = Vec::new();
    for name in app.requested_names() {
        let c = app.provider(&name)?;
        match c.provider.supports(Operation::Clients) {
            Ok(()) => able.push(c),
            Err(ns) => refused.push(ns),
        }
    }
    match able.len() {
        1 => Ok(able.remove(0)),
        0 => {
            let why = if refused.is_empty() {
                match app.kind_scope {
                    Some(kind) => format!("no {kind} provider is configured"),
                    None => "no provider is configured".to_string(),
                }
            } else {
                let reasons: Vec<String> = refused
                    .iter()
                    .map(|r| format!("{}: {}", r.provider, r.reason))
                    .collect();
                format!(
                    "no configured provider manages API clients ({})",
                    reasons.join("; ")
                )
            };
            Err(CliError::usage("clients", why))
        }
        _ => {
            let names: Vec<&str> = able.iter().map(|c| c.name.as_str()).collect();
            Err(CliError::usage(
                "clients",
                format!(
                    "several configured providers manage API clients ({}); choose one",
                    names.join(", ")
                ),
            )
            .hint(format!("pass -p {}", names[0])))
        }
    }
}

/// Where a new secret goes, decided (and its file created) before anything is sent.
enum Destination {
    /// `--save FILE`: the credentials go only there; the row without the secret goes to
    /// stdout (or `--out`).
    Save(PathBuf, std::fs::File),
    /// `--out FILE` without `--save`: the row with the secret goes there.
    Out(PathBuf, std::fs::File),
    Stdout,
}

impl Destination {
    fn open(app: &App, save: Option<&Path>) -> CliResult<Self> {
        let create = |flag: &str, path: &Path| {
            secret_file::create(path).map_err(|e| {
                CliError::usage(
                    flag.to_string(),
                    format!("cannot use {}: {e}; nothing was sent", path.display()),
                )
                .hint("name a file that does not exist yet")
            })
        };
        if let (Some(save), Some(out)) = (save, &app.global.out)
            && save == out.as_path()
        {
            return Err(CliError::usage(
                "--save",
                "--save and --out name the same file; nothing was sent",
            )
            .hint("--save takes the credentials, --out the row that says where they went"));
        }
        Ok(match (save, &app.global.out) {
            (Some(path), _) => Self::Save(path.to_path_buf(), create("--save", path)?),
            (None, Some(path)) => Self::Out(path.clone(), create("--out", path)?),
            (None, None) => Self::Stdout,
        })
    }

    /// The vendor refused: nothing was issued, so the empty file is removed again.
    fn discard(self) {
        match self {
            Self::Save(path, file) | Self::Out(path, file) => {
                drop(file);
                let _ = std::fs::remove_file(path);
            }
            Self::Stdout => {}
        }
    }
}

/// Show a new secret once, where `dest` says; then report what could not be read, if
/// anything (exit 1: the secret is delivered, but the answer was not what the vendor
/// documents).
fn deliver(
    app: &App,
    provider: &str,
    what: &str,
    issued: &NewClientSecret,
    dest: Destination,
) -> CliResult {
    let mut row = client_row(provider, &issued.client);
    row.remove("raw");
    let secret = issued.client_secret.expose_secret();
    let place = match dest {
        Destination::Save(path, mut file) => {
            let body = json!({
                "provider": provider,
                "id": issued.client.id,
                "name": issued.client.name,
                "client_id": issued.client.client_id,
                "client_secret": secret,
            });
            let text = serde_json::to_string_pretty(&body).unwrap_or_default();
            file.write_all(text.as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    CliError::runtime(
                        "--save",
                        format!(
                            "the secret was issued but writing {} failed: {e}",
                            path.display()
                        ),
                    )
                    .provider(provider)
                    .hint("rotate the secret to get a new one")
                })?;
            // stdout says where the secret went, in the same format as the row.
            let mut columns = CLIENT_COLUMNS.to_vec();
            columns.push("saved_to");
            row.insert("saved_to".into(), json!(path.display().to_string()));
            let mut w = app.writer(&columns)?;
            w.write_row(&row)?;
            w.finish()?;
            app.info(format!(
                "credentials saved to {} (mode 0600)",
                path.display()
            ));
            format!("saved to {}", path.display())
        }
        Destination::Out(path, file) => {
            let mut columns = CLIENT_COLUMNS.to_vec();
            columns.push("client_secret");
            row.insert("client_secret".into(), json!(secret));
            let mut w = RowWriter::new(
                Box::new(BufWriter::new(file)),
                app.format(),
                columns.iter().map(|c| c.to_string()).collect(),
                app.global.bom,
            )
            .verbatim("client_secret");
            w.write_row(&row).and_then(|()| w.finish()).map_err(|e| {
                CliError::runtime(
                    "--out",
                    format!(
                        "the secret was issued but writing {} failed: {e}",
                        path.display()
                    ),
                )
                .provider(provider)
                .hint("rotate the secret to get a new one")
            })?;
            app.info(format!(
                "credentials written to {} (mode 0600)",
                path.display()
            ));
            format!("written to {}", path.display())
        }
        Destination::Stdout => {
            let mut columns = CLIENT_COLUMNS.to_vec();
            columns.push("client_secret");
            row.insert("client_secret".into(), json!(secret));
            let mut w = app.writer(&columns)?.verbatim("client_secret");
            w.write_row(&row)?;
            w.finish()?;
            app.info("the secret is shown this once; store it now");
            "shown above".to_string()
        }
    };
    match &issued.problem {
        None => Ok(()),
        Some(problem) => Err(CliError::runtime(
            what,
            format!("the new secret is valid and was delivered ({place}), but {problem}"),
        )
        .provider(provider)
        .hint("check the client with `clients get` or `clients list`")),
    }
}

/// Deliver a secret the vendor issued; when it refused, remove the unused secret file.
fn issue(
    app: &App,
    c: &Configured,
    what: &str,
    result: agentctl_core::Result<NewClientSecret>,
    dest: Destination,
) -> CliResult {
    match result {
        Ok(issued) => deliver(app, &c.name, what, &issued, dest),
        Err(e) => {
            dest.discard();
            Err(api(c, what)(e))
        }
    }
}

fn confirm(prompt: &str) -> CliResult<bool> {
    let mut err = std::io::stderr();
    write!(err, "{prompt} Type 'yes' to continue: ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

fn api(c: &Configured, what: &str) -> impl Fn(agentctl_core::ProviderError) -> CliError {
    let name = c.name.clone();
    let what = what.to_string();
    move |e| CliError::from_provider(what.clone(), e.with_provider(&name))
}

/// Is `client` one of the credentials the provider itself runs on?
fn is_own(own: &[String], client: &ApiClient) -> bool {
    own.iter()
        .any(|o| !o.is_empty() && (*o == client.id || *o == client.client_id))
}

fn outcome_row(provider: &str, c: &ApiClient, outcome: &str) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("provider".into(), json!(provider));
    r.insert("id".into(), json!(c.id));
    r.insert("client_id".into(), json!(c.client_id));
    r.insert("name".into(), json!(c.name));
    r.insert("outcome".into(), json!(outcome));
    r
}

pub async fn run(app: &App, command: &ClientsCommand) -> CliResult {
    let c = pick(app)?;
    let p = c.provider.as_ref();
    match command {
        ClientsCommand::List => {
            let clients = p.list_clients().await.map_err(api(&c, "clients list"))?;
            let mut w = app.writer(&CLIENT_COLUMNS)?;
            for client in &clients {
                w.write_row(&client_row(&c.name, client))?;
            }
            w.finish()?;
        }
        ClientsCommand::Get { id } => {
            let client = p.get_client(id).await.map_err(api(&c, "clients get"))?;
            let mut w = app.writer(&CLIENT_COLUMNS)?;
            w.write_row(&client_row(&c.name, &client))?;
            w.finish()?;
        }
        ClientsCommand::Create {
            name,
            roles,
            expire_at,
            save,
        } => {
            let dest = Destination::open(app, save.as_deref())?;
            let new = NewClient {
                name: name.clone(),
                roles: roles.clone(),
                expire_at: *expire_at,
            };
            let created = p.create_client(&new).await;
            issue(app, &c, "clients create", created, dest)?;
        }
        ClientsCommand::Rotate { id, save } => {
            let dest = Destination::open(app, save.as_deref())?;
            let rotated = p.rotate_client(id).await;
            issue(app, &c, "clients rotate", rotated, dest)?;
        }
        ClientsCommand::Delete {
            id,
            yes,
            force_self,
        } => {
            let client = p.get_client(id).await.map_err(api(&c, "clients delete"))?;
            let own = p.own_client_ids();
            let own_match = is_own(&own, &client) || own.iter().any(|o| o == id);
            if own_match && !force_self {
                return Err(CliError::usage(
                    "clients delete",
                    format!(
                        "API client {} ({}) is the credential agentctl itself uses for {}; deleting it would cut agentctl off; nothing was deleted",
                        client.name, client.id, c.name
                    ),
                )
                .provider(&c.name)
                .hint("pass --force-self if that is really what you want"));
            }
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(CliError::usage(
                        "clients delete",
                        "refusing to delete without confirmation: no terminal to ask on",
                    )
                    .hint("pass --yes"));
                }
                let prompt = format!(
                    "About to delete API client {} ({}) of {}{}.",
                    client.name,
                    client.id,
                    c.name,
                    if own_match {
                        ", the credential agentctl itself uses"
                    } else {
                        ""
                    }
                );
                if !confirm(&prompt)? {
                    return Err(CliError::usage(
                        "clients delete",
                        "not confirmed; nothing was deleted",
                    ));
                }
            }
            p.delete_client(id)
                .await
                .map_err(api(&c, "clients delete"))?;
            app.info(format!(
                "deleted API client {} ({})",
                client.name, client.id
            ));
        }
        ClientsCommand::DeleteAll { yes, dry_run } => {
            let clients = p
                .list_clients()
                .await
                .map_err(api(&c, "clients delete-all"))?;
            let own = p.own_client_ids();
            let (mine, others): (Vec<&ApiClient>, Vec<&ApiClient>) =
                clients.iter().partition(|client| is_own(&own, client));
            if !app.global.quiet {
                crate::error::eprint_line(&format!(
                    "API clients of {}: {} to delete, {} skipped (the credentials agentctl uses)",
                    c.name,
                    others.len(),
                    mine.len()
                ));
                for client in &others {
                    crate::error::eprint_line(&format!(
                        "  delete        {}",
                        terminal_text(&format!("{} ({})", client.name, client.id))
                    ));
                }
                for client in &mine {
                    crate::error::eprint_line(&format!(
                        "  skipped:self  {}",
                        terminal_text(&format!("{} ({})", client.name, client.id))
                    ));
                }
            }
            if *dry_run {
                let mut w = app.writer(&OUTCOME_COLUMNS)?;
                for client in &others {
                    w.write_row(&outcome_row(&c.name, client, "would-delete"))?;
                }
                for client in &mine {
                    w.write_row(&outcome_row(&c.name, client, "skipped:self"))?;
                }
                w.finish()?;
                app.info("dry run: nothing was deleted");
                return Ok(());
            }
            if !yes {
                return Err(CliError::usage(
                    "clients delete-all",
                    format!(
                        "refusing to delete {} API client(s) without --yes",
                        others.len()
                    ),
                )
                .hint("review the list above, then pass --yes (or --dry-run to list only)"));
            }
            let mut w = app.writer(&OUTCOME_COLUMNS)?;
            let mut failed = 0;
            for client in &others {
                let outcome = match p.delete_client(&client.id).await {
                    Ok(()) => "deleted".to_string(),
                    Err(e) => {
                        failed += 1;
                        let e = api(&c, "clients delete-all")(e);
                        crate::error::eprint_line(&format!("{}", terminal_text(&e.to_string())));
                        format!("failed:{}", e.why)
                    }
                };
                w.write_row(&outcome_row(&c.name, client, &outcome))?;
            }
            for client in &mine {
                w.write_row(&outcome_row(&c.name, client, "skipped:self"))?;
            }
            w.finish()?;
            app.info(format!(
                "{}: {} deleted, {} skipped:self, {failed} failed",
                c.name,
                others.len() - failed,
                mine.len()
            ));
            if failed > 0 {
                return Err(CliError::exit_with(
                    exit::PARTIAL,
                    "clients delete-all",
                    format!("{failed} of {} API client(s) not deleted", others.len()),
                ));
            }
        }
    }
    Ok(())
}

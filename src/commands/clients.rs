//! `agentctl clients -p NAME list | get | create | rotate | delete | delete-all`: API client
//! credentials of providers that manage them. A new secret is shown exactly once: on stdout,
//! or only in a new 0600 file with `--save`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use agentctl_core::{ApiClient, NewClient, NewClientSecret, Operation};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

use crate::app::App;
use crate::cli::ClientsCommand;
use crate::error::{CliError, CliResult, exit};
use crate::providers::Configured;

pub const CLIENT_COLUMNS: [&str; 7] = [
    "provider",
    "id",
    "client_id",
    "name",
    "created_at",
    "updated_at",
    "roles",
];

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

/// Create the `--save` file before anything is sent: an existing file is an input error, and
/// a secret is never issued without a place to put it.
fn open_save_file(path: &Path) -> CliResult<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!("{} already exists; nothing was sent", path.display())
        } else {
            format!("cannot create {}: {e}; nothing was sent", path.display())
        };
        CliError::usage("--save", why)
    })
}

/// Show a new secret once: into the save file (stdout says where), or on stdout.
fn deliver(
    app: &App,
    provider: &str,
    created: &NewClientSecret,
    save: Option<(&Path, std::fs::File)>,
) -> CliResult {
    let mut row = client_row(provider, &created.client);
    row.remove("raw");
    match save {
        Some((path, mut file)) => {
            let body = json!({
                "provider": provider,
                "id": created.client.id,
                "name": created.client.name,
                "client_id": created.client.client_id,
                "client_secret": created.client_secret.expose_secret(),
            });
            let text = serde_json::to_string_pretty(&body).expect("JSON");
            file.write_all(text.as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    CliError::runtime(
                        "--save",
                        format!(
                            "the client was created but writing {} failed: {e}",
                            path.display()
                        ),
                    )
                    .hint("rotate its secret to get a new one")
                })?;
            // stdout says where the secret went (SPEC), in the same format as the row.
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
        }
        None => {
            let mut columns = CLIENT_COLUMNS.to_vec();
            columns.push("client_secret");
            row.insert(
                "client_secret".into(),
                json!(created.client_secret.expose_secret()),
            );
            let mut w = app.writer(&columns)?;
            w.write_row(&row)?;
            w.finish()?;
            app.info("the secret is shown this once; store it now");
        }
    }
    Ok(())
}

/// Deliver a secret the vendor issued; when it refused, remove the unused `--save` file.
fn issue(
    app: &App,
    c: &Configured,
    what: &str,
    result: agentctl_core::Result<NewClientSecret>,
    save: Option<&Path>,
    file: Option<std::fs::File>,
) -> CliResult {
    match result {
        Ok(issued) => deliver(app, &c.name, &issued, save.zip(file)),
        Err(e) => {
            drop(file);
            if let Some(path) = save {
                let _ = std::fs::remove_file(path);
            }
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

pub async fn run(app: &App, command: &ClientsCommand) -> CliResult {
    let c = app.single(Operation::Clients, "the command")?;
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
            let file = save.as_deref().map(open_save_file).transpose()?;
            let new = NewClient {
                name: name.clone(),
                roles: roles.clone(),
                expire_at: *expire_at,
            };
            let created = p.create_client(&new).await;
            issue(app, &c, "clients create", created, save.as_deref(), file)?;
        }
        ClientsCommand::Rotate { id, save } => {
            let file = save.as_deref().map(open_save_file).transpose()?;
            let rotated = p.rotate_client(id).await;
            issue(app, &c, "clients rotate", rotated, save.as_deref(), file)?;
        }
        ClientsCommand::Delete { id, yes } => {
            let client = p.get_client(id).await.map_err(api(&c, "clients delete"))?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(CliError::usage(
                        "clients delete",
                        "refusing to delete without confirmation: no terminal to ask on",
                    )
                    .hint("pass --yes"));
                }
                let prompt = format!(
                    "About to delete API client {} ({}) of {}.",
                    client.name, client.id, c.name
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
        ClientsCommand::DeleteAll { yes } => {
            let clients = p
                .list_clients()
                .await
                .map_err(api(&c, "clients delete-all"))?;
            if clients.is_empty() {
                app.info("nothing to do: no API clients");
                return Ok(());
            }
            eprintln!("API clients of {} to delete:", c.name);
            for client in &clients {
                eprintln!(
                    "  {}",
                    crate::sanitize::terminal_text(&format!("{} ({})", client.name, client.id))
                );
            }
            if !yes {
                return Err(CliError::usage(
                    "clients delete-all",
                    format!(
                        "refusing to delete {} API client(s) without --yes",
                        clients.len()
                    ),
                ));
            }
            let mut failed = 0;
            for client in &clients {
                match p.delete_client(&client.id).await {
                    Ok(()) => app.info(format!("deleted {} ({})", client.name, client.id)),
                    Err(e) => {
                        failed += 1;
                        eprintln!("{}", api(&c, "clients delete-all")(e));
                    }
                }
            }
            if failed > 0 {
                return Err(CliError::exit_with(
                    exit::PARTIAL,
                    "clients delete-all",
                    format!("{failed} of {} API client(s) not deleted", clients.len()),
                ));
            }
        }
    }
    Ok(())
}

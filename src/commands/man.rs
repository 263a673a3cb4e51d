//! `agentctl man [--dir DIR]`: man pages from the command line's own definition (clap_mangen):
//! `agentctl.1` on stdout, or with `--dir` that page plus one per subcommand
//! (`agentctl-stale.1`, `agentctl-se-stale.1`, …).

use std::io::Write;
use std::path::Path;

use crate::error::{CliError, CliResult};

fn render(cmd: &clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(cmd.clone()).render(out)
}

/// Write `cmd`'s page as `<prefix>.1` and recurse into visible subcommands.
fn write_tree(
    cmd: &clap::Command,
    prefix: &str,
    words: &str,
    dir: &Path,
    written: &mut usize,
) -> CliResult {
    let path = dir.join(format!("{prefix}.1"));
    let mut file = std::fs::File::create(&path)
        .map_err(|e| CliError::usage("man", format!("cannot create {}: {e}", path.display())))?;
    render(cmd, &mut file)?;
    *written += 1;
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let name = format!("{prefix}-{}", sub.get_name());
        let full = format!("{words} {}", sub.get_name());
        // The page's title and synopsis name the full command (`agentctl se stale`).
        let sub = sub
            .clone()
            .name(name.clone())
            .bin_name(full.clone())
            .display_name(name.clone());
        write_tree(&sub, &name, &full, dir, written)?;
    }
    Ok(())
}

pub fn run(dir: Option<&Path>, quiet: bool) -> CliResult {
    let mut cmd = crate::help::command();
    cmd.build();
    match dir {
        None => {
            let mut out = std::io::stdout().lock();
            render(&cmd, &mut out)?;
            out.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                CliError::usage("man", format!("cannot create {}: {e}", dir.display()))
            })?;
            let mut written = 0;
            write_tree(&cmd, "agentctl", "agentctl", dir, &mut written)?;
            if !quiet {
                crate::error::eprint_line(&format!(
                    "{written} man pages written to {}",
                    dir.display()
                ));
            }
        }
    }
    Ok(())
}

//! `--out FILE` written safely: into a temporary file in the same directory, renamed over
//! FILE only when the output is complete, so an interrupted or failed run never leaves a
//! truncated file under the final name (a reviewer could otherwise take half a plan for all
//! of it). A FILE that exists and is not a regular file (`/dev/stdout`, a FIFO) is written
//! directly: renaming over it would replace the device or pipe.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// The file to write to, and what completes it.
pub struct AtomicOut {
    pub file: File,
    /// Renames the temporary file into place; dropping it unused removes the temporary file.
    pub commit: Commit,
}

/// Finishes an [`AtomicOut`]: see [`Commit::commit`].
pub struct Commit {
    /// `(temporary, final)`; `None` when writing directly.
    paths: Option<(PathBuf, PathBuf)>,
}

impl Commit {
    /// Move the complete output into place.
    pub fn commit(mut self) -> io::Result<()> {
        match self.paths.take() {
            Some((tmp, dest)) => std::fs::rename(&tmp, &dest).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Commit {
    fn drop(&mut self) {
        if let Some((tmp, _)) = self.paths.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Open `dest` for writing through a temporary file next to it (see the module docs).
pub fn create(dest: &Path) -> io::Result<AtomicOut> {
    match std::fs::metadata(dest) {
        Ok(meta) if !meta.is_file() && !meta.is_dir() => {
            return Ok(AtomicOut {
                file: OpenOptions::new().write(true).open(dest)?,
                commit: Commit { paths: None },
            });
        }
        _ => {}
    }
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let existing = std::fs::metadata(dest).ok().filter(|m| m.is_file());
    let mut attempt = 0u32;
    loop {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.{attempt}.tmp", std::process::id()));
        let tmp = dir.join(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => {
                if let Some(meta) = &existing {
                    // Keep the permissions the reader of the old file relied on.
                    let _ = file.set_permissions(meta.permissions());
                }
                return Ok(AtomicOut {
                    file,
                    commit: Commit {
                        paths: Some((tmp, dest.to_path_buf())),
                    },
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_final_name_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("plan.csv");
        std::fs::write(&dest, "old complete plan\n").unwrap();
        let mut out = create(&dest).unwrap();
        out.file.write_all(b"half a pl").unwrap();
        assert_eq!(
            std::fs::read_to_string(&dest).unwrap(),
            "old complete plan\n"
        );
        // Abandoned (error, interruption): the old file stays, no temporary file is left.
        drop(out);
        assert_eq!(
            std::fs::read_to_string(&dest).unwrap(),
            "old complete plan\n"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let mut out = create(&dest).unwrap();
        out.file.write_all(b"new plan\n").unwrap();
        out.commit.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new plan\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn special_files_are_written_directly() {
        let mut out = create(Path::new("/dev/null")).unwrap();
        out.file.write_all(b"x").unwrap();
        out.commit.commit().unwrap();
        assert!(Path::new("/dev/null").exists());
    }
}

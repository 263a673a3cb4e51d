//! Files that receive a secret (`clients create|rotate --save FILE`, or `--out FILE` when
//! the output carries a secret): always a new file, mode 0600 from the moment it exists,
//! never reached through a symbolic link, never an existing file overwritten.

use std::fs::File;
use std::io;
use std::path::Path;

/// Why a secret file could not be created.
#[derive(Debug)]
pub enum Refused {
    /// Something (a file, a directory, a symbolic link) is already at the path.
    Exists,
    Io(io::Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Exists => {
                f.write_str("it already exists (a secret is only written to a new file)")
            }
            Refused::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Create `path` for a secret: `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600 (the umask can
/// only remove bits). An existing path, a symbolic link (even a dangling one) included, is
/// refused.
pub fn create(path: &Path) -> Result<File, Refused> {
    if path.symlink_metadata().is_ok() {
        return Err(Refused::Exists);
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    opts.open(path).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => Refused::Exists,
        _ => Refused::Io(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_new_file_is_0600_and_anything_existing_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.json");
        let mut f = create(&path).unwrap();
        f.write_all(b"s").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(create(&path), Err(Refused::Exists)));
        assert!(matches!(create(dir.path()), Err(Refused::Exists)));
        #[cfg(unix)]
        {
            let target = dir.path().join("target");
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            assert!(matches!(create(&link), Err(Refused::Exists)));
            assert!(!target.exists(), "nothing created through a dangling link");
        }
        assert!(matches!(
            create(&dir.path().join("missing-dir/x")),
            Err(Refused::Io(_))
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "s");
    }
}

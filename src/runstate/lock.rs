//! One run at a time: an advisory lock on a file next to what a run changes (a journal, the
//! sandbox state dir).
//!
//! The lock is the operating system's advisory file lock (`flock` on Unix, `LockFileEx` on
//! Windows, through std's `File::try_lock`), so it vanishes with the process however it ends,
//! `kill -9` included: there are no stale lock files to clean up. The holder writes its pid
//! into the lock file, and a second run names it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Another process holds the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The holder's pid as it wrote it (absent when it has not written it yet).
    pub pid: Option<u32>,
    /// What the holder is doing (`agentctl uninstall …`), as it wrote it.
    pub what: Option<String>,
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.pid, &self.what) {
            (Some(pid), Some(what)) => write!(f, "pid {pid} ({what})"),
            (Some(pid), None) => write!(f, "pid {pid}"),
            _ => f.write_str("another agentctl process"),
        }
    }
}

fn open(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

fn holder(file: &mut File) -> Held {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    let mut lines = text.lines();
    let pid = lines.next().and_then(|l| l.trim().parse().ok());
    let what = lines.next().map(str::to_string).filter(|s| !s.is_empty());
    Held { pid, what }
}

fn claim(mut file: File, path: &Path, what: &str) -> io::Result<RunLock> {
    file.set_len(0)?;
    file.rewind()?;
    // One line each: pid, then what the run is (no secrets: a command name and a path).
    let what: String = what.chars().filter(|c| !c.is_control()).collect();
    file.write_all(format!("{}\n{what}\n", std::process::id()).as_bytes())?;
    file.flush()?;
    Ok(RunLock {
        _file: file,
        path: path.to_path_buf(),
    })
}

/// Take the lock at `path` if it is free; `Ok(Err(held))` names the holder when it is not.
pub fn try_acquire(path: &Path, what: &str) -> io::Result<Result<RunLock, Held>> {
    let mut file = open(path)?;
    match file.try_lock() {
        Ok(()) => claim(file, path, what).map(Ok),
        Err(TryLockError::WouldBlock) => Ok(Err(holder(&mut file))),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Take the lock at `path`, waiting for the holder to finish; `on_wait` is told who holds it
/// before waiting starts.
pub async fn acquire_waiting(
    path: &Path,
    what: &str,
    on_wait: impl FnOnce(&Held),
) -> io::Result<RunLock> {
    let mut file = open(path)?;
    match file.try_lock() {
        Ok(()) => return claim(file, path, what),
        Err(TryLockError::WouldBlock) => on_wait(&holder(&mut file)),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    let blocking = file.try_clone()?;
    tokio::task::spawn_blocking(move || blocking.lock())
        .await
        .map_err(io::Error::other)??;
    claim(file, path, what)
}

/// Is the lock at `path` held by a live process right now? (A missing file is not held.)
pub fn is_held(path: &Path) -> bool {
    let Ok(file) = OpenOptions::new().read(true).open(path) else {
        return false;
    };
    matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn second_holder_is_refused_then_gets_it_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/j.jsonl.lock");
        let first = try_acquire(&path, "agentctl uninstall plan.csv")
            .unwrap()
            .unwrap();
        assert_eq!(first.path(), path);
        let held = try_acquire(&path, "other").unwrap().unwrap_err();
        assert_eq!(held.pid, Some(std::process::id()));
        assert_eq!(held.what.as_deref(), Some("agentctl uninstall plan.csv"));
        assert!(held.to_string().starts_with("pid "));

        let waiter = {
            let path = path.clone();
            tokio::spawn(async move {
                let mut told = None;
                let lock = acquire_waiting(&path, "second", |h| told = Some(h.clone()))
                    .await
                    .unwrap();
                (lock, told)
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "waits while the first holds it");
        drop(first);
        let (second, told) = waiter.await.unwrap();
        assert_eq!(told.unwrap().pid, Some(std::process::id()));
        let held = try_acquire(&path, "third").unwrap().unwrap_err();
        assert_eq!(held.what.as_deref(), Some("second"));
        assert!(is_held(&path));
        drop(second);
        assert!(!is_held(&path));
        assert!(!is_held(&dir.path().join("missing.lock")));
        assert!(try_acquire(&path, "fourth").unwrap().is_ok());
    }
}

//! One file per command (`uninstall.rs` serves `remove` too: the same flow, another action).

pub mod apply;
pub mod clients;
pub mod completions;
pub mod config;
pub mod doctor;
pub mod duplicates;
pub mod gaps;
pub mod list;
pub mod listing;
pub mod man;
pub mod relocate;
pub mod report;
pub mod restore;
pub mod runs;
pub mod stale;
pub mod uninstall;

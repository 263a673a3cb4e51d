//! Sorting more rows than should be held in memory: the stable order of `list` and `stale`
//! (provider, host name, agent id) at a million agents.
//!
//! Items are kept in memory until their estimated size reaches a budget; then the run is
//! sorted and written to an unnamed temporary file (created `0600` in the temp directory and
//! unlinked at once, so the operating system removes it when agentctl exits, however it
//! exits, and no other user can open it by name). At the end the runs are merged with a
//! k-way merge. A listing that fits the budget never touches the disk.
//!
//! The order is exactly that of a stable in-memory sort by key: equal keys keep their
//! arrival order (within a run by the stable sort, across runs by preferring the earlier
//! run).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Default memory budget of the in-memory runs of one listing (estimated bytes).
pub const RUN_BUDGET: usize = 12 << 20;

/// The run budget: [`RUN_BUDGET`], or `AGENTCTL_SPILL_BUDGET` bytes (a test hook: a tiny
/// budget makes small test fleets take the spilling path).
pub fn run_budget() -> usize {
    std::env::var("AGENTCTL_SPILL_BUDGET")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(RUN_BUDGET)
}

/// An estimate of the heap and inline bytes a value holds in memory.
pub trait Weigh {
    fn weigh(&self) -> usize;
}

impl Weigh for String {
    fn weigh(&self) -> usize {
        std::mem::size_of::<String>() + self.capacity()
    }
}

impl<A: Weigh, B: Weigh> Weigh for (A, B) {
    fn weigh(&self) -> usize {
        self.0.weigh() + self.1.weigh()
    }
}

impl<A: Weigh, B: Weigh, C: Weigh> Weigh for (A, B, C) {
    fn weigh(&self) -> usize {
        self.0.weigh() + self.1.weigh() + self.2.weigh()
    }
}

impl<A: Weigh, B: Weigh, C: Weigh, D: Weigh> Weigh for (A, B, C, D) {
    fn weigh(&self) -> usize {
        self.0.weigh() + self.1.weigh() + self.2.weigh() + self.3.weigh()
    }
}

macro_rules! weigh_plain {
    ($($t:ty),*) => {
        $(impl Weigh for $t {
            fn weigh(&self) -> usize {
                std::mem::size_of::<$t>()
            }
        })*
    };
}
weigh_plain!(u16, u32, u64, usize);

impl Weigh for serde_json::Value {
    fn weigh(&self) -> usize {
        use serde_json::Value;
        std::mem::size_of::<Value>()
            + match self {
                Value::Null | Value::Bool(_) | Value::Number(_) => 0,
                Value::String(s) => s.capacity(),
                Value::Array(items) => items.iter().map(Weigh::weigh).sum(),
                // An ordered map entry: the key, the value, its hash and index slots.
                Value::Object(map) => map.iter().map(|(k, v)| k.weigh() + v.weigh() + 16).sum(),
            }
    }
}

impl Weigh for agentctl_core::AgentRecord {
    fn weigh(&self) -> usize {
        let strings = |v: &[String]| v.iter().map(Weigh::weigh).sum::<usize>();
        let opt = |v: &Option<String>| v.as_ref().map_or(0, String::capacity);
        std::mem::size_of::<Self>()
            + self.provider.capacity()
            + self.kind.capacity()
            + self.agent_id.capacity()
            + self.hostname.capacity()
            + opt(&self.os)
            + opt(&self.agent_version)
            + opt(&self.group)
            + opt(&self.serial_number)
            + strings(&self.ip_addresses)
            + strings(&self.mac_addresses)
            + if self.raw.is_null() {
                0
            } else {
                self.raw.weigh()
            }
    }
}

/// Sorts `(key, item)` pairs by key within a memory budget, spilling sorted runs to
/// temporary files (see the module docs).
pub struct ExternalSort<K, T> {
    budget: usize,
    used: usize,
    buf: Vec<(K, T)>,
    runs: Vec<File>,
}

impl<K, T> ExternalSort<K, T>
where
    K: Ord + Weigh + Serialize + DeserializeOwned,
    T: Weigh + Serialize + DeserializeOwned,
{
    /// A sorter whose in-memory run holds about `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            budget: budget.max(1),
            used: 0,
            buf: Vec::new(),
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, key: K, item: T) -> io::Result<()> {
        self.used += key.weigh() + item.weigh();
        self.buf.push((key, item));
        if self.used >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// How many runs went to disk so far.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    fn spill(&mut self) -> io::Result<()> {
        // Stable: equal keys keep their arrival order.
        self.buf.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
        for pair in self.buf.drain(..) {
            serde_json::to_writer(&mut out, &pair)?;
            out.write_all(b"\n")?;
        }
        let mut file = out.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        self.runs.push(file);
        self.used = 0;
        // Give the run's memory back rather than keep a vector of the peak size.
        self.buf = Vec::new();
        Ok(())
    }

    /// Every item in key order.
    pub fn finish(mut self) -> io::Result<Sorted<K, T>> {
        if self.runs.is_empty() {
            self.buf.sort_by(|a, b| a.0.cmp(&b.0));
            return Ok(Sorted::Memory(self.buf.into_iter()));
        }
        if !self.buf.is_empty() {
            self.spill()?;
        }
        tracing::info!(
            "sorted in {} runs spilled to temporary files (memory budget {} KiB)",
            self.runs.len(),
            self.budget / 1024
        );
        let mut readers: Vec<RunReader<K, T>> = self
            .runs
            .into_iter()
            .map(|f| RunReader {
                lines: BufReader::with_capacity(1 << 16, f),
                line: String::new(),
                _item: std::marker::PhantomData,
            })
            .collect();
        let mut heap = BinaryHeap::with_capacity(readers.len());
        let mut heads = Vec::with_capacity(readers.len());
        for (i, r) in readers.iter_mut().enumerate() {
            match r.next()? {
                Some((k, t)) => {
                    heap.push(Reverse((k, i)));
                    heads.push(Some(t));
                }
                None => heads.push(None),
            }
        }
        Ok(Sorted::Merge(Merge {
            readers,
            heap,
            heads,
        }))
    }
}

struct RunReader<K, T> {
    lines: BufReader<File>,
    line: String,
    _item: std::marker::PhantomData<(K, T)>,
}

impl<K: DeserializeOwned, T: DeserializeOwned> RunReader<K, T> {
    fn next(&mut self) -> io::Result<Option<(K, T)>> {
        self.line.clear();
        if self.lines.read_line(&mut self.line)? == 0 {
            return Ok(None);
        }
        serde_json::from_str(&self.line)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// A k-way merge of sorted runs: the heap holds each run's next key and the run's index
/// (the earlier run wins a tie, keeping arrival order).
pub struct Merge<K, T> {
    readers: Vec<RunReader<K, T>>,
    heap: BinaryHeap<Reverse<(K, usize)>>,
    heads: Vec<Option<T>>,
}

/// The items of an [`ExternalSort`] in key order.
pub enum Sorted<K, T> {
    Memory(std::vec::IntoIter<(K, T)>),
    Merge(Merge<K, T>),
}

impl<K, T> Iterator for Sorted<K, T>
where
    K: Ord + DeserializeOwned,
    T: DeserializeOwned,
{
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        match self {
            Sorted::Memory(items) => items.next().map(|(_, t)| Ok(t)),
            Sorted::Merge(m) => {
                let Reverse((_, i)) = m.heap.pop()?;
                let item = m.heads[i].take()?;
                match m.readers[i].next() {
                    Ok(Some((k, t))) => {
                        m.heap.push(Reverse((k, i)));
                        m.heads[i] = Some(t);
                    }
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
                Some(Ok(item))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sorted(items: &[(u32, String)], budget: usize) -> (Vec<String>, usize) {
        let mut s = ExternalSort::new(budget);
        for (k, v) in items {
            s.push(*k, v.clone()).unwrap();
        }
        let runs = s.spilled_runs();
        let out = s.finish().unwrap().map(Result::unwrap).collect();
        (out, runs)
    }

    #[test]
    fn small_inputs_stay_in_memory_and_large_ones_spill_to_the_same_order() {
        let items: Vec<(u32, String)> = (0..2000u32)
            .map(|i| ((i * 7919) % 101, format!("item-{i}")))
            .collect();
        let (in_memory, runs) = sorted(&items, usize::MAX);
        assert_eq!(runs, 0);
        let mut expected = items.clone();
        expected.sort_by_key(|(k, _)| *k);
        let expected: Vec<String> = expected.into_iter().map(|(_, v)| v).collect();
        assert_eq!(in_memory, expected);
        let (spilled, runs) = sorted(&items, 4096);
        assert!(runs > 10, "{runs} runs");
        assert_eq!(spilled, expected, "equal keys keep their arrival order");
    }

    #[test]
    fn records_with_raw_json_survive_a_spill_unchanged() {
        let record = |i: u32| agentctl_core::AgentRecord {
            provider: "se".into(),
            kind: "secure-endpoint".into(),
            agent_id: format!("id-{i}"),
            hostname: format!("HOST-{}", 50 - i % 50),
            last_seen: Some(jiff::Timestamp::from_second(1_700_000_000 + i as i64).unwrap()),
            os: Some("Windows 11".into()),
            agent_version: None,
            ip_addresses: vec!["10.0.0.1".into(), "2001:db8::1".into()],
            group: Some("Ünïcode \u{7}".into()),
            mac_addresses: vec!["aa:bb:cc:dd:ee:ff".into()],
            serial_number: Some("SN1".into()),
            pending_uninstall: i.is_multiple_of(3),
            raw: serde_json::json!({"z": 1.5, "a": [1, "x", null], "n": {"b": true}, "i": i}),
        };
        let records: Vec<_> = (0..300).map(record).collect();
        let key = |r: &agentctl_core::AgentRecord| {
            (
                r.hostname.to_lowercase(),
                r.hostname.clone(),
                r.agent_id.clone(),
            )
        };
        let mut s = ExternalSort::new(8 << 10);
        for r in &records {
            s.push(key(r), r.clone()).unwrap();
        }
        assert!(s.spilled_runs() > 1);
        let out: Vec<_> = s.finish().unwrap().map(Result::unwrap).collect();
        let mut expected = records.clone();
        expected.sort_by_key(key);
        assert_eq!(out, expected);
        // The raw JSON keeps its key order and numbers when written out again.
        assert_eq!(out[0].raw.to_string(), expected[0].raw.to_string());
    }

    proptest! {
        #[test]
        fn any_budget_gives_the_stable_in_memory_order(
            items in proptest::collection::vec((0u32..20, "[a-c]{0,3}"), 0..200),
            budget in 1usize..2000,
        ) {
            let (out, _) = sorted(&items, budget);
            let mut expected = items.clone();
            expected.sort_by_key(|(k, _)| *k);
            let expected: Vec<String> = expected.into_iter().map(|(_, v)| v).collect();
            prop_assert_eq!(out, expected);
        }
    }
}

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
//! arrival order (within a run by their position, across runs by preferring the earlier
//! run).
//!
//! Sorting moves indices, not items (an agent record is a few hundred bytes), and compares
//! keys borrowed from the items ([`SortItem::cmp_key`]), so nothing is allocated per item to
//! sort it. Runs are written in a compact length-prefixed binary form ([`SortItem::encode`]),
//! not as JSON: a spilled item costs little more than copying its bytes twice.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};

use agentctl_core::AgentRecord;

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

/// What an [`ExternalSort`] sorts: items that compare by a key read from themselves, know
/// their size in memory, and write themselves to a run file and back.
pub trait SortItem: Sized {
    /// The sort order (ties are broken by arrival, so this need not be total on items).
    fn cmp_key(&self, other: &Self) -> Ordering;
    /// A number that orders items as [`SortItem::cmp_key`] does as far as it goes: a smaller
    /// prefix means a smaller key; equal prefixes say nothing. Sorting compares prefixes
    /// first, which settles most comparisons without reading the items.
    fn prefix(&self) -> u128 {
        0
    }
    /// An estimate of the heap and inline bytes the item holds in memory.
    fn weigh(&self) -> usize;
    /// Append the item's bytes.
    fn encode(&self, out: &mut Vec<u8>);
    /// The item back from the bytes [`SortItem::encode`] wrote.
    fn decode(input: &mut Decoder<'_>) -> io::Result<Self>;
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

impl Weigh for AgentRecord {
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

/// Writes the binary form of run items: integers little-endian, strings as a `u32` length
/// and their UTF-8 bytes.
pub mod encode {
    pub fn u8(out: &mut Vec<u8>, v: u8) {
        out.push(v);
    }

    pub fn u16(out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u32(out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&v.to_le_bytes());
    }

    pub fn i128(out: &mut Vec<u8>, v: i128) {
        out.extend_from_slice(&v.to_le_bytes());
    }

    /// A byte string: its length (at most `u32::MAX`; longer is cut, which no agent field
    /// reaches: responses are capped far below) and its bytes.
    pub fn bytes(out: &mut Vec<u8>, v: &[u8]) {
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        u32(out, len);
        out.extend_from_slice(&v[..len as usize]);
    }

    pub fn str(out: &mut Vec<u8>, v: &str) {
        bytes(out, v.as_bytes());
    }

    pub fn opt_str(out: &mut Vec<u8>, v: Option<&str>) {
        match v {
            None => u8(out, 0),
            Some(s) => {
                u8(out, 1);
                str(out, s);
            }
        }
    }

    pub fn strs(out: &mut Vec<u8>, v: &[String]) {
        u32(out, u32::try_from(v.len()).unwrap_or(u32::MAX));
        for s in v.iter().take(u32::MAX as usize) {
            str(out, s);
        }
    }
}

/// Reads what [`encode`] wrote. Anything else is an `InvalidData` error, never a panic.
pub struct Decoder<'a> {
    input: &'a [u8],
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("sort run file: {what}"))
}

impl<'a> Decoder<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.input.len() < n {
            return Err(invalid("item cut short"));
        }
        let (head, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub fn u8(&mut self) -> io::Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> io::Result<u16> {
        self.array().map(u16::from_le_bytes)
    }

    pub fn u32(&mut self) -> io::Result<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub fn i128(&mut self) -> io::Result<i128> {
        self.array().map(i128::from_le_bytes)
    }

    pub fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    pub fn string(&mut self) -> io::Result<String> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| invalid("text is not UTF-8"))
    }

    pub fn opt_string(&mut self) -> io::Result<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.string().map(Some),
            _ => Err(invalid("bad option tag")),
        }
    }

    pub fn strings(&mut self) -> io::Result<Vec<String>> {
        let n = self.u32()? as usize;
        // Each string takes at least its 4-byte length: a count the input cannot hold is
        // refused before anything is reserved for it.
        if n > self.input.len() / 4 {
            return Err(invalid("list longer than the item"));
        }
        (0..n).map(|_| self.string()).collect()
    }

    /// Whether every byte of the item was read.
    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }
}

/// [`AgentRecord`] in the run file: every field, `raw` as its JSON text (kept only for
/// JSON output; `null` is one byte).
pub fn encode_record(r: &AgentRecord, out: &mut Vec<u8>) {
    encode::str(out, &r.provider);
    encode::str(out, &r.kind);
    encode::str(out, &r.agent_id);
    encode::str(out, &r.hostname);
    match r.last_seen {
        None => encode::u8(out, 0),
        Some(t) => {
            encode::u8(out, 1);
            encode::i128(out, t.as_nanosecond());
        }
    }
    encode::opt_str(out, r.os.as_deref());
    encode::opt_str(out, r.agent_version.as_deref());
    encode::strs(out, &r.ip_addresses);
    encode::opt_str(out, r.group.as_deref());
    encode::strs(out, &r.mac_addresses);
    encode::opt_str(out, r.serial_number.as_deref());
    encode::u8(out, u8::from(r.pending_uninstall));
    if r.raw.is_null() {
        encode::u8(out, 0);
    } else {
        encode::u8(out, 1);
        // Serialising a `Value` to memory cannot fail (its keys are strings).
        let text = serde_json::to_vec(&r.raw).unwrap_or_else(|_| b"null".to_vec());
        encode::bytes(out, &text);
    }
}

/// The record [`encode_record`] wrote.
pub fn decode_record(d: &mut Decoder<'_>) -> io::Result<AgentRecord> {
    Ok(AgentRecord {
        provider: d.string()?,
        kind: d.string()?,
        agent_id: d.string()?,
        hostname: d.string()?,
        last_seen: match d.u8()? {
            0 => None,
            1 => Some(
                jiff::Timestamp::from_nanosecond(d.i128()?)
                    .map_err(|_| invalid("time out of range"))?,
            ),
            _ => return Err(invalid("bad time tag")),
        },
        os: d.opt_string()?,
        agent_version: d.opt_string()?,
        ip_addresses: d.strings()?,
        group: d.opt_string()?,
        mac_addresses: d.strings()?,
        serial_number: d.opt_string()?,
        pending_uninstall: d.u8()? != 0,
        raw: match d.u8()? {
            0 => serde_json::Value::Null,
            1 => serde_json::from_slice(d.bytes()?)
                .map_err(|e| invalid(&format!("raw JSON: {e}")))?,
            _ => return Err(invalid("bad raw tag")),
        },
    })
}

/// An agent record in the stable order of listings: provider (its index among the selected
/// ones), host name case-insensitively, then exactly, then agent id.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered {
    /// Index of the provider among the selected ones (sorted by name).
    pub provider: u16,
    /// A caller's number for the record (`stale`: its index in the fleet).
    pub index: u32,
    /// The host name lower-cased, only when that differs from the host name.
    lower: Option<Box<str>>,
    /// The provider index, then the first 14 bytes of the lower-cased host name (zeros
    /// after its end): see [`SortItem::prefix`].
    prefix: u128,
    pub record: AgentRecord,
}

impl Ordered {
    pub fn new(provider: u16, index: u32, record: AgentRecord) -> Self {
        let host = record.hostname.as_str();
        // Lower-casing changes nothing in ASCII text without capitals: no copy then.
        let lower = if host
            .bytes()
            .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
        {
            Some(host.to_lowercase())
                .filter(|l| l != host)
                .map(String::into_boxed_str)
        } else {
            None
        };
        let mut bytes = [0u8; 16];
        bytes[..2].copy_from_slice(&provider.to_be_bytes());
        let lowered = lower.as_deref().unwrap_or(host).as_bytes();
        let n = lowered.len().min(14);
        bytes[2..2 + n].copy_from_slice(&lowered[..n]);
        Self {
            provider,
            index,
            lower,
            prefix: u128::from_be_bytes(bytes),
            record,
        }
    }

    /// A record as an output row of `list` or `stale`: rows never show identity hints (MAC
    /// addresses, serial number), so they are dropped before the record is sorted or
    /// spilled.
    pub fn row(provider: u16, index: u32, mut record: AgentRecord) -> Self {
        record.mac_addresses = Vec::new();
        record.serial_number = None;
        Self::new(provider, index, record)
    }

    /// The key: provider, host name lower-cased, host name, agent id.
    fn key(&self) -> (u16, &str, &str, &str) {
        let host = self.record.hostname.as_str();
        (
            self.provider,
            self.lower.as_deref().unwrap_or(host),
            host,
            &self.record.agent_id,
        )
    }
}

impl SortItem for Ordered {
    fn cmp_key(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }

    fn prefix(&self) -> u128 {
        self.prefix
    }

    fn weigh(&self) -> usize {
        std::mem::size_of::<Self>() - std::mem::size_of::<AgentRecord>()
            + self.lower.as_ref().map_or(0, |l| l.len())
            + self.record.weigh()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        encode::u16(out, self.provider);
        encode::u32(out, self.index);
        encode_record(&self.record, out);
    }

    fn decode(d: &mut Decoder<'_>) -> io::Result<Self> {
        let provider = d.u16()?;
        let index = d.u32()?;
        let record = decode_record(d)?;
        Ok(Self::new(provider, index, record))
    }
}

/// Sorts items within a memory budget, spilling sorted runs to temporary files (see the
/// module docs).
pub struct ExternalSort<T> {
    budget: usize,
    used: usize,
    buf: Vec<T>,
    runs: Vec<File>,
}

/// The positions of `items` in key order; equal keys keep their positions' order.
fn sorted_order<T: SortItem>(items: &[T]) -> Vec<usize> {
    let mut order: Vec<(u128, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.prefix(), i))
        .collect();
    order.sort_unstable_by(|&(pa, a), &(pb, b)| {
        pa.cmp(&pb)
            .then_with(|| items[a].cmp_key(&items[b]))
            .then(a.cmp(&b))
    });
    order.into_iter().map(|(_, i)| i).collect()
}

impl<T: SortItem> ExternalSort<T> {
    /// A sorter whose in-memory run holds about `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            budget: budget.max(1),
            used: 0,
            buf: Vec::new(),
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, item: T) -> io::Result<()> {
        self.used += item.weigh();
        self.buf.push(item);
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
        let order = sorted_order(&self.buf);
        let mut out = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
        let mut frame = Vec::with_capacity(1024);
        for i in order {
            frame.clear();
            self.buf[i].encode(&mut frame);
            let len =
                u32::try_from(frame.len()).map_err(|_| invalid("an item larger than 4 GiB"))?;
            out.write_all(&len.to_le_bytes())?;
            out.write_all(&frame)?;
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
    pub fn finish(self) -> io::Result<Sorted<T>> {
        if self.runs.is_empty() {
            let order = sorted_order(&self.buf);
            let items: Vec<Option<T>> = self.buf.into_iter().map(Some).collect();
            return Ok(Sorted::Memory {
                items,
                order: order.into_iter(),
            });
        }
        tracing::info!(
            "sorted in {} runs spilled to temporary files and {} in memory (memory budget {} KiB)",
            self.runs.len(),
            usize::from(!self.buf.is_empty()),
            self.budget / 1024
        );
        let mut sources: Vec<Run<T>> = self
            .runs
            .into_iter()
            .map(|f| {
                Run::File(RunReader {
                    file: BufReader::with_capacity(1 << 16, f),
                    frame: Vec::new(),
                })
            })
            .collect();
        // The last run is merged from memory rather than written out and read back: it is
        // held already, and it came last, so it loses ties to every spilled run.
        if !self.buf.is_empty() {
            let order = sorted_order(&self.buf);
            sources.push(Run::Memory {
                items: self.buf.into_iter().map(Some).collect(),
                order: order.into_iter(),
            });
        }
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (run, r) in sources.iter_mut().enumerate() {
            if let Some(item) = r.next()? {
                heap.push(Head { item, run });
            }
        }
        Ok(Sorted::Merge(Merge { sources, heap }))
    }
}

/// One sorted run of a merge: a spilled file, or the last run still in memory.
enum Run<T> {
    File(RunReader),
    Memory {
        items: Vec<Option<T>>,
        order: std::vec::IntoIter<usize>,
    },
}

impl<T: SortItem> Run<T> {
    fn next(&mut self) -> io::Result<Option<T>> {
        match self {
            Run::File(r) => r.next(),
            Run::Memory { items, order } => Ok(order
                .next()
                .and_then(|i| items.get_mut(i))
                .and_then(Option::take)),
        }
    }
}

/// One run file, read item by item.
struct RunReader {
    file: BufReader<File>,
    frame: Vec<u8>,
}

impl RunReader {
    fn next<T: SortItem>(&mut self) -> io::Result<Option<T>> {
        if self.file.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let mut len = [0u8; 4];
        self.file.read_exact(&mut len)?;
        let len = u32::from_le_bytes(len) as usize;
        self.frame.resize(len, 0);
        self.file.read_exact(&mut self.frame)?;
        let mut d = Decoder::new(&self.frame);
        let item = T::decode(&mut d)?;
        if !d.is_empty() {
            return Err(invalid("trailing bytes after an item"));
        }
        Ok(Some(item))
    }
}

/// The next item of one run in the merge. The heap is a max-heap, so the order is reversed:
/// the smallest key comes first, and of equal keys the earlier run's (arrival order).
struct Head<T> {
    item: T,
    run: usize,
}

impl<T: SortItem> Ord for Head<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .item
            .prefix()
            .cmp(&self.item.prefix())
            .then_with(|| other.item.cmp_key(&self.item))
            .then(other.run.cmp(&self.run))
    }
}

impl<T: SortItem> PartialOrd for Head<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: SortItem> PartialEq for Head<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T: SortItem> Eq for Head<T> {}

/// A k-way merge of sorted runs.
pub struct Merge<T> {
    sources: Vec<Run<T>>,
    heap: BinaryHeap<Head<T>>,
}

/// The items of an [`ExternalSort`] in key order.
pub enum Sorted<T> {
    Memory {
        items: Vec<Option<T>>,
        order: std::vec::IntoIter<usize>,
    },
    Merge(Merge<T>),
}

impl<T: SortItem> Iterator for Sorted<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        match self {
            Sorted::Memory { items, order } => {
                let i = order.next()?;
                items.get_mut(i).and_then(Option::take).map(Ok)
            }
            Sorted::Merge(m) => {
                let Head { item, run } = m.heap.pop()?;
                match m.sources.get_mut(run).map(Run::next) {
                    Some(Ok(Some(next))) => m.heap.push(Head { item: next, run }),
                    Some(Ok(None)) | None => {}
                    Some(Err(e)) => return Some(Err(e)),
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

    /// A key and a value that does not take part in the order.
    #[derive(Debug, Clone, PartialEq)]
    struct Item(u32, String);

    impl SortItem for Item {
        fn cmp_key(&self, other: &Self) -> Ordering {
            self.0.cmp(&other.0)
        }
        fn weigh(&self) -> usize {
            4 + self.1.weigh()
        }
        fn encode(&self, out: &mut Vec<u8>) {
            encode::u32(out, self.0);
            encode::str(out, &self.1);
        }
        fn decode(d: &mut Decoder<'_>) -> io::Result<Self> {
            Ok(Item(d.u32()?, d.string()?))
        }
    }

    fn sorted(items: &[(u32, String)], budget: usize) -> (Vec<String>, usize) {
        let mut s = ExternalSort::new(budget);
        for (k, v) in items {
            s.push(Item(*k, v.clone())).unwrap();
        }
        let runs = s.spilled_runs();
        let out = s.finish().unwrap().map(|i| i.unwrap().1).collect();
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

    fn record(i: u32) -> AgentRecord {
        AgentRecord {
            provider: "se".into(),
            kind: "secure-endpoint".into(),
            agent_id: format!("id-{}", i % 7),
            hostname: match i % 4 {
                0 => format!("HOST-{}", 50 - i % 50),
                1 => format!("host-{}", 50 - i % 50),
                2 => format!("ΣΊΣΥΦΟΣ-{}", i % 5),
                _ => format!("büro-{}", i % 5),
            },
            last_seen: (!i.is_multiple_of(5)).then(|| {
                jiff::Timestamp::from_nanosecond(1_700_000_000_123_456_789 - i128::from(i)).unwrap()
            }),
            os: Some("Windows 11".into()),
            agent_version: None,
            ip_addresses: vec!["10.0.0.1".into(), "2001:db8::1".into()],
            group: Some("Ünïcode \u{7}".into()),
            mac_addresses: vec!["aa:bb:cc:dd:ee:ff".into()],
            serial_number: Some("SN1".into()),
            pending_uninstall: i.is_multiple_of(3),
            raw: if i.is_multiple_of(2) {
                serde_json::json!({"z": 1.5, "a": [1, "x", null], "n": {"b": true}, "i": i})
            } else {
                serde_json::Value::Null
            },
        }
    }

    #[test]
    fn records_survive_a_spill_unchanged_in_the_listing_order() {
        let records: Vec<Ordered> = (0..300)
            .map(|i| Ordered::new((i % 3) as u16, i, record(i)))
            .collect();
        let mut s = ExternalSort::new(8 << 10);
        for r in &records {
            s.push(r.clone()).unwrap();
        }
        assert!(s.spilled_runs() > 1);
        let out: Vec<Ordered> = s.finish().unwrap().map(Result::unwrap).collect();
        // The order of the key tuple with an allocated lower-case host name, stable.
        let mut expected = records.clone();
        expected.sort_by_key(|o| {
            (
                o.provider,
                o.record.hostname.to_lowercase(),
                o.record.hostname.clone(),
                o.record.agent_id.clone(),
            )
        });
        assert_eq!(out, expected);
        // The raw JSON keeps its key order and numbers when written out again.
        let with_raw = out.iter().find(|o| !o.record.raw.is_null()).unwrap();
        let original = &records[with_raw.index as usize];
        assert_eq!(
            with_raw.record.raw.to_string(),
            original.record.raw.to_string()
        );
    }

    #[test]
    fn a_damaged_run_file_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        Ordered::new(1, 2, record(2)).encode(&mut bytes);
        for cut in 0..bytes.len() {
            assert!(Ordered::decode(&mut Decoder::new(&bytes[..cut])).is_err());
        }
        let mut d = Decoder::new(&bytes);
        assert_eq!(
            Ordered::decode(&mut d).unwrap(),
            Ordered::new(1, 2, record(2))
        );
        assert!(d.is_empty());
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

        #[test]
        fn host_names_sort_as_their_lower_case_copies(
            hosts in proptest::collection::vec("(long-shared-pre|LONG-Shared-Pre)?[a-zA-ZΣσςÄäİı. -]{0,6}", 0..60),
        ) {
            let items: Vec<Ordered> = hosts
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let mut r = record(i as u32);
                    r.hostname = h.clone();
                    Ordered::new(0, i as u32, r)
                })
                .collect();
            let mut s = ExternalSort::new(usize::MAX);
            for o in &items {
                s.push(o.clone()).unwrap();
            }
            let out: Vec<u32> = s.finish().unwrap().map(|o| o.unwrap().index).collect();
            let mut expected = items.clone();
            expected.sort_by_key(|o| {
                (o.record.hostname.to_lowercase(), o.record.hostname.clone(), o.record.agent_id.clone())
            });
            let expected: Vec<u32> = expected.iter().map(|o| o.index).collect();
            prop_assert_eq!(out, expected);
        }
    }
}

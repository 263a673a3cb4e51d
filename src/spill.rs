//! Sorting more rows than should be held in memory: the stable order of `list` and `stale`
//! (provider, host name, agent id) at a million agents.
//!
//! An item is written to bytes as it arrives ([`Ordered::encode`]) and its record is dropped
//! at once: the run in memory is one growing buffer of item bytes and a slot per item (its
//! place and a number that orders it, [`ByteOrder`]), about 200 bytes an agent instead of
//! the record's dozen separate strings. When the run reaches its budget it is sorted and
//! written to an unnamed temporary file (created `0600` in the temp directory and unlinked
//! at once, so the operating system removes it when agentctl exits, however it exits, and
//! no other user can open it by name). At the end the runs are merged with a k-way merge
//! and handed out one item's bytes at a time, which the caller reads into one record it
//! reuses ([`Ordered::decode_into`]): nothing is allocated per row on the way out. A
//! listing that fits the budget never touches the disk.
//!
//! The order is exactly that of a stable in-memory sort by key: equal keys keep their
//! arrival order (within a run by their position, across runs by preferring the earlier
//! run).

use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::marker::PhantomData;

use agentctl_core::AgentRecord;

/// Default memory budget of the in-memory runs of one listing (bytes of items and slots).
pub const RUN_BUDGET: usize = 12 << 20;

/// The run budget: [`RUN_BUDGET`], or `AGENTCTL_SPILL_BUDGET` bytes (a test hook: a tiny
/// budget makes small test fleets take the spilling path).
pub fn run_budget() -> usize {
    std::env::var("AGENTCTL_SPILL_BUDGET")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(RUN_BUDGET)
}

/// How an [`ExternalSort`] orders its items' bytes. Each item comes with a prefix number
/// that orders items as [`ByteOrder::cmp`] does as far as it goes (a smaller prefix means a
/// smaller key; equal prefixes say nothing): sorting compares prefixes first, which settles
/// most comparisons without reading the items.
pub trait ByteOrder {
    /// The order of two items' bytes (ties are broken by arrival, so this need not be
    /// total). Bytes read back from a damaged run file must not make it panic.
    fn cmp(a: &[u8], b: &[u8]) -> Ordering;
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

    /// A string, borrowed from the input.
    pub fn str(&mut self) -> io::Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| invalid("text is not UTF-8"))
    }

    pub fn string(&mut self) -> io::Result<String> {
        self.str().map(str::to_string)
    }

    /// A string into `out`, reusing its allocation.
    pub fn string_into(&mut self, out: &mut String) -> io::Result<()> {
        let s = self.str()?;
        out.clear();
        out.push_str(s);
        Ok(())
    }

    fn opt_tag(&mut self) -> io::Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(invalid("bad option tag")),
        }
    }

    pub fn opt_str(&mut self) -> io::Result<Option<&'a str>> {
        if self.opt_tag()? {
            self.str().map(Some)
        } else {
            Ok(None)
        }
    }

    /// An optional string into `out`, reusing the allocation it holds.
    pub fn opt_string_into(&mut self, out: &mut Option<String>) -> io::Result<()> {
        if !self.opt_tag()? {
            *out = None;
            return Ok(());
        }
        self.string_into(out.get_or_insert_default())
    }

    /// A list of strings into `out`, reusing its strings.
    pub fn strings_into(&mut self, out: &mut Vec<String>) -> io::Result<()> {
        let n = self.u32()? as usize;
        // Each string takes at least its 4-byte length: a count the input cannot hold is
        // refused before anything is reserved for it.
        if n > self.input.len() / 4 {
            return Err(invalid("list longer than the item"));
        }
        out.truncate(n);
        for i in 0..n {
            match out.get_mut(i) {
                Some(s) => self.string_into(s)?,
                None => out.push(self.string()?),
            }
        }
        Ok(())
    }

    /// Whether every byte of the item was read.
    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }
}

/// An agent record in the stable order of listings: provider (its index among the selected
/// ones), host name case-insensitively, then exactly, then agent id. This is the row the
/// sorted listing is read back into; [`Ordered::encode`] writes the bytes it sorts.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered {
    /// Index of the provider among the selected ones (sorted by name).
    pub provider: u16,
    /// A caller's number for the record (`stale`: its index in the fleet).
    pub index: u32,
    pub record: AgentRecord,
}

impl Default for Ordered {
    fn default() -> Self {
        Self {
            provider: 0,
            index: 0,
            record: AgentRecord {
                provider: String::new(),
                kind: String::new(),
                agent_id: String::new(),
                hostname: String::new(),
                last_seen: None,
                os: None,
                agent_version: None,
                ip_addresses: Vec::new(),
                group: None,
                mac_addresses: Vec::new(),
                serial_number: None,
                pending_uninstall: false,
                raw: serde_json::Value::Null,
            },
        }
    }
}

/// The sort key at the front of an item's bytes: provider, host name lower-cased (only
/// when that differs from the host name), host name, agent id. Text is compared as bytes
/// (the order of `str`), without checking it is UTF-8: that is checked when the item is
/// read back.
struct Key<'a> {
    provider: u16,
    lower: Option<&'a [u8]>,
    host: &'a [u8],
    id: &'a [u8],
}

impl<'a> Key<'a> {
    fn read(d: &mut Decoder<'a>) -> io::Result<Self> {
        let provider = d.u16()?;
        d.u32()?;
        let lower = if d.opt_tag()? { Some(d.bytes()?) } else { None };
        Ok(Self {
            provider,
            lower,
            host: d.bytes()?,
            id: d.bytes()?,
        })
    }

    fn tuple(&self) -> (u16, &'a [u8], &'a [u8], &'a [u8]) {
        (
            self.provider,
            self.lower.unwrap_or(self.host),
            self.host,
            self.id,
        )
    }
}

impl Ordered {
    /// Append a record's bytes, key first, and return its sort prefix: the provider index,
    /// then the first 14 bytes of the lower-cased host name (zeros after its end).
    pub fn encode(provider: u16, index: u32, r: &AgentRecord, out: &mut Vec<u8>) -> u128 {
        Self::write(provider, index, r, true, out)
    }

    /// [`Ordered::encode`] for an output row of `list` or `stale`: rows never show identity
    /// hints (MAC addresses, serial number), so they are left out of the bytes.
    pub fn encode_row(provider: u16, index: u32, r: &AgentRecord, out: &mut Vec<u8>) -> u128 {
        Self::write(provider, index, r, false, out)
    }

    fn write(provider: u16, index: u32, r: &AgentRecord, hints: bool, out: &mut Vec<u8>) -> u128 {
        let host = r.hostname.as_str();
        // Lower-casing changes nothing in ASCII text without capitals: no copy then.
        let lower = if host
            .bytes()
            .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
        {
            Some(host.to_lowercase()).filter(|l| l != host)
        } else {
            None
        };
        let mut prefix = [0u8; 16];
        prefix[..2].copy_from_slice(&provider.to_be_bytes());
        let lowered = lower.as_deref().unwrap_or(host).as_bytes();
        let n = lowered.len().min(14);
        prefix[2..2 + n].copy_from_slice(&lowered[..n]);

        encode::u16(out, provider);
        encode::u32(out, index);
        encode::opt_str(out, lower.as_deref());
        encode::str(out, host);
        encode::str(out, &r.agent_id);
        encode::str(out, &r.provider);
        encode::str(out, &r.kind);
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
        if hints {
            encode::strs(out, &r.mac_addresses);
            encode::opt_str(out, r.serial_number.as_deref());
        } else {
            encode::strs(out, &[]);
            encode::opt_str(out, None);
        }
        encode::u8(out, u8::from(r.pending_uninstall));
        // `raw` as its JSON text (kept only for JSON output; `null` is one byte).
        if r.raw.is_null() {
            encode::u8(out, 0);
        } else {
            encode::u8(out, 1);
            // Written in place after a length filled in once it is known. Serialising a
            // `Value` to memory cannot fail (its keys are strings).
            let at = out.len();
            encode::u32(out, 0);
            if serde_json::to_writer(&mut *out, &r.raw).is_err() {
                out.truncate(at + 4);
                out.extend_from_slice(b"null");
            }
            let len = u32::try_from(out.len() - at - 4).unwrap_or(u32::MAX);
            out[at..at + 4].copy_from_slice(&len.to_le_bytes());
        }
        u128::from_be_bytes(prefix)
    }

    /// Read an item's bytes back into this row, reusing the strings it holds.
    pub fn decode_into(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut d = Decoder::new(bytes);
        let r = &mut self.record;
        self.provider = d.u16()?;
        self.index = d.u32()?;
        d.opt_str()?;
        d.string_into(&mut r.hostname)?;
        d.string_into(&mut r.agent_id)?;
        d.string_into(&mut r.provider)?;
        d.string_into(&mut r.kind)?;
        r.last_seen = match d.u8()? {
            0 => None,
            1 => Some(
                jiff::Timestamp::from_nanosecond(d.i128()?)
                    .map_err(|_| invalid("time out of range"))?,
            ),
            _ => return Err(invalid("bad time tag")),
        };
        d.opt_string_into(&mut r.os)?;
        d.opt_string_into(&mut r.agent_version)?;
        d.strings_into(&mut r.ip_addresses)?;
        d.opt_string_into(&mut r.group)?;
        d.strings_into(&mut r.mac_addresses)?;
        d.opt_string_into(&mut r.serial_number)?;
        r.pending_uninstall = d.u8()? != 0;
        r.raw = match d.u8()? {
            0 => serde_json::Value::Null,
            1 => serde_json::from_slice(d.bytes()?)
                .map_err(|e| invalid(&format!("raw JSON: {e}")))?,
            _ => return Err(invalid("bad raw tag")),
        };
        if !d.is_empty() {
            return Err(invalid("trailing bytes after an item"));
        }
        Ok(())
    }
}

impl ByteOrder for Ordered {
    fn cmp(a: &[u8], b: &[u8]) -> Ordering {
        match (
            Key::read(&mut Decoder::new(a)),
            Key::read(&mut Decoder::new(b)),
        ) {
            (Ok(a), Ok(b)) => a.tuple().cmp(&b.tuple()),
            // A damaged item is reported when it is read back; any order will do here.
            (a, b) => a.is_ok().cmp(&b.is_ok()),
        }
    }
}

/// An item in a run: its sort prefix and where its bytes are in the run's buffer.
#[derive(Debug, Clone, Copy)]
struct Slot {
    prefix: u128,
    start: usize,
    end: usize,
}

/// A run in memory: item bytes one after another, and a slot per item.
#[derive(Default)]
struct MemoryRun {
    bytes: Vec<u8>,
    slots: Vec<Slot>,
}

impl MemoryRun {
    fn item(&self, slot: &Slot) -> &[u8] {
        &self.bytes[slot.start..slot.end]
    }

    /// Put the slots in key order; equal keys keep their arrival order (their bytes
    /// were appended in arrival order, so `start` tells it).
    fn sort<O: ByteOrder>(&mut self) {
        let bytes = &self.bytes;
        self.slots.sort_unstable_by(|a, b| {
            a.prefix
                .cmp(&b.prefix)
                .then_with(|| O::cmp(&bytes[a.start..a.end], &bytes[b.start..b.end]))
                .then(a.start.cmp(&b.start))
        });
    }

    /// The estimated memory the run holds.
    fn weight(&self) -> usize {
        self.bytes.len() + self.slots.len() * std::mem::size_of::<Slot>()
    }
}

/// Sorts items within a memory budget, spilling sorted runs to temporary files (see the
/// module docs).
pub struct ExternalSort<O> {
    budget: usize,
    run: MemoryRun,
    runs: Vec<File>,
    order: PhantomData<O>,
}

impl<O: ByteOrder> ExternalSort<O> {
    /// A sorter whose in-memory run holds about `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            budget: budget.max(1),
            run: MemoryRun::default(),
            runs: Vec::new(),
            order: PhantomData,
        }
    }

    /// Add an item: `write` appends its bytes and returns its sort prefix.
    pub fn push(&mut self, write: impl FnOnce(&mut Vec<u8>) -> u128) -> io::Result<()> {
        let start = self.run.bytes.len();
        let prefix = write(&mut self.run.bytes);
        let end = self.run.bytes.len();
        self.run.slots.push(Slot { prefix, start, end });
        if self.run.weight() >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// How many runs went to disk so far.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    /// Write the run in memory, sorted, to a temporary file: per item its prefix, its
    /// length and its bytes. The run's buffers are kept for the next run.
    fn spill(&mut self) -> io::Result<()> {
        self.run.sort::<O>();
        let mut out = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
        for slot in &self.run.slots {
            let item = self.run.item(slot);
            let len =
                u32::try_from(item.len()).map_err(|_| invalid("an item larger than 4 GiB"))?;
            out.write_all(&slot.prefix.to_le_bytes())?;
            out.write_all(&len.to_le_bytes())?;
            out.write_all(item)?;
        }
        let mut file = out.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        self.runs.push(file);
        self.run.bytes.clear();
        self.run.slots.clear();
        Ok(())
    }

    /// Every item in key order.
    pub fn finish(self) -> io::Result<Sorted<O>> {
        if !self.runs.is_empty() {
            tracing::info!(
                "sorted in {} runs spilled to temporary files and {} in memory (memory budget {} KiB)",
                self.runs.len(),
                usize::from(!self.run.slots.is_empty()),
                self.budget / 1024
            );
        }
        let mut sources: Vec<Source> = self
            .runs
            .into_iter()
            .map(|f| Source::File {
                file: BufReader::with_capacity(1 << 16, f),
                prefix: 0,
                frame: Vec::new(),
                live: false,
            })
            .collect();
        // The last run is merged from memory rather than written out and read back: it is
        // held already, and it came last, so it loses ties to every spilled run.
        let mut run = self.run;
        if !run.slots.is_empty() {
            run.sort::<O>();
            sources.push(Source::Memory { run, next: 0 });
        }
        let mut heap = Vec::with_capacity(sources.len());
        for (i, source) in sources.iter_mut().enumerate() {
            if source.advance()? {
                heap.push(i);
            }
        }
        let mut sorted = Sorted {
            sources,
            heap,
            taken: false,
            order: PhantomData,
        };
        for i in (0..sorted.heap.len() / 2).rev() {
            sorted.sift_down(i);
        }
        Ok(sorted)
    }
}

/// One sorted run of a merge: a spilled file, or the last run still in memory.
enum Source {
    File {
        file: BufReader<File>,
        /// The current item's prefix and bytes, while `live`.
        prefix: u128,
        frame: Vec<u8>,
        live: bool,
    },
    Memory {
        run: MemoryRun,
        /// One past the current item's slot.
        next: usize,
    },
}

impl Source {
    /// Move to the next item; false once the run is done.
    fn advance(&mut self) -> io::Result<bool> {
        match self {
            Source::File {
                file,
                prefix,
                frame,
                live,
            } => {
                *live = !file.fill_buf()?.is_empty();
                if *live {
                    let mut head = [0u8; 20];
                    file.read_exact(&mut head)?;
                    let (p, len) = head.split_at(16);
                    *prefix = u128::from_le_bytes(p.try_into().map_err(|_| invalid("prefix"))?);
                    let len = u32::from_le_bytes(len.try_into().map_err(|_| invalid("length"))?);
                    frame.resize(len as usize, 0);
                    file.read_exact(frame)?;
                }
                Ok(*live)
            }
            Source::Memory { run, next } => {
                *next += 1;
                Ok(*next <= run.slots.len())
            }
        }
    }

    /// The current item's prefix and bytes.
    fn head(&self) -> (u128, &[u8]) {
        match self {
            Source::File { prefix, frame, .. } => (*prefix, frame),
            Source::Memory { run, next } => {
                let slot = &run.slots[*next - 1];
                (slot.prefix, run.item(slot))
            }
        }
    }
}

/// The items of an [`ExternalSort`] in key order: a k-way merge of its sorted runs, a heap
/// of the runs by their current items (the smallest key first, and of equal keys the
/// earlier run's: arrival order).
pub struct Sorted<O> {
    sources: Vec<Source>,
    /// Indices of the runs with a current item, as a min-heap.
    heap: Vec<usize>,
    /// Whether the item at the top was handed out (its run moves on at the next call).
    taken: bool,
    order: PhantomData<O>,
}

impl<O: ByteOrder> Sorted<O> {
    fn less(&self, a: usize, b: usize) -> bool {
        let (pa, ia) = self.sources[a].head();
        let (pb, ib) = self.sources[b].head();
        pa.cmp(&pb)
            .then_with(|| O::cmp(ia, ib))
            .then(a.cmp(&b))
            .is_lt()
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            if l < n && self.less(self.heap[l], self.heap[least]) {
                least = l;
            }
            if r < n && self.less(self.heap[r], self.heap[least]) {
                least = r;
            }
            if least == i {
                return;
            }
            self.heap.swap(i, least);
            i = least;
        }
    }

    /// The next item's bytes, in key order (a lending iterator: the bytes are valid until
    /// the next call).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<io::Result<&[u8]>> {
        if std::mem::take(&mut self.taken) {
            let top = *self.heap.first()?;
            match self.sources[top].advance() {
                Ok(true) => {}
                Ok(false) => {
                    self.heap.swap_remove(0);
                }
                Err(e) => {
                    // The run can't be read on: it leaves the merge, and the error is said.
                    self.heap.swap_remove(0);
                    return Some(Err(e));
                }
            }
            self.sift_down(0);
        }
        let top = *self.heap.first()?;
        self.taken = true;
        Some(Ok(self.sources[top].head().1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Items of a `u32` key (big-endian, so bytes order as numbers) and a value that does not
    /// take part in the order.
    struct ByKey;

    impl ByteOrder for ByKey {
        fn cmp(a: &[u8], b: &[u8]) -> Ordering {
            a[..4].cmp(&b[..4])
        }
    }

    /// Sort `(key, value)` items, with the key as the prefix too or with no prefix at all.
    fn sorted(items: &[(u32, String)], budget: usize, prefixed: bool) -> (Vec<String>, usize) {
        let mut s = ExternalSort::<ByKey>::new(budget);
        for (k, v) in items {
            s.push(|out| {
                out.extend_from_slice(&k.to_be_bytes());
                out.extend_from_slice(v.as_bytes());
                if prefixed { u128::from(*k) } else { 0 }
            })
            .unwrap();
        }
        let runs = s.spilled_runs();
        let mut sorted = s.finish().unwrap();
        let mut out = Vec::new();
        while let Some(item) = sorted.next() {
            out.push(String::from_utf8(item.unwrap()[4..].to_vec()).unwrap());
        }
        (out, runs)
    }

    fn stable_sort(items: &[(u32, String)]) -> Vec<String> {
        let mut expected = items.to_vec();
        expected.sort_by_key(|(k, _)| *k);
        expected.into_iter().map(|(_, v)| v).collect()
    }

    #[test]
    fn small_inputs_stay_in_memory_and_large_ones_spill_to_the_same_order() {
        let items: Vec<(u32, String)> = (0..2000u32)
            .map(|i| ((i * 7919) % 101, format!("item-{i}")))
            .collect();
        let expected = stable_sort(&items);
        let (in_memory, runs) = sorted(&items, usize::MAX, true);
        assert_eq!(runs, 0);
        assert_eq!(in_memory, expected);
        let (spilled, runs) = sorted(&items, 4096, true);
        assert!(runs > 10, "{runs} runs");
        assert_eq!(spilled, expected, "equal keys keep their arrival order");
        let (unprefixed, _) = sorted(&items, 4096, false);
        assert_eq!(unprefixed, expected);
    }

    #[test]
    fn nothing_pushed_is_nothing_out() {
        assert_eq!(sorted(&[], 16, true), (Vec::new(), 0));
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
            os: (i % 4 != 1).then(|| "Windows 11".into()),
            agent_version: i.is_multiple_of(7).then(|| format!("8.{i}")),
            ip_addresses: ["10.0.0.1", "2001:db8::1", "192.0.2.7"][..(i % 4) as usize]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            group: Some("Ünïcode \u{7}".into()),
            mac_addresses: vec!["aa:bb:cc:dd:ee:ff".into()],
            serial_number: i.is_multiple_of(2).then(|| "SN1".into()),
            pending_uninstall: i.is_multiple_of(3),
            raw: if i.is_multiple_of(2) {
                serde_json::json!({"z": 1.5, "a": [1, "x", null], "n": {"b": true}, "i": i})
            } else {
                serde_json::Value::Null
            },
        }
    }

    fn ordered(provider: u16, index: u32, record: AgentRecord) -> Ordered {
        Ordered {
            provider,
            index,
            record,
        }
    }

    /// Every item of a sort of [`Ordered`] rows, read back through one reused row.
    fn read_all(s: ExternalSort<Ordered>) -> Vec<Ordered> {
        let mut sorted = s.finish().unwrap();
        let mut item = Ordered::default();
        let mut out = Vec::new();
        while let Some(bytes) = sorted.next() {
            item.decode_into(bytes.unwrap()).unwrap();
            out.push(item.clone());
        }
        out
    }

    #[test]
    fn records_survive_a_spill_unchanged_in_the_listing_order() {
        let records: Vec<Ordered> = (0..300)
            .map(|i| ordered((i % 3) as u16, i, record(i)))
            .collect();
        let mut s = ExternalSort::new(8 << 10);
        for r in &records {
            s.push(|out| Ordered::encode(r.provider, r.index, &r.record, out))
                .unwrap();
        }
        assert!(s.spilled_runs() > 1);
        // Read back through one row whose strings and lists are reused from item to item.
        let out = read_all(s);
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
    fn rows_leave_out_the_identity_hints_and_keep_the_rest() {
        let mut s = ExternalSort::new(usize::MAX);
        s.push(|out| Ordered::encode_row(0, 4, &record(4), out))
            .unwrap();
        let out = read_all(s);
        let mut expected = record(4);
        expected.mac_addresses.clear();
        expected.serial_number = None;
        assert_eq!(out, vec![ordered(0, 4, expected)]);
    }

    #[test]
    fn a_damaged_run_file_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        Ordered::encode(1, 2, &record(2), &mut bytes);
        for cut in 0..bytes.len() {
            assert!(Ordered::default().decode_into(&bytes[..cut]).is_err());
            // Comparing a damaged item does not panic either.
            let _ = <Ordered as ByteOrder>::cmp(&bytes[..cut], &bytes);
        }
        let mut item = Ordered::default();
        item.decode_into(&bytes).unwrap();
        assert_eq!(item, ordered(1, 2, record(2)));
        bytes.push(0);
        assert!(item.decode_into(&bytes).is_err(), "trailing bytes");
    }

    proptest! {
        #[test]
        fn any_budget_gives_the_stable_in_memory_order(
            items in proptest::collection::vec((0u32..20, "[a-c]{0,3}"), 0..200),
            budget in 1usize..2000,
            prefixed in any::<bool>(),
        ) {
            let (out, _) = sorted(&items, budget, prefixed);
            prop_assert_eq!(out, stable_sort(&items));
        }

        #[test]
        fn host_names_sort_as_their_lower_case_copies(
            hosts in proptest::collection::vec("(long-shared-pre|LONG-Shared-Pre)?[a-zA-ZΣσςÄäİı. -]{0,6}", 0..60),
            budget in prop_oneof![Just(usize::MAX), 1usize..4000],
        ) {
            let items: Vec<Ordered> = hosts
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let mut r = record(i as u32);
                    r.hostname = h.clone();
                    ordered(0, i as u32, r)
                })
                .collect();
            let mut s = ExternalSort::new(budget);
            for o in &items {
                s.push(|out| Ordered::encode(o.provider, o.index, &o.record, out)).unwrap();
            }
            let out: Vec<u32> = read_all(s).iter().map(|o| o.index).collect();
            let mut expected = items.clone();
            expected.sort_by_key(|o| {
                (o.record.hostname.to_lowercase(), o.record.hostname.clone(), o.record.agent_id.clone())
            });
            let expected: Vec<u32> = expected.iter().map(|o| o.index).collect();
            prop_assert_eq!(out, expected);
        }
    }
}

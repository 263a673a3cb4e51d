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

/// Writes the integers of run items, little-endian.
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

    /// Whether every byte of the item was read.
    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }
}

/// An agent record in the stable order of listings: provider (its index among the selected
/// ones), host name case-insensitively, then exactly, then agent id. This is the row the
/// sorted listing is read back into; [`Ordered::encode`] writes the bytes it sorts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ordered {
    /// Index of the provider among the selected ones (sorted by name).
    pub provider: u16,
    /// A caller's number for the record (`stale`: its index in the fleet).
    pub index: u32,
    pub record: AgentRecord,
}

/// The bytes of an [`Ordered`] item: a fixed header, where each text field ends within the
/// text, the text (every field's UTF-8 one after another, checked as one piece when the item
/// is read back), and the vendor JSON if there is one.
///
/// Header: provider index `u16`, caller's index `u32`, [`flags`] `u8`, last seen `i128`
/// (0 when absent), IP count `u32`, MAC count `u32`, text length `u32`. Then a `u32` end per
/// text field, in this order: the lower-cased host name (when it differs), host name, agent
/// id, provider name, kind, OS, agent version, each IP address, group, each MAC address,
/// serial number (the optional ones only when flagged). Then the text; then the raw JSON as
/// a `u32` length and its bytes, when flagged.
mod flags {
    pub const LOWER: u8 = 1;
    pub const SEEN: u8 = 1 << 1;
    pub const OS: u8 = 1 << 2;
    pub const VERSION: u8 = 1 << 3;
    pub const GROUP: u8 = 1 << 4;
    pub const SERIAL: u8 = 1 << 5;
    pub const PENDING: u8 = 1 << 6;
    pub const RAW: u8 = 1 << 7;
}

/// An item's bytes taken apart (nothing copied, text not yet checked).
struct Item<'a> {
    provider: u16,
    index: u32,
    flags: u8,
    seen: i128,
    ips: usize,
    macs: usize,
    ends: &'a [u8],
    text: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Item<'a> {
    fn read(bytes: &'a [u8]) -> io::Result<Self> {
        let mut d = Decoder::new(bytes);
        let provider = d.u16()?;
        let index = d.u32()?;
        let flags = d.u8()?;
        let seen = d.i128()?;
        let ips = d.u32()? as usize;
        let macs = d.u32()? as usize;
        let text_len = d.u32()? as usize;
        let optional = [
            flags::LOWER,
            flags::OS,
            flags::VERSION,
            flags::GROUP,
            flags::SERIAL,
        ]
        .iter()
        .filter(|f| flags & **f != 0)
        .count();
        // Counts the item cannot hold are refused before they are used.
        let fields = ips
            .checked_add(macs)
            .and_then(|n| n.checked_add(4 + optional))
            .and_then(|n| n.checked_mul(4))
            .ok_or_else(|| invalid("list longer than the item"))?;
        let ends = d.take(fields)?;
        let text = d.take(text_len)?;
        Ok(Self {
            provider,
            index,
            flags,
            seen,
            ips,
            macs,
            ends,
            text,
            rest: d.input,
        })
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Where text field `k` ends.
    fn end(&self, k: usize) -> usize {
        self.ends
            .get(4 * k..4 * k + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(usize::MAX, |b| u32::from_le_bytes(b) as usize)
    }

    /// The bytes of text field `k`.
    fn field(&self, k: usize) -> &'a [u8] {
        let start = if k == 0 { 0 } else { self.end(k - 1) };
        self.text.get(start..self.end(k)).unwrap_or_default()
    }

    /// The sort key: provider, host name lower-cased, host name, agent id. Compared as
    /// bytes (the order of `str`); the text is checked when the item is read back.
    fn key(&self) -> (u16, &'a [u8], &'a [u8], &'a [u8]) {
        let k = usize::from(self.has(flags::LOWER));
        let host = self.field(k);
        let lower = if k == 1 { self.field(0) } else { host };
        (self.provider, lower, host, self.field(k + 1))
    }
}

/// The text fields of an item, one after another, as checked UTF-8.
struct Fields<'a, 'b> {
    item: &'b Item<'a>,
    text: &'a str,
    next: usize,
}

impl<'a> Fields<'a, '_> {
    fn next(&mut self) -> io::Result<&'a str> {
        let k = self.next;
        self.next += 1;
        let start = if k == 0 { 0 } else { self.item.end(k - 1) };
        self.text
            .get(start..self.item.end(k))
            .ok_or_else(|| invalid("text field out of place"))
    }

    fn read_into(&mut self, out: &mut String) -> io::Result<()> {
        let s = self.next()?;
        out.clear();
        out.push_str(s);
        Ok(())
    }

    fn read_opt(&mut self, present: bool, out: &mut Option<String>) -> io::Result<()> {
        if present {
            self.read_into(out.get_or_insert_default())
        } else {
            *out = None;
            Ok(())
        }
    }

    fn read_list(&mut self, n: usize, out: &mut Vec<String>) -> io::Result<()> {
        out.truncate(n);
        for i in 0..n {
            match out.get_mut(i) {
                Some(s) => self.read_into(s)?,
                None => out.push(self.next()?.to_string()),
            }
        }
        Ok(())
    }
}

/// The host name lower-cased for the sort, when that differs from it.
enum Lower {
    /// Lower-casing changes nothing.
    Same,
    /// ASCII with capitals: lower-cased byte by byte as it is written, nothing allocated.
    Ascii,
    /// Other text: Unicode's lower case (with its rules for a final sigma).
    Unicode(String),
}

impl Ordered {
    /// Append a record's bytes and return its sort prefix: the provider index, then the
    /// first 14 bytes of the lower-cased host name (zeros after its end).
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
        let lower = if host.is_ascii() {
            if host.bytes().any(|b| b.is_ascii_uppercase()) {
                Lower::Ascii
            } else {
                Lower::Same
            }
        } else if host.chars().all(|c| {
            // Whether lower-casing leaves this character as it is. `str::to_lowercase`
            // differs from lower-casing each character only for 'Σ', which changes either
            // way: text whose every character stays is its own lower case, no copy needed.
            let mut l = c.to_lowercase();
            l.next() == Some(c) && l.next().is_none()
        }) {
            Lower::Same
        } else {
            Lower::Unicode(host.to_lowercase())
        };
        let mut prefix = [0u8; 16];
        prefix[..2].copy_from_slice(&provider.to_be_bytes());
        let lowered = match &lower {
            Lower::Unicode(l) => l.as_bytes(),
            Lower::Same | Lower::Ascii => host.as_bytes(),
        };
        let n = lowered.len().min(14);
        prefix[2..2 + n].copy_from_slice(&lowered[..n]);
        if matches!(lower, Lower::Ascii) {
            prefix[2..2 + n].make_ascii_lowercase();
        }

        let (macs, serial): (&[String], Option<&str>) = if hints {
            (&r.mac_addresses, r.serial_number.as_deref())
        } else {
            (&[], None)
        };
        let mut flag = 0u8;
        for (set, f) in [
            (!matches!(lower, Lower::Same), flags::LOWER),
            (r.last_seen.is_some(), flags::SEEN),
            (r.os.is_some(), flags::OS),
            (r.agent_version.is_some(), flags::VERSION),
            (r.group.is_some(), flags::GROUP),
            (serial.is_some(), flags::SERIAL),
            (r.pending_uninstall, flags::PENDING),
            (!r.raw.is_null(), flags::RAW),
        ] {
            if set {
                flag |= f;
            }
        }
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        encode::u16(out, provider);
        encode::u32(out, index);
        encode::u8(out, flag);
        encode::i128(out, r.last_seen.map_or(0, |t| t.as_nanosecond()));
        encode::u32(out, count(r.ip_addresses.len()));
        encode::u32(out, count(macs.len()));
        let text_len_at = out.len();
        encode::u32(out, 0);
        let fields = 4
            + usize::from(!matches!(lower, Lower::Same))
            + usize::from(r.os.is_some())
            + usize::from(r.agent_version.is_some())
            + r.ip_addresses.len()
            + usize::from(r.group.is_some())
            + macs.len()
            + usize::from(serial.is_some());
        let mut end_at = out.len();
        out.resize(end_at + 4 * fields, 0);
        let text_at = out.len();
        // Append a field's text and note where it ends.
        let mut field = |out: &mut Vec<u8>, text: &str, ascii_lower: bool| {
            out.extend_from_slice(text.as_bytes());
            if ascii_lower {
                let len = out.len();
                out[len - text.len()..].make_ascii_lowercase();
            }
            let end = count(out.len() - text_at);
            out[end_at..end_at + 4].copy_from_slice(&end.to_le_bytes());
            end_at += 4;
        };
        match &lower {
            Lower::Same => {}
            Lower::Ascii => field(out, host, true),
            Lower::Unicode(l) => field(out, l, false),
        }
        for text in [host, &r.agent_id, &r.provider, &r.kind] {
            field(out, text, false);
        }
        for text in [r.os.as_deref(), r.agent_version.as_deref()]
            .into_iter()
            .flatten()
        {
            field(out, text, false);
        }
        for ip in &r.ip_addresses {
            field(out, ip, false);
        }
        if let Some(group) = &r.group {
            field(out, group, false);
        }
        for mac in macs {
            field(out, mac, false);
        }
        if let Some(serial) = serial {
            field(out, serial, false);
        }
        let text_len = count(out.len() - text_at);
        out[text_len_at..text_len_at + 4].copy_from_slice(&text_len.to_le_bytes());
        if !r.raw.is_null() {
            // Written in place after a length filled in once it is known. Serialising a
            // `Value` to memory cannot fail (its keys are strings).
            let at = out.len();
            encode::u32(out, 0);
            if serde_json::to_writer(&mut *out, &r.raw).is_err() {
                out.truncate(at + 4);
                out.extend_from_slice(b"null");
            }
            let len = count(out.len() - at - 4);
            out[at..at + 4].copy_from_slice(&len.to_le_bytes());
        }
        u128::from_be_bytes(prefix)
    }

    /// Read an item's bytes back into this row, reusing the strings it holds.
    pub fn decode_into(&mut self, bytes: &[u8]) -> io::Result<()> {
        let item = Item::read(bytes)?;
        let text = std::str::from_utf8(item.text).map_err(|_| invalid("text is not UTF-8"))?;
        let mut f = Fields {
            item: &item,
            text,
            next: 0,
        };
        let r = &mut self.record;
        self.provider = item.provider;
        self.index = item.index;
        if item.has(flags::LOWER) {
            f.next()?;
        }
        f.read_into(&mut r.hostname)?;
        f.read_into(&mut r.agent_id)?;
        f.read_into(&mut r.provider)?;
        f.read_into(&mut r.kind)?;
        f.read_opt(item.has(flags::OS), &mut r.os)?;
        f.read_opt(item.has(flags::VERSION), &mut r.agent_version)?;
        f.read_list(item.ips, &mut r.ip_addresses)?;
        f.read_opt(item.has(flags::GROUP), &mut r.group)?;
        f.read_list(item.macs, &mut r.mac_addresses)?;
        f.read_opt(item.has(flags::SERIAL), &mut r.serial_number)?;
        if f.next != item.ends.len() / 4 || f.item.end(f.next.wrapping_sub(1)) != text.len() {
            return Err(invalid("text fields and their ends disagree"));
        }
        r.last_seen = if item.has(flags::SEEN) {
            Some(
                jiff::Timestamp::from_nanosecond(item.seen)
                    .map_err(|_| invalid("time out of range"))?,
            )
        } else {
            None
        };
        r.pending_uninstall = item.has(flags::PENDING);
        let mut rest = Decoder::new(item.rest);
        r.raw = if item.has(flags::RAW) {
            serde_json::from_slice(rest.bytes()?).map_err(|e| invalid(&format!("raw JSON: {e}")))?
        } else {
            serde_json::Value::Null
        };
        if !rest.is_empty() {
            return Err(invalid("trailing bytes after an item"));
        }
        Ok(())
    }
}

impl ByteOrder for Ordered {
    fn cmp(a: &[u8], b: &[u8]) -> Ordering {
        match (Item::read(a), Item::read(b)) {
            (Ok(a), Ok(b)) => a.key().cmp(&b.key()),
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

impl Sorted<Ordered> {
    /// The next row in key order, read into `row` (its strings reused); false once done.
    pub fn next_into(&mut self, row: &mut Ordered) -> io::Result<bool> {
        match self.next() {
            None => Ok(false),
            Some(bytes) => row.decode_into(bytes?).map(|()| true),
        }
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
        while sorted.next_into(&mut item).unwrap() {
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
        // Any one byte damaged: an error or some row, never a panic; text that is no
        // longer UTF-8 is an error.
        for at in 0..bytes.len() {
            for v in [0x00, 0x7f, 0xff] {
                let mut damaged = bytes.clone();
                damaged[at] = v;
                let _ = Ordered::default().decode_into(&damaged);
                let _ = <Ordered as ByteOrder>::cmp(&damaged, &bytes);
            }
        }
        let host_at = bytes
            .windows(record(2).hostname.len())
            .position(|w| w == record(2).hostname.as_bytes())
            .unwrap();
        let mut not_utf8 = bytes.clone();
        not_utf8[host_at] = 0xff;
        assert!(Ordered::default().decode_into(&not_utf8).is_err());
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

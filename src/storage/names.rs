//! The organization names in list order, in memory: one buffer of every folded name, the
//! end of each, and each row's rowid, valid for exactly one value of the trigger-kept
//! `organizations_version` (read in the request's own snapshot, so nothing stale is served).
//!
//! A search is a `memmem` scan of the buffer: it counts every match exactly and keeps the
//! rowids of the page's, so that only those rows are read from the database. One scan of
//! 100,000 names (about 2 MB) takes well under a millisecond; the SQL plans
//! ([`crate::storage::search`]) take tens to hundreds for terms with many matches, and their
//! cost grows with the number of distinct terms searched while this does not.
//!
//! When the index is not at the snapshot's version (a write happened since it was built),
//! the request is answered by the SQL plans and a rebuild is asked for; [`crate::storage::Db`]
//! runs it on a thread of its own, one at a time, so that no request ever waits for one.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use memchr::memmem;

use crate::storage::sql::{params, Conn};
use crate::storage::Result;

/// The folded names of every organization in (name_fold, id) order, with their rowids.
#[derive(Debug)]
pub struct NameIndex {
    /// The `organizations_version` this was read at.
    version: i64,
    /// Every name, one after the other.
    text: Vec<u8>,
    /// `ends[i]`: where name `i` ends in `text` (it starts where `i - 1` ends).
    ends: Vec<u32>,
    rids: Vec<u32>,
    /// `short[b]` / `short[256 + (a << 8 | b)]`: how many names hold byte `b` / the two
    /// bytes `a b`, so that a one- or two-byte term (most matches, the longest scans) is
    /// counted without a scan and scanned only as far as its page.
    short: Vec<u32>,
    /// For each block of `BLOCK` names, `SIG_WORDS` words: a bit for each byte pair found in
    /// them (hashed, [`pair_bit`]), so that a scan skips the blocks that cannot match.
    blocks: Vec<u64>,
}

/// Names per block of [`NameIndex::blocks`].
const BLOCK: usize = 64;
/// Words of one block's signature (1,024 bits).
const SIG_WORDS: usize = 16;

/// The signature bit of the byte pair `a b`.
fn pair_bit(a: u8, b: u8) -> usize {
    ((usize::from(a) << 8 | usize::from(b)).wrapping_mul(0x9E37_79B1) >> 7) % (SIG_WORDS * 64)
}

/// Entries of [`NameIndex::short`]: every byte, then every pair of bytes.
const SHORT: usize = 256 + 65_536;

/// Rows read at a time on PostgreSQL.
const BATCH: i64 = 20_000;

/// What a build found in place of an index.
#[derive(Debug)]
pub enum Built {
    Index(NameIndex),
    /// The names take more than the limit (or a rowid does not fit 32 bits): searches use SQL.
    TooBig,
}

impl NameIndex {
    /// Reads every organization name in list order, in the caller's snapshot; gives up once
    /// the index would take more than `limit` bytes.
    pub fn build(conn: &Conn<'_>, limit: usize) -> Result<Built> {
        let version = crate::storage::counter(conn, "organizations_version")?;
        let rows = usize::try_from(crate::storage::counter(conn, "organizations")?).unwrap_or(0);
        if rows.saturating_mul(8) > limit {
            return Ok(Built::TooBig);
        }
        // Room for 24 bytes a name; a buffer that grows is trimmed at the end.
        let mut text: Vec<u8> = Vec::with_capacity(rows.saturating_mul(24).min(limit));
        let mut ends: Vec<u32> = Vec::with_capacity(rows);
        let mut rids: Vec<u32> = Vec::with_capacity(rows);
        let mut too_big = false;
        let mut add = |name: &str, rid: i64| {
            let size = text.len() + name.len() + 8 * (ends.len() + 1);
            match (u32::try_from(text.len() + name.len()), u32::try_from(rid)) {
                (Ok(end), Ok(rid)) if size <= limit => {
                    text.extend_from_slice(name.as_bytes());
                    ends.push(end);
                    rids.push(rid);
                    true
                }
                _ => false,
            }
        };
        if conn.is_postgres() {
            // PostgreSQL hands over a statement's rows all at once: read them in batches,
            // each after the last one's key (all in the one snapshot).
            let mut after: Option<(String, String)> = None;
            loop {
                let batch: Vec<(String, i64, String)> = match &after {
                    None => conn
                        .prepare_cached(
                            "SELECT name_fold, rid, id FROM organizations ORDER BY name_fold, id LIMIT ?1",
                        )?
                        .query_map(params![BATCH], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<Result<_>>()?,
                    Some((k, id)) => conn
                        .prepare_cached(
                            "SELECT name_fold, rid, id FROM organizations WHERE (name_fold, id) > (?1, ?2) \
                             ORDER BY name_fold, id LIMIT ?3",
                        )?
                        .query_map(params![k, id, BATCH], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })?
                        .collect::<Result<_>>()?,
                };
                let full = batch.len() as i64 == BATCH;
                for (name, rid, _) in &batch {
                    if !add(name, *rid) {
                        return Ok(Built::TooBig);
                    }
                }
                match batch.into_iter().last() {
                    Some((name, _, id)) if full => after = Some((name, id)),
                    _ => break,
                }
            }
        } else {
            conn.prepare(
                "SELECT name_fold, rid FROM organizations INDEXED BY organizations_name ORDER BY name_fold, id",
            )?
            .for_each((), |r| {
                if !too_big && !add(&r.get::<_, String>(0)?, r.get(1)?) {
                    too_big = true;
                }
                Ok(())
            })?;
        }
        if too_big {
            return Ok(Built::TooBig);
        }
        if text.capacity() > text.len() + text.len() / 8 {
            text.shrink_to_fit();
        }
        ends.shrink_to_fit();
        rids.shrink_to_fit();
        let short = short_counts(&text, &ends);
        let blocks = signatures(&text, &ends);
        Ok(Built::Index(NameIndex {
            version,
            text,
            ends,
            rids,
            short,
            blocks,
        }))
    }

    /// The `organizations_version` this index holds.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// Names held.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.text.capacity()
            + 4 * (self.ends.capacity() + self.rids.capacity() + self.short.capacity())
            + 8 * self.blocks.capacity()
    }

    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1] as usize
        }
    }

    /// Name `i`, folded.
    fn name(&self, i: usize) -> &[u8] {
        &self.text[self.start(i)..self.ends[i] as usize]
    }

    /// The rowids of entries `from..to` in list order (clamped to the entries there are).
    pub fn rids(&self, from: usize, to: usize) -> Vec<i64> {
        let to = to.min(self.len());
        let from = from.min(to);
        self.rids[from..to].iter().map(|&r| i64::from(r)).collect()
    }

    /// The rowid of entry `i`.
    pub fn rid(&self, i: usize) -> i64 {
        i64::from(self.rids[i])
    }

    /// The first entry whose name is greater than or equal to `key` (`strict`: greater), in
    /// byte order as both engines compare `name_fold`.
    pub fn seek(&self, key: &str, strict: bool) -> usize {
        let key = key.as_bytes();
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let name = self.name(mid);
            if name < key || (strict && name == key) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Calls `hit` with every entry from `first` on whose name contains `needle`, in list
    /// order, until it returns false.
    pub fn scan(&self, needle: &str, first: usize, mut hit: impl FnMut(usize) -> bool) {
        let needle = needle.as_bytes();
        if first >= self.len() {
            return;
        }
        if needle.is_empty() {
            for i in first..self.len() {
                if !hit(i) {
                    return;
                }
            }
            return;
        }
        let finder = memmem::Finder::new(needle);
        // The signature bits of the needle's byte pairs: a block lacking one holds no match.
        let bits: Vec<usize> = needle.windows(2).map(|w| pair_bit(w[0], w[1])).collect();
        let has = |b: usize| {
            let sig = &self.blocks[b * SIG_WORDS..(b + 1) * SIG_WORDS];
            bits.iter().all(|&bit| sig[bit / 64] >> (bit % 64) & 1 == 1)
        };
        let blocks = self.len().div_ceil(BLOCK);
        let mut b = first / BLOCK;
        while b < blocks {
            if !has(b) {
                b += 1;
                continue;
            }
            // A run of blocks that may hold matches, scanned as one stretch of text.
            let mut e = b + 1;
            while e < blocks && has(e) {
                e += 1;
            }
            let from = first.max(b * BLOCK);
            let to = self.len().min(e * BLOCK);
            if !self.scan_range(&finder, needle.len(), from, to, &mut hit) {
                return;
            }
            b = e;
        }
    }

    /// [`Self::scan`] over entries `from..to`; false once `hit` asked to stop.
    fn scan_range(
        &self,
        finder: &memmem::Finder<'_>,
        len: usize,
        from: usize,
        to: usize,
        hit: &mut impl FnMut(usize) -> bool,
    ) -> bool {
        let text = &self.text[..self.ends[to - 1] as usize];
        let mut pos = self.start(from);
        // The entry `pos` is in (or the first one after it).
        let mut i = from;
        while let Some(p) = finder.find(&text[pos..]) {
            let at = pos + p;
            i = self.entry_at(i, at);
            let end = self.ends[i] as usize;
            if at + len <= end && !hit(i) {
                return false;
            }
            // A match that runs past its entry's end is none; later ones in it would too.
            pos = end;
            i += 1;
            if i >= to {
                break;
            }
        }
        true
    }

    /// The entry that byte `at` is in, searching forward from entry `from` (whose start is
    /// at or before `at`): galloping, so a nearby entry costs a step or two.
    fn entry_at(&self, from: usize, at: usize) -> usize {
        let ends = &self.ends[..];
        let at = at as u32;
        if ends[from] > at {
            return from;
        }
        // ends[lo] <= at < ends[hi]
        let (mut lo, mut step) = (from, 1usize);
        let mut hi = loop {
            let probe = lo + step;
            if probe >= ends.len() {
                break ends.len() - 1;
            }
            if ends[probe] > at {
                break probe;
            }
            lo = probe;
            step *= 2;
        };
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if ends[mid] > at {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }

    /// The matches of `needle`: how many there are, and the rowids of those at positions
    /// `skip..skip + take` among them (a page), in list order.
    pub fn page(&self, needle: &str, skip: usize, take: usize) -> (usize, Vec<i64>) {
        let mut n = 0usize;
        let mut rids = Vec::with_capacity(take.min(100));
        let end = skip.saturating_add(take);
        let known = self.short_count(needle.as_bytes());
        if known.is_some_and(|total| total <= skip) {
            return (known.unwrap_or(0), rids);
        }
        self.scan(needle, 0, |i| {
            if n >= skip && n < end {
                rids.push(self.rid(i));
            }
            n += 1;
            // With the total known, the scan ends with the page.
            known.is_none() || n < end
        });
        (known.unwrap_or(n), rids)
    }

    /// How many names hold `needle`, if it is one or two bytes long.
    fn short_count(&self, needle: &[u8]) -> Option<usize> {
        let at = match *needle {
            [b] => usize::from(b),
            [a, b] => 256 + (usize::from(a) << 8 | usize::from(b)),
            _ => return None,
        };
        self.short.get(at).map(|&n| n as usize)
    }
}

/// For every byte and every pair of bytes, how many names hold it (see [`NameIndex::short`]):
/// one pass over the text, each name counted once per byte or pair however often it holds it.
fn short_counts(text: &[u8], ends: &[u32]) -> Vec<u32> {
    let mut counts = vec![0u32; SHORT];
    // The last name (numbered from 1) each entry was counted for.
    let mut seen = vec![0u32; SHORT];
    let mut start = 0usize;
    for (i, &end) in ends.iter().enumerate() {
        let stamp = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let name = &text[start..end as usize];
        let mut prev: Option<u8> = None;
        for &b in name {
            let one = usize::from(b);
            if seen[one] != stamp {
                seen[one] = stamp;
                counts[one] += 1;
            }
            if let Some(a) = prev {
                let two = 256 + (usize::from(a) << 8 | one);
                if seen[two] != stamp {
                    seen[two] = stamp;
                    counts[two] += 1;
                }
            }
            prev = Some(b);
        }
        start = end as usize;
    }
    counts
}

/// The signatures of [`NameIndex::blocks`].
fn signatures(text: &[u8], ends: &[u32]) -> Vec<u64> {
    let mut sigs = vec![0u64; ends.len().div_ceil(BLOCK) * SIG_WORDS];
    let mut start = 0usize;
    for (i, &end) in ends.iter().enumerate() {
        let sig = &mut sigs[i / BLOCK * SIG_WORDS..(i / BLOCK + 1) * SIG_WORDS];
        for w in text[start..end as usize].windows(2) {
            let bit = pair_bit(w[0], w[1]);
            sig[bit / 64] |= 1 << (bit % 64);
        }
        start = end as usize;
    }
    sigs
}

/// The [`NameIndex`] a server keeps, and when to build the next one.
#[derive(Debug, Default)]
pub struct NameSlot {
    /// Most bytes an index may take; 0 = none is built (every search uses SQL).
    limit: AtomicUsize,
    /// A request found the index missing or stale.
    wanted: AtomicBool,
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    index: Option<Arc<NameIndex>>,
    building: bool,
    /// No build starts before then (rebuilds under steady writes take a bounded share of
    /// one core; after a too-big build, a minute).
    not_before: Option<Instant>,
}

/// A rebuild waits this many times the last build's duration after it.
const REST_FACTOR: u32 = 3;
/// After a build found the names too big, the next try waits this long.
const TOO_BIG_REST: Duration = Duration::from_secs(60);

impl NameSlot {
    /// A slot holding at most `limit` bytes (0 = off).
    pub fn new(limit: usize) -> Self {
        let slot = Self::default();
        slot.limit.store(limit, Ordering::Relaxed);
        slot
    }

    /// Changes the limit; an index held beyond it is dropped.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
        let mut s = self.lock();
        if s.index.as_ref().is_some_and(|i| i.bytes() > limit) {
            s.index = None;
        }
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The index at `version`, if held; otherwise a build is asked for (see [`Self::claim`]).
    pub fn at(&self, version: i64) -> Option<Arc<NameIndex>> {
        if self.limit() == 0 {
            return None;
        }
        let s = self.lock();
        match &s.index {
            Some(i) if i.version == version => {
                crate::metrics::cache_hit("org_search_index");
                Some(i.clone())
            }
            // An older snapshot than the index (a read that began before its build) gets SQL.
            Some(i) if i.version > version => None,
            _ => {
                crate::metrics::cache_miss("org_search_index");
                if !s.building {
                    self.wanted.store(true, Ordering::Relaxed);
                }
                None
            }
        }
    }

    /// Whether a build was asked for and may start now; if so, it is marked as running and
    /// the caller must run it and pass its outcome to [`Self::finish`].
    pub fn claim(&self) -> bool {
        // A load first: every read calls this, and a swap would write the shared line.
        if !self.wanted.load(Ordering::Relaxed)
            || !self.wanted.swap(false, Ordering::Relaxed)
            || self.limit() == 0
        {
            return false;
        }
        let mut s = self.lock();
        if s.building || s.not_before.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        s.building = true;
        // The stale index can serve no new snapshot: drop it before the new one is read,
        // so that memory holds one index, not two.
        s.index = None;
        true
    }

    /// Whether a build is running.
    pub fn building(&self) -> bool {
        self.lock().building
    }

    /// Asks for a build (at start-up, so that the first searches find the index).
    pub fn want(&self) {
        self.wanted.store(true, Ordering::Relaxed);
    }

    /// Installs what a claimed build produced (an error or `TooBig` leaves no index).
    pub fn finish(&self, built: Result<Built>, took: Duration) {
        let mut s = self.lock();
        s.building = false;
        match built {
            Ok(Built::Index(i)) => {
                s.not_before = Some(Instant::now() + took * REST_FACTOR);
                log::debug!(
                    "search index: {} organizations, {} KiB, built in {} ms",
                    i.len(),
                    i.bytes() >> 10,
                    took.as_millis()
                );
                if i.bytes() <= self.limit() {
                    crate::metrics::cache_entries("org_search_index", i.len());
                    crate::metrics::cache_bytes("org_search_index", i.bytes());
                    s.index = Some(Arc::new(i));
                }
            }
            Ok(Built::TooBig) => {
                s.not_before = Some(Instant::now() + TOO_BIG_REST);
                log::warn!(
                    "organization names exceed [cache] search_index_mb ({} MiB): searches use SQL; raise it to index them",
                    self.limit() >> 20
                );
            }
            Err(e) => {
                s.not_before = Some(Instant::now() + took * REST_FACTOR + Duration::from_secs(1));
                log::warn!("building the organization search index: {e}");
            }
        }
    }

    /// Builds now in the caller's snapshot and installs it, whatever the schedule (tests);
    /// the bytes it holds, or `None` if it was too big.
    pub fn build_now(&self, conn: &Conn<'_>) -> Result<Option<usize>> {
        let built = NameIndex::build(conn, self.limit())?;
        let mut s = self.lock();
        Ok(match built {
            Built::Index(i) => {
                let bytes = i.bytes();
                s.index = Some(Arc::new(i));
                Some(bytes)
            }
            Built::TooBig => {
                s.index = None;
                None
            }
        })
    }

    /// The index held, whatever its version (for tests and metrics).
    pub fn held(&self) -> Option<Arc<NameIndex>> {
        self.lock().index.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(names: &[&str]) -> NameIndex {
        let mut sorted: Vec<&str> = names.to_vec();
        sorted.sort_unstable();
        let mut text = Vec::new();
        let mut ends = Vec::new();
        for n in &sorted {
            text.extend_from_slice(n.as_bytes());
            ends.push(text.len() as u32);
        }
        let rids = (1..=sorted.len() as u32).collect();
        let short = short_counts(&text, &ends);
        let blocks = signatures(&text, &ends);
        NameIndex {
            version: 1,
            text,
            ends,
            rids,
            short,
            blocks,
        }
    }

    fn plain(names: &[&str], needle: &str) -> Vec<i64> {
        let mut sorted: Vec<&str> = names.to_vec();
        sorted.sort_unstable();
        sorted
            .iter()
            .enumerate()
            .filter(|(_, n)| n.contains(needle))
            .map(|(i, _)| i as i64 + 1)
            .collect()
    }

    #[test]
    fn a_scan_finds_what_contains_does_and_no_match_across_two_names() {
        let names = [
            "ab",
            "ba",
            "abab",
            "b",
            "",
            "aaa",
            "café",
            "cafe",
            "x%y",
            "日本語",
            "本",
            "müller",
            "zz",
            "a",
        ];
        let ix = index(&names);
        for needle in [
            "a",
            "b",
            "ab",
            "ba",
            "aa",
            "aaa",
            "aaaa",
            "bb",
            "é",
            "fé",
            "x%",
            "%",
            "本",
            "語",
            "日本語x",
            "ü",
            "zz",
            "za",
            "q",
            "",
        ] {
            let (n, rids) = ix.page(needle, 0, 100);
            let want = plain(&names, needle);
            assert_eq!(n, want.len(), "{needle:?}");
            assert_eq!(rids, want, "{needle:?}");
            for skip in 0..want.len() + 1 {
                let (n, rids) = ix.page(needle, skip, 2);
                assert_eq!(n, want.len());
                let w: Vec<i64> = want.iter().skip(skip).take(2).copied().collect();
                assert_eq!(rids, w, "{needle:?} skip {skip}");
            }
        }
    }

    /// Many blocks, names from a small alphabet: every needle up to 4 letters, from every
    /// 37th entry on, finds exactly what `contains` finds.
    #[test]
    fn block_signatures_skip_no_match() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize
        };
        let owned: Vec<String> = (0..1000)
            .map(|_| {
                (0..1 + next() % 6)
                    .map(|_| ['a', 'b', 'c', 'é', ' '][next() % 5])
                    .collect()
            })
            .collect();
        let names: Vec<&str> = owned.iter().map(String::as_str).collect();
        let ix = index(&names);
        let mut sorted = names.clone();
        sorted.sort_unstable();
        for needle in [
            "a", "ab", "éa", "c é", "abc", "bbbb", "ccc", "a a", "éé", "x",
        ] {
            let (n, rids) = ix.page(needle, 0, usize::MAX);
            assert_eq!(rids, plain(&names, needle), "{needle:?}");
            assert_eq!(n, rids.len());
            for first in (0..sorted.len()).step_by(37) {
                let mut got = Vec::new();
                ix.scan(needle, first, |i| {
                    got.push(i);
                    true
                });
                let want: Vec<usize> = (first..sorted.len())
                    .filter(|&i| sorted[i].contains(needle))
                    .collect();
                assert_eq!(got, want, "{needle:?} from {first}");
            }
        }
    }

    #[test]
    fn seek_finds_the_first_name_at_or_after_a_key() {
        let ix = index(&["b", "b", "d", "f", "ff"]);
        assert_eq!(ix.seek("a", false), 0);
        assert_eq!(ix.seek("b", false), 0);
        assert_eq!(ix.seek("b", true), 2);
        assert_eq!(ix.seek("c", false), 2);
        assert_eq!(ix.seek("f", true), 4);
        assert_eq!(ix.seek("ff", true), 5);
        assert_eq!(ix.seek("z", false), 5);
        let mut seen = Vec::new();
        ix.scan("f", 3, |i| {
            seen.push(i);
            true
        });
        assert_eq!(seen, [3, 4]);
        let mut seen = Vec::new();
        ix.scan("", 2, |i| {
            seen.push(i);
            seen.len() < 2
        });
        assert_eq!(seen, [2, 3]);
    }

    #[test]
    fn a_slot_serves_only_its_version_and_asks_for_a_build_once() {
        let slot = NameSlot::new(1 << 20);
        assert!(slot.at(1).is_none());
        assert!(slot.claim(), "a missing index is asked for");
        assert!(!slot.claim(), "one build at a time");
        slot.finish(Ok(Built::Index(index(&["a", "b"]))), Duration::ZERO);
        assert_eq!(slot.at(1).map(|i| i.len()), Some(2));
        assert!(slot.at(0).is_none(), "an older snapshot is not served");
        assert!(!slot.claim(), "nor does it ask for a build");
        assert!(slot.at(2).is_none(), "a newer snapshot is not served");
        assert!(slot.claim());
        assert!(
            slot.held().is_none(),
            "the stale index is dropped when its rebuild starts"
        );
        let off = NameSlot::new(0);
        off.want();
        assert!(off.at(1).is_none() && !off.claim());
    }
}

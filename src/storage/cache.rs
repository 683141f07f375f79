//! What the server keeps between requests of the organization order and views; each cache
//! is valid for one value of a trigger-kept counter, read in the request's own snapshot,
//! so nothing stale is ever served. Each has a limit (`[cache]` settings).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::config::CacheConfig;
use crate::storage::names::NameSlot;

/// Everything kept of the organization order: the search index of names, the page anchors
/// and the matches of searches answered by SQL, with their limits.
#[derive(Debug)]
pub struct OrgCaches {
    pub(super) names: NameSlot,
    pub(super) order: Mutex<OrgOrderCache>,
    /// Most rowids held for searches (8 bytes each); past it the search cache starts over.
    search_rows: AtomicUsize,
    /// Most page anchors held.
    anchors: AtomicUsize,
}

impl Default for OrgCaches {
    fn default() -> Self {
        Self::new(&CacheConfig::default())
    }
}

impl OrgCaches {
    pub fn new(cfg: &CacheConfig) -> Self {
        let c = OrgCaches {
            names: NameSlot::new(0),
            order: Mutex::default(),
            search_rows: AtomicUsize::new(0),
            anchors: AtomicUsize::new(0),
        };
        c.configure(cfg);
        c
    }

    /// Applies the limits of `cfg`.
    pub fn configure(&self, cfg: &CacheConfig) {
        self.names.set_limit(mib(cfg.search_index_mb));
        self.search_rows
            .store(cfg.search_results_rows, Ordering::Relaxed);
        self.anchors.store(cfg.page_anchors, Ordering::Relaxed);
        *self.order() = OrgOrderCache::default();
    }

    /// The search index of organization names.
    pub fn names(&self) -> &NameSlot {
        &self.names
    }

    pub(super) fn order(&self) -> std::sync::MutexGuard<'_, OrgOrderCache> {
        self.order
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn search_rows(&self) -> usize {
        self.search_rows.load(Ordering::Relaxed)
    }

    pub(super) fn max_anchors(&self) -> usize {
        self.anchors.load(Ordering::Relaxed)
    }
}

/// `n` MiB in bytes (saturating).
fn mib(n: u64) -> usize {
    usize::try_from(n.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
}

/// What the server remembers of the organization order between requests, valid for one
/// value of the trigger-kept `organizations_version` (bumped by every insert, delete and
/// rename, in the writing transaction):
/// - every `every`-th key (at least `ANCHOR_EVERY`), so that a deep page seeks to the
///   nearest anchor and steps over fewer than `every` entries instead of every one before it;
/// - the ordered matches of recent search terms, so that paging through a search, or the
///   same search again, reads only the page's rows.
#[derive(Debug, Default)]
pub struct OrgOrderCache {
    pub(super) version: Option<i64>,
    pub(super) keys: Vec<(String, String)>,
    /// Rows between two anchors in `keys`.
    pub(super) every: i64,
    pub(super) searches: std::collections::HashMap<String, std::sync::Arc<Vec<i64>>>,
    pub(super) search_rows: usize,
}

impl OrgOrderCache {
    /// Forgets everything if `version` is not the one it holds.
    pub(super) fn sync(&mut self, version: i64) {
        if self.version != Some(version) {
            *self = OrgOrderCache {
                version: Some(version),
                ..OrgOrderCache::default()
            };
        }
    }
}

/// Fewest rows between two page anchors.
pub const ANCHOR_EVERY: i64 = 1000;

/// A single-organization view as sent: its JSON body and its ETag.
#[derive(Debug)]
pub struct DetailView {
    /// Shared with every response that sends it (no copy per request).
    pub body: bytes::Bytes,
    pub etag: String,
}

/// Rendered single-organization views by the id or slug they were asked for, valid for one
/// value of the trigger-kept `org_details_version` (bumped in the writing transaction by any
/// change to an organization, a tier, a membership, or a user's name or email). A view is
/// served only while that value is the one it was rendered at, so it is never stale; any
/// such write forgets them all.
///
/// Views live in two generations of half the limit each: new views go to the young one;
/// when it is full it becomes the old one and the old one is let go, whole. Every step under
/// the lock is O(1): the views let go (thousands of them at a few MiB) are handed back to be
/// dropped after the lock is released. (Dropping half the views under the lock, as this
/// did before, made every reader wait behind it: at 1M organizations, where nearly every
/// view is a miss, it was the whole of a 40 ms p99 against a 2 ms median.)
#[derive(Debug)]
pub struct DetailCache {
    version: Option<i64>,
    /// The doorkeeper: a hash of each recently missed key, one per slot. A view is kept only
    /// when its key missed before (its slot holds its hash): traffic spread over a million
    /// organizations keeps nothing (and pays for no churn), organizations asked for again
    /// and again are kept.
    seen: Vec<u64>,
    young: Views,
    old: Views,
    young_bytes: usize,
    old_bytes: usize,
    /// Most bytes of rendered views held (0: none kept).
    limit: usize,
}

type Views = HashMap<String, std::sync::Arc<DetailView>>;

/// The doorkeeper's hash function, with fixed keys (a key's slot only has to be stable
/// within the process).
const SEEN_HASH: std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher> =
    std::hash::BuildHasherDefault::new();

/// Views a [`DetailCache`] let go, to drop once its lock is released.
#[must_use = "drop it after releasing the cache's lock"]
pub struct Retired(#[allow(dead_code)] Vec<Views>);

impl Default for DetailCache {
    fn default() -> Self {
        Self::new(&CacheConfig::default())
    }
}

impl DetailCache {
    pub fn new(cfg: &CacheConfig) -> Self {
        let limit = mib(cfg.detail_views_mb);
        // About as many slots as views fit in the limit (views are about 1 KiB), 8 bytes each.
        let slots = (limit / 1024).next_power_of_two().max(1);
        DetailCache {
            version: None,
            seen: if limit == 0 {
                Vec::new()
            } else {
                vec![0; slots]
            },
            young: Views::new(),
            old: Views::new(),
            young_bytes: 0,
            old_bytes: 0,
            limit,
        }
    }

    /// Applies the limit of `cfg` (forgetting every view).
    pub fn configure(&mut self, cfg: &CacheConfig) {
        *self = Self::new(cfg);
    }

    /// The version the views are valid for; a new one lets every view go.
    pub(super) fn sync(&mut self, version: i64) -> Retired {
        if self.version == Some(version) {
            return Retired(Vec::new());
        }
        self.version = Some(version);
        (self.young_bytes, self.old_bytes) = (0, 0);
        Retired(vec![
            std::mem::take(&mut self.young),
            std::mem::take(&mut self.old),
        ])
    }

    /// Whether the views are valid for `version`.
    pub(super) fn is_at(&self, version: i64) -> bool {
        self.version == Some(version)
    }

    pub(super) fn get(&self, key: &str) -> Option<std::sync::Arc<DetailView>> {
        self.young.get(key).or_else(|| self.old.get(key)).cloned()
    }

    /// How many views are held, and their bytes.
    pub(super) fn held(&self) -> (usize, usize) {
        (
            self.young.len() + self.old.len(),
            self.young_bytes + self.old_bytes,
        )
    }

    /// Whether a view of `key` should be kept: true from the second miss of the key on
    /// (while its slot has not been taken by another key since).
    pub(super) fn admits(&mut self, key: &str) -> bool {
        use std::hash::{BuildHasher, Hasher};
        if self.seen.is_empty() {
            return false;
        }
        let mut h = SEEN_HASH.build_hasher();
        h.write(key.as_bytes());
        // Never 0, the value of an empty slot.
        let hash = h.finish() | 1;
        let mask = self.seen.len() - 1;
        let slot = &mut self.seen[usize::try_from(hash >> 32).unwrap_or(0) & mask];
        if *slot == hash {
            true
        } else {
            *slot = hash;
            false
        }
    }

    pub(super) fn insert(&mut self, key: &str, view: std::sync::Arc<DetailView>) -> Retired {
        let add = key.len() + view.body.len() + view.etag.len() + 64;
        let half = self.limit / 2;
        if add > half {
            return Retired(Vec::new());
        }
        let mut retired = Vec::new();
        if self.young_bytes + add > half {
            retired.push(std::mem::replace(
                &mut self.old,
                std::mem::take(&mut self.young),
            ));
            self.old_bytes = std::mem::replace(&mut self.young_bytes, 0);
        }
        self.young_bytes += add;
        if let Some(was) = self.young.insert(key.to_owned(), view) {
            // Rendered twice by concurrent misses: counted once.
            self.young_bytes -= add.min(self.young_bytes);
            drop(was);
        }
        Retired(retired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(n: usize) -> std::sync::Arc<DetailView> {
        std::sync::Arc::new(DetailView {
            body: bytes::Bytes::from(vec![b'x'; n]),
            etag: "\"e\"".into(),
        })
    }

    fn cache(mb: u64) -> DetailCache {
        DetailCache::new(&CacheConfig {
            detail_views_mb: mb,
            ..CacheConfig::default()
        })
    }

    /// A key is admitted from its second miss on; a limit of 0 admits nothing.
    #[test]
    fn the_doorkeeper_admits_a_key_on_its_second_miss() {
        let mut c = cache(1);
        let _ = c.sync(1);
        assert!(!c.admits("org-a"));
        assert!(c.admits("org-a"));
        assert!(!c.admits("org-b"));
        let mut off = cache(0);
        assert!(!off.admits("org-a"));
        assert!(!off.admits("org-a"));
    }

    /// Never more than the limit held: when the young half is full it becomes the old half
    /// and the old half is handed back (to be dropped outside the lock); a new version hands
    /// back everything.
    #[test]
    fn generations_bound_the_bytes_and_retire_whole() {
        let mut c = cache(1);
        let _ = c.sync(7);
        let limit = 1024 * 1024;
        let mut retired_views = 0;
        for i in 0..3000 {
            let Retired(maps) = c.insert(&format!("org-{i}"), view(1000));
            retired_views += maps.iter().map(HashMap::len).sum::<usize>();
            let (_, bytes) = c.held();
            assert!(bytes <= limit, "{bytes} held after {i}");
        }
        let (entries, bytes) = c.held();
        assert!(
            retired_views > 0 && entries + retired_views == 3000,
            "{entries} + {retired_views}"
        );
        assert!(bytes > limit / 2, "{bytes}");
        // The newest view is there, the first ones are gone.
        assert!(c.get("org-2999").is_some());
        assert!(c.get("org-0").is_none());
        let Retired(maps) = c.sync(7);
        assert!(maps.is_empty());
        let Retired(maps) = c.sync(8);
        assert_eq!(maps.iter().map(HashMap::len).sum::<usize>(), entries);
        assert_eq!(c.held(), (0, 0));
        assert!(c.get("org-2999").is_none());
        // A view bigger than half the limit is never kept.
        let _ = c.insert("big", view(limit / 2 + 1));
        assert!(c.get("big").is_none());
    }
}

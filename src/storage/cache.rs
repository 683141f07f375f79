//! What the server keeps between requests of the organization order and views; each cache
//! is valid for one value of a trigger-kept counter, read in the request's own snapshot,
//! so nothing stale is ever served. Each has a limit (`[cache]` settings).

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
#[derive(Debug)]
pub struct DetailCache {
    pub(super) version: Option<i64>,
    pub(super) views: std::collections::HashMap<String, std::sync::Arc<DetailView>>,
    pub(super) bytes: usize,
    /// Most bytes of rendered views held; past it half of them are dropped (0: none kept).
    limit: usize,
}

impl Default for DetailCache {
    fn default() -> Self {
        Self::new(&CacheConfig::default())
    }
}

impl DetailCache {
    pub fn new(cfg: &CacheConfig) -> Self {
        DetailCache {
            version: None,
            views: std::collections::HashMap::new(),
            bytes: 0,
            limit: mib(cfg.detail_views_mb),
        }
    }

    /// Applies the limit of `cfg` (forgetting every view).
    pub fn configure(&mut self, cfg: &CacheConfig) {
        *self = Self::new(cfg);
    }

    pub(super) fn sync(&mut self, version: i64) {
        if self.version != Some(version) {
            self.version = Some(version);
            self.views.clear();
            self.bytes = 0;
        }
    }

    pub(super) fn insert(&mut self, key: &str, view: std::sync::Arc<DetailView>) {
        let size = |k: &str, v: &DetailView| k.len() + v.body.len() + v.etag.len() + 64;
        let add = size(key, &view);
        if self.bytes + add > self.limit {
            let mut n = 0usize;
            self.views.retain(|_, _| {
                n += 1;
                n.is_multiple_of(2)
            });
            self.bytes = self.views.iter().map(|(k, v)| size(k, v)).sum();
        }
        if add <= self.limit / 2 {
            self.bytes += add;
            self.views.insert(key.to_owned(), view);
        }
    }
}

//! What the server keeps between requests of the organization order and views; each cache
//! is valid for one value of a trigger-kept counter, read in the request's own snapshot,
//! so nothing stale is ever served.

/// What the server remembers of the organization order between requests, valid for one
/// value of the trigger-kept `organizations_version` (bumped by every insert, delete and
/// rename, in the writing transaction):
/// - every `ANCHOR_EVERY`-th key, so that a deep page seeks to the nearest anchor and steps
///   over fewer than `ANCHOR_EVERY` entries instead of every entry before it;
/// - the ordered matches of recent search terms, so that paging through a search, or the
///   same search again, reads only the page's rows.
#[derive(Debug, Default)]
pub struct OrgOrderCache {
    pub(super) version: Option<i64>,
    pub(super) keys: Vec<(String, String)>,
    pub(super) searches: std::collections::HashMap<String, std::sync::Arc<Vec<i64>>>,
    pub(super) search_rows: usize,
}

/// Most rowids held for searches (8 bytes each); past it the search cache starts over.
pub(super) const SEARCH_CACHE_ROWS: usize = 4_000_000;

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

/// Rows between two page anchors.
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
#[derive(Debug, Default)]
pub struct DetailCache {
    pub(super) version: Option<i64>,
    pub(super) views: std::collections::HashMap<String, std::sync::Arc<DetailView>>,
    pub(super) bytes: usize,
}

/// Most bytes of rendered views held; past it half of them are dropped.
const DETAIL_CACHE_BYTES: usize = 8 << 20;

impl DetailCache {
    pub(super) fn sync(&mut self, version: i64) {
        if self.version != Some(version) {
            *self = DetailCache {
                version: Some(version),
                ..DetailCache::default()
            };
        }
    }

    pub(super) fn insert(&mut self, key: &str, view: std::sync::Arc<DetailView>) {
        let size = |k: &str, v: &DetailView| k.len() + v.body.len() + v.etag.len() + 64;
        let add = size(key, &view);
        if self.bytes + add > DETAIL_CACHE_BYTES {
            let mut n = 0usize;
            self.views.retain(|_, _| {
                n += 1;
                n.is_multiple_of(2)
            });
            self.bytes = self.views.iter().map(|(k, v)| size(k, v)).sum();
        }
        if add <= DETAIL_CACHE_BYTES / 2 {
            self.bytes += add;
            self.views.insert(key.to_owned(), view);
        }
    }
}

//! Per-key request budgets in fixed windows of a minute, an hour and a day (SPEC §4).
//!
//! - Windows are aligned to UTC clock boundaries: a minute window starts at :00 seconds, an
//!   hour window at :00 minutes, a day window at 00:00 UTC. So a window's reset is an instant
//!   that does not depend on when a key was first seen, and that every instance sharing a
//!   budget agrees on.
//! - A request is counted in every limited window, and only if none of them is exhausted: a
//!   refused request (429) counts nowhere.
//! - What the `X-RateLimit-*` headers describe ([`Decision::shown`]), as SPEC §4 fixes it: the
//!   minute window (the shortest limited one), unless a longer window is the one exhausted —
//!   then that window (the longest, if several are), whose reset is when requests really come
//!   back. A refused request is described by the window that refused it, with nothing left.
//!
//! This module knows nothing of HTTP or of a database: a database-backed budget shared by
//! all instances can give the same [`Decision`] for the same `(key, now)`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

/// Requests allowed per key in each window; 0 = no limit for that window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_minute: u32,
    pub per_hour: u32,
    pub per_day: u32,
}

/// Window lengths in seconds, shortest first (the order of [`Counts`]).
const WINDOWS: [u32; 3] = [60, 3600, 86_400];

impl Limits {
    /// The limits, shortest window first.
    pub fn of(&self) -> [u32; 3] {
        [self.per_minute, self.per_hour, self.per_day]
    }

    /// No window is limited: nothing to count, no headers to send.
    pub fn unlimited(&self) -> bool {
        self.of() == [0; 3]
    }
}

/// One window of one key, as a response reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowStatus {
    /// The window's limit.
    pub limit: u32,
    /// Requests left in it (after this one, if this one was counted).
    pub remaining: u32,
    /// When it ends and its count starts again from zero.
    pub reset: DateTime<Utc>,
    /// Its length in seconds: 60, 3600 or 86400.
    pub window_secs: u32,
}

/// The outcome of [`RateLimiter::check_and_count`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The window the response's headers describe; `None` when no window is limited.
    pub shown: Option<WindowStatus>,
    /// `Some(retry_after)` when the request is refused: whole seconds until `shown.reset`,
    /// at least 1.
    pub over: Option<u64>,
}

/// Most keys remembered at once. Only verified keys are counted, so this is far above what a
/// deployment uses in a day (each entry is about 100 bytes).
pub const MAX_KEYS: usize = 100_000;

/// Per window (the order of [`WINDOWS`]): the start (Unix seconds) of the window the count
/// belongs to, and the requests counted in it. A count whose window has passed is zero.
type Counts = [(i64, u32); 3];

/// The in-memory budget of one server process.
///
/// Bound and prune rule: an entry whose counts all belong to windows that have ended holds
/// nothing (a new entry would be equal to it); [`RateLimiter::prune`] drops those, and it runs
/// on the guard's housekeeping timer. A new key arriving when [`MAX_KEYS`] entries are held
/// first prunes; if every entry is still live, the limiter starts over (every key gets a
/// fresh budget) and logs a warning.
pub struct RateLimiter {
    limits: Limits,
    keys: Mutex<HashMap<Arc<str>, Counts>>,
}

fn window_start(now: i64, len: u32) -> i64 {
    let len = i64::from(len);
    now.div_euclid(len) * len
}

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap_or_default()
}

/// Whether `counts` still holds a request of a current window.
fn live(limits: [u32; 3], counts: &Counts, now: i64) -> bool {
    (0..3).any(|i| limits[i] > 0 && counts[i].1 > 0 && counts[i].0 == window_start(now, WINDOWS[i]))
}

/// The starts (Unix seconds) of the windows that hold `t`, shortest first.
pub fn window_starts(t: i64) -> [i64; 3] {
    [
        window_start(t, WINDOWS[0]),
        window_start(t, WINDOWS[1]),
        window_start(t, WINDOWS[2]),
    ]
}

/// The decision for a request at `t` when each window already holds `used` requests (of the
/// windows of [`window_starts`]): refused if a limited window is exhausted (the longest
/// such), else counted, with the window its headers describe. Engine-neutral: the
/// in-process limiter and the shared one kept in PostgreSQL both decide with it.
pub fn decide(limits: Limits, used: [u32; 3], t: i64) -> Decision {
    let limits = limits.of();
    if limits == [0; 3] {
        return Decision {
            shown: None,
            over: None,
        };
    }
    let starts = window_starts(t);
    let status = |i: usize, remaining: u32| WindowStatus {
        limit: limits[i],
        remaining,
        reset: at(starts[i] + i64::from(WINDOWS[i])),
        window_secs: WINDOWS[i],
    };
    let mut exhausted = None;
    for i in (0..3).filter(|&i| limits[i] > 0) {
        if used[i] >= limits[i] {
            exhausted = Some(i); // the longest exhausted window wins
        }
    }
    if let Some(i) = exhausted {
        let shown = status(i, 0);
        let retry_after = (shown.reset.timestamp() - t).max(1);
        return Decision {
            shown: Some(shown),
            over: Some(u64::try_from(retry_after).unwrap_or(1)),
        };
    }
    // SPEC §4: the headers describe the minute window (the shortest limited one), unless
    // a longer window is the one exhausted: then that one.
    let mut shown: Option<WindowStatus> = None;
    let mut exhausted: Option<WindowStatus> = None;
    for i in (0..3).filter(|&i| limits[i] > 0) {
        let s = status(i, limits[i] - used[i] - 1);
        if shown.is_none() {
            shown = Some(s);
        }
        if s.remaining == 0 {
            exhausted = Some(s);
        }
    }
    Decision {
        shown: exhausted.or(shown),
        over: None,
    }
}

impl RateLimiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Counts>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a request of `key_id` at `now`, unless a window is exhausted; says which window
    /// to report and whether to refuse.
    pub fn check_and_count(&self, key_id: &str, now: DateTime<Utc>) -> Decision {
        if self.limits.unlimited() {
            return Decision {
                shown: None,
                over: None,
            };
        }
        let limits = self.limits.of();
        let t = now.timestamp();
        let mut keys = self.keys();
        if !keys.contains_key(key_id) {
            if keys.len() >= MAX_KEYS {
                keys.retain(|_, c| live(limits, c, t));
                if keys.len() >= MAX_KEYS {
                    log::warn!(
                        "rate limiter: more than {MAX_KEYS} keys used in a day; starting over"
                    );
                    keys.clear();
                }
            }
            keys.insert(key_id.into(), Counts::default());
        }
        let Some(counts) = keys.get_mut(key_id) else {
            return Decision {
                shown: None,
                over: None,
            };
        };
        let starts = window_starts(t);
        let mut used = [0u32; 3];
        for i in 0..3 {
            if counts[i].0 == starts[i] {
                used[i] = counts[i].1;
            }
        }
        let decision = decide(self.limits, used, t);
        if decision.over.is_none() {
            for i in (0..3).filter(|&i| limits[i] > 0) {
                counts[i] = (starts[i], used[i] + 1);
            }
        }
        decision
    }

    /// Forgets keys whose counts all belong to windows that have ended.
    pub fn prune(&self, now: DateTime<Utc>) {
        let limits = self.limits.of();
        let t = now.timestamp();
        self.keys().retain(|_, c| live(limits, c, t));
    }

    /// The limits counted against.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.keys().len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32, per_hour: u32, per_day: u32) -> RateLimiter {
        RateLimiter::new(Limits {
            per_minute,
            per_hour,
            per_day,
        })
    }

    /// 2024-01-15T15:29:10Z plus `secs`.
    fn t(secs: i64) -> DateTime<Utc> {
        at(1_705_332_550 + secs)
    }

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn shown(d: Decision) -> (u32, u32, DateTime<Utc>, u32) {
        let s = d.shown.unwrap();
        (s.limit, s.remaining, s.reset, s.window_secs)
    }

    #[test]
    fn the_minute_window_counts_down_and_resets_at_the_next_utc_minute() {
        let rl = limiter(3, 10_000, 100_000);
        let reset = ts("2024-01-15T15:30:00Z");
        for left in [2, 1, 0] {
            let d = rl.check_and_count("k", t(0));
            assert_eq!(d.over, None);
            assert_eq!(shown(d), (3, left, reset, 60));
        }
        let d = rl.check_and_count("k", t(0));
        assert_eq!(d.over, Some(50), "15:29:10 → 15:30:00");
        assert_eq!(shown(d), (3, 0, reset, 60));
        // The last second of the window: still refused, retry in one second.
        assert_eq!(rl.check_and_count("k", t(49)).over, Some(1));
        // The window is fixed: at 15:30:00 the count starts again.
        let d = rl.check_and_count("k", t(50));
        assert_eq!(d.over, None);
        assert_eq!(shown(d), (3, 2, ts("2024-01-15T15:31:00Z"), 60));
    }

    #[test]
    fn a_sub_second_wait_is_reported_as_one_second() {
        let rl = limiter(1, 0, 0);
        let now = ts("2024-01-15T15:29:59.900Z");
        assert_eq!(rl.check_and_count("k", now).over, None);
        assert_eq!(rl.check_and_count("k", now).over, Some(1));
    }

    #[test]
    fn refused_requests_are_not_counted() {
        let rl = limiter(2, 4, 0);
        rl.check_and_count("k", t(0));
        rl.check_and_count("k", t(0));
        for _ in 0..10 {
            assert!(rl.check_and_count("k", t(1)).over.is_some());
        }
        // Next minute, same hour: the hour window counted two requests, not twelve, so two
        // more pass, and the second one exhausts the hour (which the headers then describe).
        let d = rl.check_and_count("k", t(60));
        assert_eq!(d.over, None);
        assert_eq!(shown(d), (2, 1, ts("2024-01-15T15:31:00Z"), 60));
        let d = rl.check_and_count("k", t(61));
        assert_eq!(d.over, None);
        assert_eq!(shown(d), (4, 0, ts("2024-01-15T16:00:00Z"), 3600));
    }

    #[test]
    fn keys_have_budgets_of_their_own() {
        let rl = limiter(1, 0, 0);
        assert_eq!(rl.check_and_count("a", t(0)).over, None);
        assert!(rl.check_and_count("a", t(0)).over.is_some());
        let d = rl.check_and_count("b", t(0));
        assert_eq!(d.over, None);
        assert_eq!(d.shown.unwrap().remaining, 0);
    }

    #[test]
    fn the_minute_window_is_shown_until_a_longer_one_is_exhausted() {
        let rl = limiter(1000, 3, 100_000);
        let hour = ts("2024-01-15T16:00:00Z");
        let minute = ts("2024-01-15T15:30:00Z");
        for left in [999, 998] {
            let d = rl.check_and_count("k", t(0));
            assert_eq!(shown(d), (1000, left, minute, 60));
        }
        let d = rl.check_and_count("k", t(0));
        assert_eq!(shown(d), (3, 0, hour, 3600), "the hour is exhausted now");
        let d = rl.check_and_count("k", t(0));
        assert_eq!(d.over, Some(30 * 60 + 50));
        assert_eq!(shown(d), (3, 0, hour, 3600));

        // Minute and day both exhausted: the day decides when the next request passes.
        let rl = limiter(2, 0, 2);
        let d = rl.check_and_count("k", t(0));
        assert_eq!(shown(d), (2, 1, minute, 60));
        let d = rl.check_and_count("k", t(0));
        assert_eq!(
            shown(d),
            (2, 0, ts("2024-01-16T00:00:00Z"), 86_400),
            "the longest exhausted window"
        );
        let d = rl.check_and_count("k", t(0));
        assert_eq!(d.over, Some(8 * 3600 + 30 * 60 + 50));
        assert_eq!(d.shown.unwrap().window_secs, 86_400);
    }

    #[test]
    fn an_unlimited_window_is_skipped_and_all_unlimited_counts_nothing() {
        let rl = limiter(0, 2, 0);
        let d = rl.check_and_count("k", t(0));
        assert_eq!(shown(d), (2, 1, ts("2024-01-15T16:00:00Z"), 3600));

        let rl = limiter(0, 0, 0);
        for _ in 0..5 {
            assert_eq!(
                rl.check_and_count("k", t(0)),
                Decision {
                    shown: None,
                    over: None
                }
            );
        }
        assert!(rl.is_empty());
    }

    #[test]
    fn windows_are_aligned_to_utc_boundaries() {
        let rl = limiter(5, 5, 5);
        let d = rl.check_and_count("k", ts("2024-02-29T23:59:59Z"));
        assert_eq!(d.shown.unwrap().reset, ts("2024-03-01T00:00:00Z"));
        let d = rl.check_and_count("k", ts("2024-03-01T00:00:00Z"));
        // All three windows restarted at midnight; the minute window is the one shown.
        assert_eq!(shown(d), (5, 4, ts("2024-03-01T00:01:00Z"), 60));
    }

    #[test]
    fn prune_forgets_keys_whose_windows_have_all_ended() {
        let rl = limiter(10, 0, 0);
        rl.check_and_count("old", t(0));
        rl.check_and_count("new", t(60));
        rl.prune(t(60));
        assert_eq!(rl.len(), 1);
        // The remaining key keeps its count.
        assert_eq!(rl.check_and_count("new", t(61)).shown.unwrap().remaining, 8);
        rl.prune(t(120));
        assert!(rl.is_empty());
    }

    #[test]
    fn a_full_limiter_prunes_first_and_starts_over_only_when_all_keys_are_live() {
        let rl = limiter(10, 0, 0);
        for i in 0..MAX_KEYS {
            rl.check_and_count(&i.to_string(), t(0));
        }
        rl.check_and_count("extra", t(0));
        assert_eq!(rl.len(), 1, "every key was live: started over");
        for i in 0..MAX_KEYS - 1 {
            rl.check_and_count(&i.to_string(), t(0));
        }
        assert_eq!(rl.len(), MAX_KEYS);
        rl.check_and_count("later", t(60));
        assert_eq!(rl.len(), 1, "the stale keys were pruned");
    }
}

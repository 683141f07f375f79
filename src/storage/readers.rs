//! The reader threads: with SQLite every API read runs on one of a fixed set of threads of
//! its own, never on tokio's blocking pool. (PostgreSQL's reads, which mostly wait on the
//! network, stay on the blocking pool: with them here `make bench` measured 1,983 searches
//! per second at 100k against 2,719 on the blocking pool, and more CPU per request in both
//! invois and PostgreSQL.)
//!
//! Why not `spawn_blocking`: each actix worker has a blocking pool of its own, so a busy
//! server kept up to a dozen threads handing a few connections around; every read woke one
//! of them (a futex wake and a context switch), and the woken thread often waited again for
//! a pooled connection. Profiles of organization views at 100,000 organizations put 30% of
//! the server's CPU in those hand-offs. Here a fixed number of threads (the read pool's
//! size) take jobs from one queue; `crossbeam-channel` spins briefly before parking, so
//! under load a reader goes from one job to the next without sleeping, and at most
//! `pool_size` threads ever ask the pool for a connection (none waits for one).
//!
//! A job that panics is caught: the request gets an error, the thread lives on.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::DbError;

type Job = Box<dyn FnOnce() + Send>;

/// The queue in front of the reader threads. The threads end once every clone of it is
/// dropped (the database closed) and the queue is empty.
#[derive(Clone)]
pub(super) struct Readers {
    jobs: crossbeam_channel::Sender<Job>,
}

impl Readers {
    /// Starts `threads` reader threads (at least one), named `{name}-{i}`.
    pub(super) fn start(threads: usize, name: &str) -> std::io::Result<Self> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    for job in queue {
                        // The job's own reply channel reports the panic (as a dropped sender).
                        let _ = catch_unwind(AssertUnwindSafe(job));
                    }
                })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `f` on a reader thread and waits, without blocking the executor, for its result.
    pub(super) async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| DbError::Internal("the reader threads have stopped".into()))?;
        rx.await.map_err(|_| {
            DbError::Internal("a read failed unexpectedly (its thread panicked)".into())
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn runs_jobs_and_survives_a_panicking_one() {
        let r = Readers::start(1, "rd-panic").unwrap();
        let v: Result<u32, DbError> = r.run(|| Ok(7)).await;
        assert_eq!(v.unwrap(), 7);
        let p: Result<u32, DbError> = r.run(|| panic!("boom")).await;
        assert!(matches!(p, Err(DbError::Internal(m)) if m.contains("panicked")));
        // The single thread is still there.
        let v: Result<u32, DbError> = r.run(|| Ok(8)).await;
        assert_eq!(v.unwrap(), 8);
    }

    /// The threads named `name-*` of this process (a thread's name is at most 15 bytes).
    fn living(name: &str) -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|comm| comm.starts_with(&format!("{name}-")))
            .count()
    }

    #[test]
    fn threads_end_once_the_queue_is_dropped() {
        // Waits (bounded) until `living` is `n`: a thread names itself once it runs.
        let settle = |n: usize| {
            let t = std::time::Instant::now();
            while living("rd-ends") != n && t.elapsed().as_secs() < 5 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            living("rd-ends")
        };
        let r = Readers::start(3, "rd-ends").unwrap();
        assert_eq!(settle(3), 3);
        drop(r);
        assert_eq!(settle(0), 0);
    }
}

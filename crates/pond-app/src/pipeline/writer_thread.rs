//! A thread of its own for the tasks that write through the database's single writer.
//!
//! On SQLite one connection does every write, and a transaction holds it from `BEGIN` to `COMMIT`.
//! Between two statements the task driving the transaction waits to be polled again; woken from
//! SQLite's worker thread, it is queued behind every HTTP task of the shared runtime, so under
//! load a transaction held the writer about twice as long as SQLite spent on it, and each
//! callback's group commit waited for that. The inbox's group commit and the inbox worker's
//! batch writes are sequential tasks — one transaction at a time each — so they run here, on a
//! single-threaded runtime with nothing else queued, and their transactions go straight on.
//!
//! On PostgreSQL, where writes spread over a pool of connections and none is shared by every
//! writer, the tasks stay on the caller's runtime (on the writer thread the pipeline benchmark
//! processed 10–18% fewer events per second there). Should the thread not start, the same.

use std::{future::Future, sync::OnceLock};

use tokio::{runtime::Handle, task::JoinHandle};

static WRITER_RUNTIME: OnceLock<Option<Handle>> = OnceLock::new();

/// Spawns a task that writes through `db`: on SQLite on the writer thread (started on first use,
/// for the process's life), elsewhere on the caller's runtime.
pub fn spawn<F>(db: &pond_store::Db, task: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if db.backend() != pond_store::Backend::Sqlite {
        return tokio::spawn(task);
    }
    match WRITER_RUNTIME.get_or_init(start) {
        Some(handle) => handle.spawn(task),
        None => tokio::spawn(task),
    }
}

fn start() -> Option<Handle> {
    // The runtime is built and dropped on its own thread: dropping one inside async code panics.
    let (tell, told) = std::sync::mpsc::channel();
    let started = std::thread::Builder::new().name("pond-db-writer".into()).spawn(move || {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => {
                let _ = tell.send(Ok(runtime.handle().clone()));
                runtime.block_on(std::future::pending::<()>());
            }
            Err(e) => {
                let _ = tell.send(Err(e.to_string()));
            }
        }
    });
    let outcome = match started {
        Ok(_) => told.recv().unwrap_or_else(|_| Err("the writer thread ended".into())),
        Err(e) => Err(e.to_string()),
    };
    outcome.map_err(|e| tracing::warn!(error = %e, "no writer thread; writes share the main runtime")).ok()
}

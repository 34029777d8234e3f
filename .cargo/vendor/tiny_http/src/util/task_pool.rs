use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// Manages a collection of threads.
///
/// A task runs at once: on an idle thread, or on a new one when every thread is busy. A thread
/// idle for a few seconds ends, down to [`MIN_THREADS`].
///
/// PATCH(airbyte-wrapper): the bookkeeping is under one lock. The original counted a thread as
/// idle until it woke, so a second task spawned before then was queued behind a busy thread
/// instead of getting one of its own: a connection waited for another connection's thread to be
/// free, which with stalled clients meant for as long as they stalled.
pub struct TaskPool {
    sharing: Arc<Sharing>,
}

type Task = Box<dyn FnMut() + Send>;

struct Sharing {
    state: Mutex<State>,
    // notified whenever a task is added, or the pool is dropped
    condvar: Condvar,
}

struct State {
    todo: VecDeque<Task>,
    /// Threads waiting for a task.
    idle: usize,
    /// Threads running.
    threads: usize,
    /// The pool is gone: idle threads end.
    closed: bool,
}

/// Threads kept even when idle.
const MIN_THREADS: usize = 4;

/// How long a thread beyond [`MIN_THREADS`] waits for a task before it ends.
const IDLE_TIME: Duration = Duration::from_secs(5);

/// PATCH(airbyte-wrapper): the stack of a connection thread (a handler may run on it: JSON, TLS to
/// an upstream). Only the pages a thread touches are resident.
const STACK_BYTES: usize = 1024 * 1024;

impl Sharing {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TaskPool {
    pub fn new() -> TaskPool {
        let pool = TaskPool {
            sharing: Arc::new(Sharing {
                state: Mutex::new(State {
                    todo: VecDeque::new(),
                    idle: 0,
                    threads: 0,
                    closed: false,
                }),
                condvar: Condvar::new(),
            }),
        };
        for _ in 0..MIN_THREADS {
            pool.add_thread(None);
        }
        pool
    }

    /// Executes a function in a thread: an idle one, or a new one when none is idle.
    pub fn spawn(&self, code: Task) {
        let mut state = self.sharing.lock();
        // Each queued task has an idle thread of its own on its way to it.
        if state.idle > state.todo.len() {
            state.todo.push_back(code);
            self.sharing.condvar.notify_one();
        } else {
            drop(state);
            self.add_thread(Some(code));
        }
    }

    fn add_thread(&self, initial: Option<Task>) {
        let sharing = self.sharing.clone();
        sharing.lock().threads += 1;
        // PATCH(airbyte-wrapper): a failed spawn (the system is out of threads) drops that one
        // task (a connection), instead of panicking the accept thread.
        let spawned = thread::Builder::new()
            .stack_size(STACK_BYTES)
            .spawn(move || {
                if let Some(mut task) = initial {
                    task();
                }
                while let Some(mut task) = next_task(&sharing) {
                    task();
                }
            });
        if let Err(e) = spawned {
            self.sharing.lock().threads -= 1;
            log::error!("could not start a connection thread: {}", e);
        }
    }
}

/// Waits for the next task; `None` when this thread should end (idle too long, or the pool gone).
fn next_task(sharing: &Sharing) -> Option<Task> {
    let mut state = sharing.lock();
    loop {
        if let Some(task) = state.todo.pop_front() {
            return Some(task);
        }
        if state.closed {
            state.threads -= 1;
            return None;
        }
        state.idle += 1;
        let timed_out = if state.threads <= MIN_THREADS {
            state = sharing
                .condvar
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
            false
        } else {
            let (guard, wait) = sharing
                .condvar
                .wait_timeout(state, IDLE_TIME)
                .unwrap_or_else(|p| p.into_inner());
            state = guard;
            wait.timed_out()
        };
        state.idle -= 1;
        if timed_out && state.todo.is_empty() {
            state.threads -= 1;
            return None;
        }
    }
}

impl Drop for TaskPool {
    fn drop(&mut self) {
        self.sharing.lock().closed = true;
        self.sharing.condvar.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::TaskPool;
    use std::sync::mpsc;
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    /// Tasks that each block until all have started can only all start if each got a thread.
    #[test]
    fn every_task_gets_a_thread_of_its_own_when_all_are_busy() {
        let pool = TaskPool::new();
        let release = Arc::new((Mutex::new(false), Condvar::new()));
        let (started, starts) = mpsc::channel();
        for _ in 0..32 {
            let (release, started) = (release.clone(), started.clone());
            pool.spawn(Box::new(move || {
                started.send(()).unwrap();
                let (released, changed) = &*release;
                let released = released.lock().unwrap();
                drop(changed.wait_while(released, |r| !*r).unwrap());
            }));
        }
        for n in 0..32 {
            let start = starts.recv_timeout(Duration::from_secs(10));
            assert!(start.is_ok(), "task {n} is still waiting for a thread");
        }
        *release.0.lock().unwrap() = true;
        release.1.notify_all();
    }
}

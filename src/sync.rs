//! Locks that outlive a panic. A request whose handler panicked while holding a lock leaves the
//! data it guards usable (every update here is a single assignment or insertion), so the lock is
//! taken as it is rather than poisoning every later request.

use std::sync::MutexGuard;

pub use std::sync::Mutex;

/// Locks `mutex`, whether or not a holder panicked.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

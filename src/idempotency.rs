//! `Idempotency-Key`: a create retried with the same key and body answers what the first one did
//! and calls Airbyte no more, so a client that timed out can retry without making duplicates.
//!
//! The store is in memory, per process and bounded: right for a sidecar. It does not survive a
//! restart, and replicas do not share it.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::ApiError;
use crate::http::Reply;
use crate::sync::lock;

/// What a handler answered (a reply or a problem), as stored for replay.
pub type Handled = Result<Reply, ApiError>;

/// The key a client chose, scoped to the route it was used on.
type Key = (&'static str, String);

enum State {
    /// The first request with this key is still running.
    Running { fingerprint: Fingerprint },
    /// It finished; its answer is replayed until `expires`.
    Done {
        fingerprint: Fingerprint,
        answer: Handled,
        expires: Instant,
    },
}

struct Inner {
    entries: HashMap<Key, State>,
    /// Keys in the order they were first used, for eviction (oldest first).
    order: VecDeque<Key>,
}

/// Remembered answers, by route and key.
pub struct Store {
    ttl: Duration,
    max_keys: usize,
    inner: Mutex<Inner>,
    finished: Condvar,
}

/// A key being worked on; finishing it stores the answer, dropping it unfinished forgets the key.
pub struct Claim<'a> {
    store: &'a Store,
    key: Option<Key>,
}

/// What looking a key up found: what to do with the request that carries it.
pub enum Lookup<'a> {
    /// First use (or the earlier attempt failed): run the handler, then [`Claim::finish`].
    Run(Claim<'a>),
    /// Seen before with the same body: answer this.
    Replay(Handled),
}

/// A key is 1 to 255 printable ASCII characters.
pub fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// What a request carried, as SHA-256 over its parts in turn (each after its length, so that no
/// two sequences of parts read the same): a key reused with another request is told apart
/// however the other was made. (A 64-bit SipHash with fixed keys was not collision-resistant
/// against someone who tries.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of(parts: &[&[u8]]) -> Fingerprint {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for part in parts {
            context.update(&(part.len() as u64).to_le_bytes());
            context.update(part);
        }
        let mut bytes = [0; 32];
        bytes.copy_from_slice(context.finish().as_ref());
        Fingerprint(bytes)
    }
}

impl Store {
    pub fn new(ttl: Duration, max_keys: usize) -> Store {
        Store {
            ttl,
            max_keys,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: VecDeque::new(),
            }),
            finished: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Looks `key` up for a request to `route` that carried `fingerprint`. A request whose twin
    /// is still running waits for it. The same key with another request is a 422.
    pub fn look_up(
        &self,
        route: &'static str,
        key: &str,
        fingerprint: Fingerprint,
    ) -> Result<Lookup<'_>, ApiError> {
        let key: Key = (route, key.to_string());
        let mut inner = self.lock();
        loop {
            let now = Instant::now();
            match inner.entries.get(&key) {
                Some(State::Running { fingerprint: f })
                | Some(State::Done { fingerprint: f, .. })
                    if *f != fingerprint =>
                {
                    return Err(ApiError::unprocessable(
                        "this Idempotency-Key was already used with a different request body; use a new key for a new request",
                    ));
                }
                Some(State::Running { .. }) => {
                    inner = self
                        .finished
                        .wait(inner)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                Some(State::Done {
                    answer, expires, ..
                }) if *expires > now => return Ok(Lookup::Replay(answer.clone())),
                _ => break,
            }
        }
        self.evict(&mut inner);
        match inner.entries.entry(key.clone()) {
            MapEntry::Occupied(mut slot) => {
                slot.insert(State::Running { fingerprint });
            }
            MapEntry::Vacant(slot) => {
                slot.insert(State::Running { fingerprint });
                inner.order.push_back(key.clone());
            }
        }
        Ok(Lookup::Run(Claim {
            store: self,
            key: Some(key),
        }))
    }

    /// Drops expired answers from the front, and the oldest while the store is full.
    fn evict(&self, inner: &mut Inner) {
        let now = Instant::now();
        while let Some(oldest) = inner.order.front() {
            let full = inner.order.len() >= self.max_keys;
            let evictable = match inner.entries.get(oldest) {
                Some(State::Done { expires, .. }) => *expires <= now || full,
                Some(State::Running { .. }) => false,
                None => true,
            };
            if !evictable {
                break;
            }
            let oldest = inner.order.pop_front().expect("a front element");
            inner.entries.remove(&oldest);
        }
    }
}

impl Claim<'_> {
    /// Stores the answer for replay, unless it is a server-side failure (5xx): those are
    /// forgotten, so a retry tries again.
    pub fn finish(mut self, answer: &Handled) {
        let key = self.key.take().expect("a claim is finished once");
        let status = match answer {
            Ok(reply) => reply.status,
            Err(problem) => problem.status,
        };
        let mut inner = self.store.lock();
        if status >= 500 {
            forget(&mut inner, &key);
        } else if let Some(state) = inner.entries.get_mut(&key) {
            let fingerprint = match state {
                State::Running { fingerprint } | State::Done { fingerprint, .. } => *fingerprint,
            };
            *state = State::Done {
                fingerprint,
                answer: answer.clone(),
                expires: Instant::now() + self.store.ttl,
            };
        }
        drop(inner);
        self.store.finished.notify_all();
    }
}

impl Drop for Claim<'_> {
    /// A handler that panicked leaves nothing behind: the key can be used again.
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            forget(&mut self.store.lock(), &key);
            self.store.finished.notify_all();
        }
    }
}

fn forget(inner: &mut Inner, key: &Key) {
    inner.entries.remove(key);
    inner.order.retain(|k| k != key);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    fn created(n: u8) -> Handled {
        Ok(Reply::json(201, &serde_json::json!({ "n": n })))
    }

    fn run<'a>(store: &'a Store, key: &str, body: &[u8]) -> Option<Claim<'a>> {
        match store
            .look_up("/sink", key, Fingerprint::of(&[body]))
            .unwrap()
        {
            Lookup::Run(claim) => Some(claim),
            Lookup::Replay(_) => None,
        }
    }

    #[test]
    fn the_same_key_and_body_replays() {
        let store = Store::new(Duration::from_secs(60), 10);
        run(&store, "k", b"{}").unwrap().finish(&created(1));
        match store
            .look_up("/sink", "k", Fingerprint::of(&[b"{}"]))
            .unwrap()
        {
            Lookup::Replay(answer) => assert_eq!(answer, created(1)),
            Lookup::Run(_) => panic!("expected a replay"),
        }
        assert!(run(&store, "k", b"{}").is_none());
        assert!(run(&store, "k2", b"{}").is_some(), "another key runs");
        assert!(
            store
                .look_up("/datasource", "k", Fingerprint::of(&[b"{}"]))
                .is_ok_and(|b| matches!(b, Lookup::Run(_))),
            "keys are per route"
        );
    }

    #[test]
    fn another_body_is_422() {
        let store = Store::new(Duration::from_secs(60), 10);
        run(&store, "k", b"{}").unwrap().finish(&created(1));
        let err = store
            .look_up("/sink", "k", Fingerprint::of(&[b"{\"x\":1}"]))
            .err()
            .unwrap();
        assert_eq!(err.status, 422);
    }

    #[test]
    fn server_failures_are_forgotten_client_failures_kept() {
        let store = Store::new(Duration::from_secs(60), 10);
        run(&store, "k", b"{}")
            .unwrap()
            .finish(&Err(ApiError::bad_gateway("x")));
        assert!(run(&store, "k", b"{}").is_some(), "a 502 is retried");
        let store = Store::new(Duration::from_secs(60), 10);
        run(&store, "k", b"{}")
            .unwrap()
            .finish(&Err(ApiError::unprocessable("bad config")));
        assert!(run(&store, "k", b"{}").is_none(), "a 422 is replayed");
    }

    #[test]
    fn an_unfinished_claim_frees_the_key() {
        let store = Store::new(Duration::from_secs(60), 10);
        drop(run(&store, "k", b"{}").unwrap());
        assert!(run(&store, "k", b"{}").is_some());
    }

    #[test]
    fn expired_and_oldest_keys_go() {
        let store = Store::new(Duration::ZERO, 10);
        run(&store, "k", b"{}").unwrap().finish(&created(1));
        assert!(run(&store, "k", b"{}").is_some(), "expired");

        let store = Store::new(Duration::from_secs(60), 2);
        for k in ["a", "b", "c"] {
            run(&store, k, b"{}").unwrap().finish(&created(1));
        }
        assert!(run(&store, "a", b"{}").is_some(), "the oldest was evicted");
        assert!(run(&store, "c", b"{}").is_none());
        assert!(store.lock().entries.len() <= 2);
    }

    #[test]
    fn a_concurrent_twin_waits_for_the_first() {
        let store = Arc::new(Store::new(Duration::from_secs(60), 10));
        let claim_store = store.clone();
        let claim = match claim_store
            .look_up("/sink", "k", Fingerprint::of(&[b"{}"]))
            .unwrap()
        {
            Lookup::Run(c) => c,
            Lookup::Replay(_) => unreachable!(),
        };
        let waiter = {
            let store = store.clone();
            thread::spawn(move || {
                match store
                    .look_up("/sink", "k", Fingerprint::of(&[b"{}"]))
                    .unwrap()
                {
                    Lookup::Replay(answer) => answer,
                    Lookup::Run(_) => panic!("the twin ran too"),
                }
            })
        };
        claim.finish(&created(7));
        assert_eq!(waiter.join().unwrap(), created(7));
    }

    #[test]
    fn fingerprints_tell_parts_apart() {
        assert_eq!(Fingerprint::of(&[b"ab"]), Fingerprint::of(&[b"ab"]));
        assert_ne!(Fingerprint::of(&[b"a", b"b"]), Fingerprint::of(&[b"ab"]));
        assert_ne!(Fingerprint::of(&[b"a", b""]), Fingerprint::of(&[b"", b"a"]));
    }

    #[test]
    fn keys_are_short_and_printable() {
        assert!(valid_key("order-42"));
        assert!(!valid_key(""));
        assert!(!valid_key("a\nb"));
        assert!(!valid_key(&"k".repeat(256)));
    }
}

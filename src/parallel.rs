//! One parallel map for the whole crate: a fixed number of scoped threads take items in
//! turn from a shared counter; results come back in the items' order. A worker may carry
//! its own state (an open archive, say) from item to item: [`parallel_map_with`]. And one
//! two-stage pipe: a stream of bytes made on one thread and taken on another, through a
//! bounded set of buffers ([`pipelined`]), so that inflating a large member and hashing it
//! use two cores.

use std::convert::Infallible;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most threads a map runs at once, whatever it is asked for.
const MAX_THREADS: usize = 64;

/// `work` on every item, `threads` at a time; the results in the items' order.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: &(dyn Fn(&T) -> R + Sync),
) -> Vec<R> {
    let Ok(results) = parallel_map_with(items, threads, None, &|| Ok::<(), Infallible>(()), &|(), item| {
        work(item)
    });
    results
}

/// `work` on every item, `threads` at a time, each worker thread with its own state: `first`
/// (when given) for a worker run on the calling thread, one made by `init` for each of the
/// others, in its own thread. A worker whose `init` fails takes no items (the others take
/// them all), and the map then returns that error (the first worker's, in spawn order).
/// Otherwise the results come back in the items' order.
pub fn parallel_map_with<S, T, R, E>(
    items: &[T],
    threads: usize,
    first: Option<&mut S>,
    init: &(dyn Fn() -> Result<S, E> + Sync),
    work: &(dyn Fn(&mut S, &T) -> R + Sync),
) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
{
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let queue = Queue {
        items,
        next: AtomicUsize::new(0),
        results: Mutex::new(Vec::with_capacity(items.len())),
        work,
    };
    let errors: Mutex<Vec<(usize, E)>> = Mutex::new(Vec::new());
    let workers = threads.clamp(1, MAX_THREADS).min(items.len());
    std::thread::scope(|scope| {
        let spawned_from = usize::from(first.is_some());
        for worker in spawned_from..workers {
            let (queue, errors) = (&queue, &errors);
            scope.spawn(move || match init() {
                Ok(mut state) => queue.drain(&mut state),
                Err(error) => lock(errors).push((worker, error)),
            });
        }
        if let Some(state) = first {
            queue.drain(state);
        }
    });
    let mut errors = errors.into_inner().unwrap_or_else(|poison| poison.into_inner());
    errors.sort_by_key(|(worker, _)| *worker);
    if let Some((_, error)) = errors.into_iter().next() {
        return Err(error);
    }
    let mut results = queue
        .results
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner());
    results.sort_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

/// The items a map's workers share, the counter of the next one to take, and the results
/// with their items' indices.
struct Queue<'a, S, T, R> {
    items: &'a [T],
    next: AtomicUsize,
    results: Mutex<Vec<(usize, R)>>,
    work: &'a (dyn Fn(&mut S, &T) -> R + Sync),
}

impl<S, T: Sync, R: Send> Queue<'_, S, T, R> {
    /// Takes items in turn, with the worker's `state`, until none is left.
    fn drain(&self, state: &mut S) {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = self.items.get(index) else { break };
            let result = (self.work)(state, item);
            lock(&self.results).push((index, result));
        }
    }
}

/// Locks a mutex, taking its content even if another worker panicked holding it.
fn lock<V>(mutex: &Mutex<V>) -> std::sync::MutexGuard<'_, V> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Chunks of this many bytes pass between the two stages of [`pipelined`].
pub const CHUNK: usize = 1 << 20;

/// At most this many chunks are in flight between the stages (filled, waiting or being
/// taken): the memory a pipe holds is bounded by `DEPTH * CHUNK`.
const DEPTH: usize = 4;

/// The producing end of a [`pipelined`] stream: bytes written to it reach the consumer in
/// order, in chunks.
pub struct Feed {
    full: std::sync::mpsc::SyncSender<Vec<u8>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    allocated: usize,
}

impl Feed {
    /// A cleared buffer of [`CHUNK`] capacity: a returned one, else a new one while fewer than
    /// [`DEPTH`] exist, else the next one the consumer returns.
    fn spare(&mut self) -> std::io::Result<Vec<u8>> {
        let mut buffer = match self.empty.try_recv() {
            Ok(buffer) => buffer,
            Err(_) if self.allocated < DEPTH => {
                self.allocated += 1;
                Vec::with_capacity(CHUNK)
            }
            Err(_) => self.empty.recv().map_err(|_| stopped())?,
        };
        buffer.clear();
        Ok(buffer)
    }

    /// Hands `chunk` (all its bytes) to the consumer, after any bytes written before it, and
    /// returns an empty buffer of [`CHUNK`] capacity to fill next: no copy of the bytes.
    pub fn swap(&mut self, chunk: Vec<u8>) -> std::io::Result<Vec<u8>> {
        self.flush_current()?;
        let spare = self.spare()?;
        self.full.send(chunk).map_err(|_| stopped())?;
        Ok(spare)
    }

    fn flush_current(&mut self) -> std::io::Result<()> {
        if self.current.is_empty() {
            return Ok(());
        }
        let spare = self.spare()?;
        let full = std::mem::replace(&mut self.current, spare);
        self.full.send(full).map_err(|_| stopped())
    }
}

impl std::io::Write for Feed {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.current.capacity() == 0 {
            self.current = self.spare()?;
        }
        let room = CHUNK.saturating_sub(self.current.len());
        let taken = room.min(bytes.len());
        self.current.extend_from_slice(&bytes[..taken]);
        if self.current.len() >= CHUNK {
            self.flush_current()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn stopped() -> std::io::Error {
    std::io::Error::other("the consuming stage of a pipe stopped")
}

/// Runs `produce` on this thread and `consume` on a thread of its own: every byte `produce`
/// writes to (or swaps into) its [`Feed`] reaches `consume` in order. Returns what `produce`
/// returned and how `consume` ended. Once `consume` fails it is given nothing more, and the
/// feed's writes fail; a panic in `consume` is resumed here.
pub fn pipelined<T>(
    produce: impl FnOnce(&mut Feed) -> T,
    mut consume: impl FnMut(&[u8]) -> std::io::Result<()> + Send,
) -> (T, std::io::Result<()>) {
    let (full_sender, full) = std::sync::mpsc::sync_channel::<Vec<u8>>(DEPTH);
    let (empty_sender, empty) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let consumer = scope.spawn(move || {
            for chunk in full {
                consume(&chunk)?;
                // The producer may have finished: a buffer nobody takes back is dropped.
                let _ = empty_sender.send(chunk);
            }
            Ok(())
        });
        let mut feed = Feed {
            full: full_sender,
            empty,
            current: Vec::new(),
            allocated: 0,
        };
        let produced = produce(&mut feed);
        let flushed = feed.flush_current();
        drop(feed);
        let consumed = match consumer.join() {
            Ok(consumed) => consumed,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (produced, consumed.and(flushed))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order_whatever_the_threads() {
        let items: Vec<u64> = (0..200).collect();
        for threads in [0, 1, 3, 64, 500] {
            let squares = parallel_map(&items, threads, &|item: &u64| {
                if item.is_multiple_of(7) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                item * item
            });
            assert_eq!(squares, items.iter().map(|item| item * item).collect::<Vec<_>>());
        }
        let none: Vec<u64> = parallel_map(&[] as &[u64], 4, &|item: &u64| *item);
        assert!(none.is_empty());
    }

    /// A worker's state: which worker made it, and the items it took.
    struct Worker {
        id: usize,
        taken: usize,
    }

    #[test]
    fn each_worker_keeps_its_own_state_and_the_first_may_be_given() {
        let items: Vec<u64> = (0..300).collect();
        let made = AtomicUsize::new(0);
        let init = || -> Result<Worker, String> {
            Ok(Worker {
                id: made.fetch_add(1, Ordering::Relaxed) + 1,
                taken: 0,
            })
        };
        let work = |worker: &mut Worker, item: &u64| {
            worker.taken += 1;
            if item.is_multiple_of(5) {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            (worker.id, worker.taken, item * 2)
        };
        for threads in [0, 1, 4, 500] {
            made.store(0, Ordering::Relaxed);
            let mut given = Worker { id: 0, taken: 0 };
            let results = parallel_map_with(&items, threads, Some(&mut given), &init, &work).unwrap();
            // In the items' order; one state per worker: the given one, and `init`'s for the
            // others (none when one thread is asked for).
            assert_eq!(
                results.iter().map(|(_, _, double)| *double).collect::<Vec<_>>(),
                items.iter().map(|item| item * 2).collect::<Vec<_>>()
            );
            let workers = threads.clamp(1, MAX_THREADS).min(items.len());
            assert_eq!(made.load(Ordering::Relaxed), workers - 1, "{threads} threads");
            if workers == 1 {
                assert_eq!(given.taken, items.len());
            }
            // Each state counted only its own items: its counts run 1, 2, 3... in the
            // order it took them.
            for id in 0..workers {
                let mut counts: Vec<usize> = results
                    .iter()
                    .filter(|(worker, _, _)| *worker == id)
                    .map(|(_, taken, _)| *taken)
                    .collect();
                counts.sort_unstable();
                assert_eq!(counts, (1..=counts.len()).collect::<Vec<_>>());
            }
            assert_eq!(
                given.taken,
                results.iter().filter(|(worker, _, _)| *worker == 0).count()
            );
        }
        // Without a state given, every worker makes its own.
        made.store(0, Ordering::Relaxed);
        let results = parallel_map_with(&items, 3, None, &init, &work).unwrap();
        assert_eq!(results.len(), items.len());
        assert_eq!(made.load(Ordering::Relaxed), 3);
        assert!(results.iter().all(|(worker, _, _)| (1..=3).contains(worker)));
    }

    #[test]
    fn a_state_that_cannot_be_made_is_the_error_and_the_others_take_the_items() {
        let items: Vec<u64> = (0..50).collect();
        let made = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let failing = || -> Result<(), String> {
            match made.fetch_add(1, Ordering::Relaxed) {
                0 => Ok(()),
                other => Err(format!("cannot open ({other})")),
            }
        };
        let result = parallel_map_with(&items, 4, Some(&mut ()), &failing, &|(), item: &u64| {
            done.fetch_add(1, Ordering::Relaxed);
            *item
        });
        // Every item was still worked on, by the workers that have a state.
        assert_eq!(done.load(Ordering::Relaxed), items.len());
        let error = result.unwrap_err();
        assert!(error.starts_with("cannot open"), "{error}");
        // No items, no workers, no states.
        made.store(0, Ordering::Relaxed);
        let none = parallel_map_with(&[] as &[u64], 4, None, &failing, &|(), item: &u64| *item).unwrap();
        assert!(none.is_empty());
        assert_eq!(made.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_pipe_passes_every_byte_in_order_and_bounds_its_buffers() {
        use std::io::Write as _;
        let bytes: Vec<u8> = (0..(5 * CHUNK + 12345)).map(|n| (n % 251) as u8).collect();
        let mut received = Vec::new();
        let ((), consumed) = pipelined(
            |feed| {
                // Small writes, a swapped whole chunk, and small writes again.
                for piece in bytes[..CHUNK + 7].chunks(4093) {
                    feed.write_all(piece).unwrap();
                }
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.extend_from_slice(&bytes[CHUNK + 7..2 * CHUNK + 7]);
                let spare = feed.swap(chunk).unwrap();
                assert!(spare.is_empty() && spare.capacity() >= CHUNK);
                feed.write_all(&bytes[2 * CHUNK + 7..]).unwrap();
                assert!(feed.allocated <= DEPTH);
            },
            |chunk| {
                received.extend_from_slice(chunk);
                Ok(())
            },
        );
        consumed.unwrap();
        assert!(received == bytes);
    }

    #[test]
    fn a_failing_consumer_stops_the_feed_and_is_reported() {
        use std::io::Write as _;
        let (written, consumed) = pipelined(
            |feed| {
                let piece = vec![1u8; CHUNK];
                (0..100).map(|_| feed.write_all(&piece)).find(Result::is_err)
            },
            |_| Err(std::io::Error::other("disk full")),
        );
        assert!(written.is_some(), "the feed kept accepting bytes");
        assert_eq!(consumed.unwrap_err().to_string(), "disk full");
    }
}

//! The waiting queue of conversations nobody could take yet: served by priority, then age
//! (`distribution::queue_order`), each conversation at most once. Insert, pop and removal are
//! O(log n), so a queue of many thousands costs the distributor nothing per new arrival.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use chrono::NaiveDateTime;

use super::distribution::Priority;

/// Where an entry sits: priority rank first (lower is served first), then age, then its id
/// (two conversations queued in the same instant keep a stable order).
type Place<K> = (u8, NaiveDateTime, K);

#[derive(Debug, Clone)]
pub struct WaitingQueue<K: Ord + Hash + Clone, V> {
    ordered: BTreeMap<Place<K>, V>,
    places: HashMap<K, Place<K>>,
}

impl<K: Ord + Hash + Clone, V> Default for WaitingQueue<K, V> {
    fn default() -> Self {
        Self {
            ordered: BTreeMap::new(),
            places: HashMap::new(),
        }
    }
}

impl<K: Ord + Hash + Clone, V> WaitingQueue<K, V> {
    /// Queues `value` under `key`; false (and nothing changes) when `key` already waits.
    pub fn push(&mut self, key: K, priority: Priority, since: NaiveDateTime, value: V) -> bool {
        if self.places.contains_key(&key) {
            return false;
        }
        let place = (priority.rank(), since, key.clone());
        self.places.insert(key, place.clone());
        self.ordered.insert(place, value);
        true
    }

    /// The entry to serve next, taken out of the queue.
    pub fn pop(&mut self) -> Option<(K, V)> {
        let ((_, _, key), value) = self.ordered.pop_first()?;
        self.places.remove(&key);
        Some((key, value))
    }

    /// Takes `key` out wherever it waits (assigned by hand, closed).
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let place = self.places.remove(key)?;
        self.ordered.remove(&place)
    }

    pub fn contains(&self, key: &K) -> bool {
        self.places.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }

    /// The entry served next and how long it has waited since (the board's oldest wait).
    pub fn peek(&self) -> Option<(&K, NaiveDateTime, &V)> {
        self.ordered
            .iter()
            .next()
            .map(|((_, since, key), value)| (key, *since, value))
    }
}

/// A tenant's waiting conversations, one [`WaitingQueue`] per *shape*: what decides who
/// may take them (the preferred AI agent, humans only, the specialty). Entries of one shape
/// have the same candidates, so when the head of a shape finds no owner the rest of that
/// shape would not either; a drain serves the best head among the shapes that have not
/// failed yet and stops when every shape failed or emptied. Freed capacity thus wakes the
/// conversations it can serve, without a sweep over the whole queue.
#[derive(Debug, Clone)]
pub struct ShapedQueue<S: Hash + Eq + Clone, K: Ord + Hash + Clone, V> {
    shapes: HashMap<S, WaitingQueue<K, V>>,
}

impl<S: Hash + Eq + Clone, K: Ord + Hash + Clone, V> Default for ShapedQueue<S, K, V> {
    fn default() -> Self {
        Self {
            shapes: HashMap::new(),
        }
    }
}

impl<S: Hash + Eq + Clone, K: Ord + Hash + Clone, V> ShapedQueue<S, K, V> {
    /// Queues `value`; false when `key` already waits (in any shape).
    pub fn push(
        &mut self,
        shape: S,
        key: K,
        priority: Priority,
        since: NaiveDateTime,
        value: V,
    ) -> bool {
        if self.contains(&key) {
            return false;
        }
        self.shapes
            .entry(shape)
            .or_default()
            .push(key, priority, since, value)
    }

    pub fn contains(&self, key: &K) -> bool {
        self.shapes.values().any(|queue| queue.contains(key))
    }

    pub fn len(&self) -> usize {
        self.shapes.values().map(WaitingQueue::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shapes.values().all(WaitingQueue::is_empty)
    }

    /// Takes out the entry to serve next among the shapes not in `failed`.
    pub fn pop_untried(&mut self, failed: &std::collections::HashSet<S>) -> Option<(S, K, V)> {
        let shape = self
            .shapes
            .iter()
            .filter(|(shape, _)| !failed.contains(*shape))
            .filter_map(|(shape, queue)| queue.head_place().map(|place| (shape, place)))
            .min_by(|a, b| a.1.cmp(&b.1))
            .map(|(shape, _)| shape.clone())?;
        let queue = self.shapes.get_mut(&shape)?;
        let (key, value) = queue.pop()?;
        if queue.is_empty() {
            self.shapes.remove(&shape);
        }
        Some((shape, key, value))
    }

    /// The longest-waiting entry's queue time, whatever its shape.
    pub fn oldest(&self) -> Option<NaiveDateTime> {
        self.shapes
            .values()
            .flat_map(|queue| queue.ordered.keys().map(|(_, since, _)| *since).min())
            .min()
    }
}

impl<K: Ord + Hash + Clone, V> WaitingQueue<K, V> {
    /// Rank and age of the head, comparable across queues.
    fn head_place(&self) -> Option<(u8, NaiveDateTime)> {
        self.ordered
            .keys()
            .next()
            .map(|(rank, since, _)| (*rank, *since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_drain_skips_shapes_that_found_nobody_and_serves_the_rest_in_order() {
        let mut queue: ShapedQueue<&str, &str, ()> = ShapedQueue::default();
        assert!(queue.push("billing", "b-old", Priority::Medium, at(0), ()));
        assert!(queue.push("tech", "t-critical", Priority::Critical, at(5), ()));
        assert!(queue.push("billing", "b-new", Priority::Medium, at(3), ()));
        assert!(queue.push("tech", "t-old", Priority::Medium, at(1), ()));
        assert!(
            !queue.push("tech", "b-old", Priority::Low, at(9), ()),
            "waits already"
        );
        assert_eq!(queue.len(), 4);
        assert_eq!(queue.oldest(), Some(at(0)));

        let mut failed = std::collections::HashSet::new();
        let first = queue.pop_untried(&failed).map(|(s, k, _)| (s, k));
        assert_eq!(first, Some(("tech", "t-critical")));
        // Nobody took the critical tech one: the tech shape is skipped from now on.
        failed.insert("tech");
        let next: Vec<&str> =
            std::iter::from_fn(|| queue.pop_untried(&failed).map(|(_, k, _)| k)).collect();
        assert_eq!(next, vec!["b-old", "b-new"]);
        assert_eq!(queue.len(), 1, "t-old still waits");
        assert!(queue.contains(&"t-old"));
        failed.clear();
        assert_eq!(queue.pop_untried(&failed).map(|(_, k, _)| k), Some("t-old"));
        assert!(queue.is_empty());
    }

    fn at(seconds: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_700_000_000 + seconds, 0)
            .expect("time")
            .naive_utc()
    }

    #[test]
    fn priority_first_then_age_and_each_key_once() {
        let mut queue = WaitingQueue::default();
        assert!(queue.push("old-low", Priority::Low, at(0), ()));
        assert!(queue.push("new-critical", Priority::Critical, at(9), ()));
        assert!(queue.push("old-medium", Priority::Medium, at(1), ()));
        assert!(queue.push("new-medium", Priority::Medium, at(5), ()));
        assert!(
            !queue.push("old-medium", Priority::Critical, at(0), ()),
            "already waiting"
        );
        assert_eq!(queue.len(), 4);
        assert_eq!(
            queue.peek().map(|(k, since, _)| (*k, since)),
            Some(("new-critical", at(9)))
        );
        assert_eq!(queue.remove(&"new-medium"), Some(()));
        assert!(!queue.contains(&"new-medium"));
        let order: Vec<&str> = std::iter::from_fn(|| queue.pop().map(|(k, _)| k)).collect();
        assert_eq!(order, vec!["new-critical", "old-medium", "old-low"]);
        assert!(queue.is_empty());
    }

    proptest! {
        /// Whatever is pushed and removed, pops come out in `queue_order`, each key once.
        #[test]
        fn pops_follow_the_queue_order(
            entries in prop::collection::vec((0u32..50, 0usize..4, 0i64..20), 0..80),
            removals in prop::collection::vec(0u32..50, 0..20),
        ) {
            let mut queue = WaitingQueue::default();
            let mut expected: HashMap<u32, (Priority, NaiveDateTime)> = HashMap::new();
            for (key, priority, seconds) in entries {
                let priority = Priority::ALL[priority];
                if queue.push(key, priority, at(seconds), key) {
                    expected.insert(key, (priority, at(seconds)));
                }
            }
            for key in removals {
                prop_assert_eq!(queue.remove(&key).is_some(), expected.remove(&key).is_some());
            }
            prop_assert_eq!(queue.len(), expected.len());
            let mut previous: Option<(Priority, NaiveDateTime)> = None;
            while let Some((key, value)) = queue.pop() {
                prop_assert_eq!(key, value);
                let here = expected.remove(&key).expect("popped once");
                if let Some(before) = previous {
                    prop_assert_ne!(
                        crate::domain::distribution::queue_order((&here.0, here.1), (&before.0, before.1)),
                        std::cmp::Ordering::Less
                    );
                }
                previous = Some(here);
            }
            prop_assert!(expected.is_empty());
        }
    }
}

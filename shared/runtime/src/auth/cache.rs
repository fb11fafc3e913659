//! A bounded cache of review results: allowed answers live longer than denied ones, failures are
//! never kept, and concurrent misses of one key share one review.

use std::{
    hash::Hash,
    sync::Arc,
    time::{Duration, Instant},
};

use moka::{Expiry, future::Cache};

/// A cached answer that is either a yes or a no.
pub(crate) trait Verdict {
    fn allowed(&self) -> bool;
}

struct ByVerdict {
    allowed: Duration,
    denied: Duration,
}

impl<K, V: Verdict> Expiry<K, V> for ByVerdict {
    fn expire_after_create(&self, _key: &K, value: &V, _created_at: Instant) -> Option<Duration> {
        Some(if value.allowed() {
            self.allowed
        } else {
            self.denied
        })
    }
}

pub(crate) struct DecisionCache<K, V> {
    inner: Cache<K, V>,
}

impl<K, V> DecisionCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Verdict + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(capacity: u64, allowed: Duration, denied: Duration) -> Self {
        Self {
            inner: Cache::builder()
                .max_capacity(capacity)
                .expire_after(ByVerdict { allowed, denied })
                .build(),
        }
    }

    /// The cached answer for `key`, else what `review` answers (kept unless it failed).
    pub(crate) async fn get_or_review<E: Send + Sync + 'static>(
        &self,
        key: K,
        review: impl Future<Output = Result<V, E>>,
    ) -> Result<V, Arc<E>> {
        self.inner.try_get_with(key, review).await
    }

    #[cfg(test)]
    async fn len(&self) -> u64 {
        self.inner.run_pending_tasks().await;
        self.inner.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Answer(bool);

    impl Verdict for Answer {
        fn allowed(&self) -> bool {
            self.0
        }
    }

    #[tokio::test]
    async fn answers_are_reused_for_their_ttl_and_failures_never() {
        let cache = DecisionCache::new(100, Duration::from_secs(60), Duration::from_millis(50));
        let calls = AtomicUsize::new(0);
        let calls = &calls;
        let review = |answer: Result<bool, &'static str>| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            answer.map(Answer)
        };
        assert_eq!(
            cache.get_or_review(1, review(Ok(true))).await.unwrap(),
            Answer(true)
        );
        assert_eq!(
            cache.get_or_review(1, review(Ok(false))).await.unwrap(),
            Answer(true)
        );
        assert!(cache.get_or_review(2, review(Err("down"))).await.is_err());
        assert_eq!(
            cache.get_or_review(2, review(Ok(false))).await.unwrap(),
            Answer(false)
        );
        // Denied answers expire sooner.
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(
            cache.get_or_review(2, review(Ok(true))).await.unwrap(),
            Answer(true)
        );
        assert_eq!(
            cache.get_or_review(1, review(Ok(false))).await.unwrap(),
            Answer(true)
        );
        // Only the misses ran their review: 1, the failed 2, 2, the expired 2.
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_review_and_the_size_is_bounded() {
        let cache = Arc::new(DecisionCache::new(
            10,
            Duration::from_secs(60),
            Duration::from_secs(60),
        ));
        let reviews = Arc::new(AtomicUsize::new(0));
        let lookups = (0..16).map(|_| {
            let (cache, reviews) = (cache.clone(), reviews.clone());
            async move {
                cache
                    .get_or_review(7, async move {
                        reviews.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, ()>(Answer(true))
                    })
                    .await
            }
        });
        for answer in futures::future::join_all(lookups).await {
            assert_eq!(answer.unwrap(), Answer(true));
        }
        assert_eq!(reviews.load(Ordering::SeqCst), 1);
        for key in 0..100 {
            let _ = cache
                .get_or_review(key, async { Ok::<_, ()>(Answer(true)) })
                .await;
        }
        assert!(cache.len().await <= 10);
    }
}

//! Retrying 409s. metal-api saves updates optimistically and answers 409 when another writer
//! won; an update that only sets fields can simply be sent again. Creates are not retried: a
//! 409 there means the thing exists (e.g. a specific IP is taken).

use std::time::Duration;

use super::Error;

const FIRST_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_millis(640);

/// What a call does when the server answers 409.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnConflict {
    Fail,
    Retry,
}

/// Whether to send the call again after `error`, with `retries` retries already done.
pub(super) fn should_retry(on_conflict: OnConflict, error: &Error, retries: u32, max: u32) -> bool {
    on_conflict == OnConflict::Retry && matches!(error, Error::Conflict(_)) && retries < max
}

/// The pause before retry number `retry` (0-based): doubling from 20 ms up to 640 ms, with
/// "equal jitter" (a random point in the upper half) so racing writers spread out.
pub(super) fn backoff(retry: u32) -> Duration {
    let ceiling = FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(retry))
        .min(MAX_BACKOFF);
    let half = ceiling / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict() -> Error {
        Error::Conflict("changed".into())
    }

    #[test]
    fn retries_only_conflicts_of_retrying_calls_within_the_budget() {
        assert!(should_retry(OnConflict::Retry, &conflict(), 0, 5));
        assert!(should_retry(OnConflict::Retry, &conflict(), 4, 5));
        assert!(!should_retry(OnConflict::Retry, &conflict(), 5, 5));
        assert!(!should_retry(OnConflict::Retry, &conflict(), 0, 0));
        assert!(!should_retry(OnConflict::Fail, &conflict(), 0, 5));
        for other in [
            Error::NotFound(String::new()),
            Error::Unavailable(String::new()),
            Error::Exhausted(String::new()),
            Error::Server {
                status: 500,
                message: String::new(),
            },
        ] {
            assert!(!should_retry(OnConflict::Retry, &other, 0, 5), "{other:?}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for retry in 0..40 {
            let ceiling = (FIRST_BACKOFF * 2u32.saturating_pow(retry.min(10))).min(MAX_BACKOFF);
            for _ in 0..20 {
                let delay = backoff(retry);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "{retry}: {delay:?}"
                );
            }
        }
        assert!(backoff(0) <= Duration::from_millis(20));
        assert!(backoff(10) >= Duration::from_millis(320));
    }
}

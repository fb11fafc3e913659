//! When a failed Machine is tried again, by error code, as MCM's machine controller retries:
//! short for transient trouble, long for exhaustion, medium for the rest.

use std::time::Duration;

use super::code::Code;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPeriods {
    pub short: Duration,
    pub medium: Duration,
    pub long: Duration,
}

impl Default for RetryPeriods {
    /// MCM's ShortRetry, MediumRetry and LongRetry.
    fn default() -> Self {
        Self {
            short: Duration::from_secs(5),
            medium: Duration::from_secs(180),
            long: Duration::from_secs(600),
        }
    }
}

impl RetryPeriods {
    pub fn after(&self, code: Code) -> Duration {
        match code {
            Code::Unavailable => self.short,
            Code::ResourceExhausted => self.long,
            Code::InvalidArgument | Code::NotFound | Code::Internal | Code::Unimplemented => {
                self.medium
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustion_waits_long_and_unavailability_short() {
        let r = RetryPeriods::default();
        assert_eq!(r.after(Code::ResourceExhausted), Duration::from_secs(600));
        assert_eq!(r.after(Code::Unavailable), Duration::from_secs(5));
        assert_eq!(r.after(Code::InvalidArgument), Duration::from_secs(180));
        assert_eq!(r.after(Code::Internal), Duration::from_secs(180));
    }
}

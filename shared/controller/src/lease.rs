//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it: the holder
//! renews the lease; anyone may take it over once `renewTime + leaseDurationSeconds` has
//! passed. Every write carries the resourceVersion read, so two candidates can never both
//! win a round (the loser gets 409 and follows).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use tokio::sync::watch;

/// What a candidate should do with the lease it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds it, or the holder let it expire: take it.
    Acquire,
    /// We hold it: renew.
    Renew,
    /// Someone else holds it until `expires`.
    Follow { holder: String, expires: Timestamp },
}

/// Pure decision over the lease's spec (None: no lease yet).
pub fn decide(
    spec: Option<&LeaseSpec>,
    me: &str,
    now: Timestamp,
    default_duration: Duration,
) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() {
        return Decision::Acquire;
    }
    if holder == me {
        return Decision::Renew;
    }
    let duration = spec
        .lease_duration_seconds
        .map(|s| SignedDuration::from_secs(i64::from(s)))
        .unwrap_or_else(|| {
            SignedDuration::try_from(default_duration).unwrap_or(SignedDuration::MAX)
        });
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    match renewed.and_then(|r| r.checked_add(duration).ok()) {
        Some(expires) if expires > now => Decision::Follow {
            holder: holder.to_string(),
            expires,
        },
        _ => Decision::Acquire,
    }
}

/// The outcome of one election round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    Leading,
    /// Someone else leads; `expires` when known (not after a lost race).
    Following {
        expires: Option<Timestamp>,
    },
}

/// One candidate for one lease.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

impl LeaderElector {
    /// `duration` is how long a silent leader keeps the lease; it renews every third of it.
    pub fn new(
        api: Api<Lease>,
        name: impl Into<String>,
        identity: impl Into<String>,
        duration: Duration,
    ) -> Self {
        Self {
            api,
            name: name.into(),
            identity: identity.into(),
            duration,
        }
    }

    /// One round: read the lease and acquire or renew it if we may. `Ok(true)` when we lead
    /// after this round; a lost race (409) is `Ok(false)`.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        Ok(self.round().await? == Round::Leading)
    }

    /// One round, also telling a follower when the current holder's lease runs out.
    pub async fn round(&self) -> Result<Round, kube::Error> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.name).await?;
        let decision = decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            now,
            self.duration,
        );
        let (mut lease, transitions) = match (&decision, current) {
            (Decision::Follow { expires, .. }, _) => {
                return Ok(Round::Following {
                    expires: Some(*expires),
                });
            }
            (_, Some(lease)) => {
                let t = lease
                    .spec
                    .as_ref()
                    .and_then(|s| s.lease_transitions)
                    .unwrap_or(0);
                (lease, t)
            }
            (_, None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    spec: None,
                };
                (lease, 0)
            }
        };
        let old = lease.spec.take().unwrap_or_default();
        let acquire_time = match decision {
            Decision::Renew => old.acquire_time.clone(),
            _ => Some(MicroTime(now)),
        };
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.duration.as_secs())
                    .unwrap_or(i32::MAX)
                    .max(1),
            ),
            acquire_time,
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(
                if decision == Decision::Acquire && old.holder_identity.is_some() {
                    transitions + 1
                } else {
                    transitions
                },
            ),
            ..old
        });
        let result = if lease.metadata.resource_version.is_some() {
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
        } else {
            self.api.create(&PostParams::default(), &lease).await
        };
        match result {
            Ok(_) => Ok(Round::Leading),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Round::Following { expires: None }),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up (on shutdown) so a successor need not wait for it to expire.
    pub async fn release(&self) -> Result<(), kube::Error> {
        if let Some(mut lease) = self.api.get_opt(&self.name).await?
            && let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(self.identity.as_str())
        {
            spec.holder_identity = None;
            match self
                .api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
            {
                Ok(_) | Err(kube::Error::Api(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Runs rounds every third of the lease duration until `stop` resolves, publishing
    /// whether we lead. A leader that cannot renew steps down a renew period before its lease
    /// runs out, so no one else can take it over while it still believes it leads. A follower
    /// wakes when the holder's lease expires.
    pub fn spawn(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let period = (self.duration / 3).max(Duration::from_millis(100));
            let mut last_renew: Option<tokio::time::Instant> = None;
            tokio::pin!(stop);
            loop {
                let mut pause = period;
                // The lease counts from before the write, as its renewTime does.
                let started = tokio::time::Instant::now();
                let leading = match self.round().await {
                    Ok(Round::Leading) => {
                        last_renew = Some(started);
                        true
                    }
                    Ok(Round::Following { expires }) => {
                        // Wake when the holder's lease runs out, not up to a period later, so
                        // a crashed leader is replaced within one lease duration.
                        if let Some(expires) = expires {
                            let left = Timestamp::now().duration_until(expires);
                            let left = Duration::try_from(left).unwrap_or_default();
                            pause = pause.min(left + Duration::from_millis(5));
                        }
                        false
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, lease = %self.name, "lease round failed");
                        // Step down a renew period before the lease can be taken over, as
                        // client-go's renewDeadline does, so two never lead at once.
                        last_renew.is_some_and(|t| t.elapsed() < self.duration - period)
                    }
                };
                tx.send_if_modified(|v| std::mem::replace(v, leading) != leading);
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            tx.send_replace(false);
            if let Err(e) = self.release().await {
                tracing::warn!(error = %e, lease = %self.name, "releasing the lease failed");
            }
        });
        rx
    }
}

/// For a replica without leader election: it leads until `stop`. The sender lives until then,
/// so `wait_for(|l| !*l)` does not end at once (a dropped sender would read as a lost lease).
pub fn always_leading(
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> watch::Receiver<bool> {
    let (leading, led) = watch::channel(true);
    tokio::spawn(async move {
        stop.await;
        drop(leading);
    });
    led
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed: Timestamp, secs: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(renewed)),
            lease_duration_seconds: Some(secs),
            ..Default::default()
        }
    }

    #[test]
    fn decisions() {
        let now: Timestamp = "2026-01-01T00:00:30Z".parse().unwrap();
        let d = Duration::from_secs(15);
        assert_eq!(decide(None, "a", now, d), Decision::Acquire);
        assert_eq!(
            decide(Some(&LeaseSpec::default()), "a", now, d),
            Decision::Acquire
        );
        let fresh = spec("b", "2026-01-01T00:00:20Z".parse().unwrap(), 15);
        assert_eq!(
            decide(Some(&fresh), "a", now, d),
            Decision::Follow {
                holder: "b".into(),
                expires: "2026-01-01T00:00:35Z".parse().unwrap()
            }
        );
        assert_eq!(decide(Some(&fresh), "b", now, d), Decision::Renew);
        let stale = spec("b", "2026-01-01T00:00:10Z".parse().unwrap(), 15);
        assert_eq!(decide(Some(&stale), "a", now, d), Decision::Acquire);
        let never_renewed = LeaseSpec {
            holder_identity: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(decide(Some(&never_renewed), "a", now, d), Decision::Acquire);
    }
}

//! Delegating to Kubernetes, as kube-rbac-proxy does: a `TokenReview` says who a bearer token
//! belongs to, a `SubjectAccessReview` whether that user may use a verb on a non-resource URL.

use std::time::Duration;

use k8s_openapi::api::{
    authentication::v1::{TokenReview, TokenReviewSpec},
    authorization::v1::{NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec},
};
use kube::api::{Api, PostParams};

use super::{Decision, UserInfo};

/// A review that could not be had: the caller gets 503, never an answer either way.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReviewError {
    #[error("the Kubernetes API did not answer the {0} within {1:?}")]
    Timeout(&'static str, Duration),
    #[error("the Kubernetes API failed the {0}: {1}")]
    Failed(&'static str, String),
}

/// Asks the Kubernetes API; every call is bounded by `timeout`.
#[derive(Clone)]
pub struct Reviewer {
    client: kube::Client,
    timeout: Duration,
}

impl Reviewer {
    pub fn new(client: kube::Client, timeout: Duration) -> Self {
        Self { client, timeout }
    }

    async fn bounded<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, ReviewError> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(ReviewError::Timeout(what, self.timeout)),
            // kube's errors describe the request and the answer, never the body we sent.
            Ok(Err(e)) => Err(ReviewError::Failed(what, e.to_string())),
            Ok(Ok(answer)) => Ok(answer),
        }
    }

    /// The user `token` authenticates as, or `None` when Kubernetes does not know it.
    pub async fn token(&self, token: &str) -> Result<Option<UserInfo>, ReviewError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: None,
            },
            ..Default::default()
        };
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let answer = self
            .bounded("TokenReview", api.create(&PostParams::default(), &review))
            .await?;
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Ok(None);
        }
        let user = status.user.unwrap_or_default();
        match user.username {
            Some(username) if !username.is_empty() => Ok(Some(UserInfo {
                username,
                uid: user.uid.unwrap_or_default(),
                groups: user.groups.unwrap_or_default(),
            })),
            _ => Err(ReviewError::Failed(
                "TokenReview",
                "authenticated without a username".into(),
            )),
        }
    }

    /// Whether `user` may use `verb` on the non-resource URL `path`.
    pub async fn access(
        &self,
        user: &UserInfo,
        verb: &str,
        path: &str,
    ) -> Result<Decision, ReviewError> {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.username.clone()),
                uid: Some(user.uid.clone()).filter(|u| !u.is_empty()),
                groups: Some(user.groups.clone()),
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(path.to_string()),
                    verb: Some(verb.to_string()),
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = self
            .bounded(
                "SubjectAccessReview",
                api.create(&PostParams::default(), &review),
            )
            .await?;
        let status = answer.status.unwrap_or_default();
        let reason = status
            .reason
            .or(status.evaluation_error)
            .unwrap_or_default();
        Ok(Decision {
            allowed: status.allowed && status.denied != Some(true),
            reason,
        })
    }
}

//! The actix-web middleware that puts [`Auth`] in front of every route: a refused request never
//! reaches a handler.

use std::{
    future::{Ready, ready},
    rc::Rc,
    sync::Arc,
};

use actix_web::{
    Error, HttpMessage as _, HttpResponse, ResponseError as _,
    body::EitherBody,
    dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
    http::{StatusCode, header},
};
use futures::future::LocalBoxFuture;

use super::{Auth, Denial, UserInfo, policy};
use crate::{problem::Problem, tls::ClientCertIdentity};

/// The caller a guarded request was allowed for, in the request's extensions.
#[derive(Debug, Clone)]
pub struct Caller(pub UserInfo);

/// Wraps an app in `auth`.
pub(crate) fn guard(auth: Arc<Auth>) -> Guard {
    Guard(auth)
}

pub(crate) struct Guard(Arc<Auth>);

impl<S, B> Transform<S, ServiceRequest> for Guard
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = GuardService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService {
            service: Rc::new(service),
            auth: self.0.clone(),
        }))
    }
}

pub(crate) struct GuardService<S> {
    service: Rc<S>,
    auth: Arc<Auth>,
}

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let (service, auth) = (self.service.clone(), self.auth.clone());
        Box::pin(async move {
            // The path as the router matches it, so the path authorized is the path served.
            let path = req.match_info().as_str().to_string();
            let verb = policy::verb(req.method());
            let certificate = req.conn_data::<ClientCertIdentity>().map(|id| UserInfo {
                username: id.user.clone(),
                uid: String::new(),
                groups: id.groups.clone(),
            });
            let outcome = auth
                .check(
                    policy::classify(&path),
                    &verb,
                    &path,
                    req.headers().get(header::AUTHORIZATION),
                    certificate,
                )
                .await;
            match outcome {
                Ok(caller) => {
                    if let Some(user) = caller {
                        req.extensions_mut().insert(Caller(user));
                    }
                    service.call(req).await.map(|r| r.map_into_left_body())
                }
                Err(denial) => {
                    log(&denial, &verb, &path);
                    Ok(req.into_response(response(denial)).map_into_right_body())
                }
            }
        })
    }
}

fn log(denial: &Denial, verb: &str, path: &str) {
    match denial {
        Denial::Unavailable(why) => tracing::warn!(verb, path, "request refused: {why}"),
        other => tracing::debug!(verb, path, "request refused: {other:?}"),
    }
}

/// The problem+json answer of a refusal.
fn response(denial: Denial) -> HttpResponse {
    match denial {
        Denial::BadPath(why) => Problem::bad_request(why).error_response(),
        Denial::Unauthenticated(why) => {
            let mut response = Problem::new(
                "unauthenticated",
                "Unauthenticated",
                StatusCode::UNAUTHORIZED,
            )
            .with_detail(why)
            .error_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"metal-mesh\""),
            );
            response
        }
        Denial::Forbidden {
            user,
            verb,
            path,
            reason,
        } => {
            let mut detail = format!("user {user:?} may not {verb} {path}");
            if !reason.is_empty() {
                detail = format!("{detail}: {reason}");
            }
            Problem::new("forbidden", "Forbidden", StatusCode::FORBIDDEN)
                .with_detail(detail)
                .error_response()
        }
        Denial::Unavailable(why) => {
            let mut response = Problem::new(
                "auth-unavailable",
                "Authentication unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .with_detail(why)
            .error_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            response
        }
    }
}

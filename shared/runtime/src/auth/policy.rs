//! Pure decisions about a request before anybody is asked: which class its route is in, which
//! verb it needs, whether its path is one the router and the authorizer read alike, and what
//! its `Authorization` header holds.

use actix_web::http::{Method, header::HeaderValue};

/// How a route is guarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// Probes and the API description: they describe, they don't act.
    Open,
    /// `/metrics`: `get` on `/metrics`, as Kubernetes components do, unless `--metrics-open`.
    Metrics,
    /// Everything else: the verb of its method on its path.
    Api,
}

/// Paths anyone may read.
pub const OPEN_PATHS: [&str; 4] = ["/healthz", "/readyz", "/openapi.json", "/docs"];

pub fn classify(path: &str) -> RouteClass {
    if OPEN_PATHS.contains(&path) {
        RouteClass::Open
    } else if path == "/metrics" {
        RouteClass::Metrics
    } else {
        RouteClass::Api
    }
}

/// The Kubernetes verb of a request on a non-resource URL: `get` for GET/HEAD, `create` for
/// POST, `update` for PUT/PATCH, `delete` for DELETE; any other method its lower-cased name, so
/// only a rule naming it (or `*`) grants it.
pub fn verb(method: &Method) -> String {
    match *method {
        Method::GET | Method::HEAD => "get".into(),
        Method::POST => "create".into(),
        Method::PUT | Method::PATCH => "update".into(),
        Method::DELETE => "delete".into(),
        ref other => other.as_str().to_ascii_lowercase(),
    }
}

/// Refuses paths whose segments a client or proxy could read differently from the router
/// (`.`, `..`, empty segments): the path authorized must be the path served.
pub fn check_path(path: &str) -> Result<(), String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("path {path:?} does not start with /"));
    };
    if rest.is_empty() {
        return Ok(());
    }
    for segment in rest.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!(
                "path {path:?} has an empty, . or .. segment; send it normalized"
            ));
        }
    }
    Ok(())
}

/// Bearer tokens longer than this are refused before anybody is asked (service account tokens
/// are 1–2 KiB, OIDC tokens a few).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a request carries no usable bearer token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("no credential: send Authorization: Bearer <token>")]
    Missing,
    #[error("the Authorization header is not of the form \"Bearer <token>\"")]
    Malformed,
    #[error("the bearer token is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, as RFC 6750
/// and Kubernetes read it).
pub fn bearer(header: Option<&HeaderValue>) -> Result<&str, BearerError> {
    let header = header.ok_or(BearerError::Missing)?;
    if header.len() > MAX_TOKEN_BYTES + "Bearer ".len() {
        return Err(BearerError::TooLong);
    }
    let value = header.to_str().map_err(|_| BearerError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(BearerError::Malformed)?;
    let token = token.trim();
    let plausible = token.bytes().all(|b| b.is_ascii_graphic());
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || !plausible {
        return Err(BearerError::Malformed);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classed_by_exact_path() {
        for open in OPEN_PATHS {
            assert_eq!(classify(open), RouteClass::Open);
        }
        assert_eq!(classify("/metrics"), RouteClass::Metrics);
        for api in [
            "/v1/loadbalancers",
            "/healthz/",
            "/docs/x",
            "/metrics/x",
            "/",
        ] {
            assert_eq!(classify(api), RouteClass::Api, "{api}");
        }
    }

    #[test]
    fn verbs_follow_the_method() {
        let cases = [
            (Method::GET, "get"),
            (Method::HEAD, "get"),
            (Method::POST, "create"),
            (Method::PUT, "update"),
            (Method::PATCH, "update"),
            (Method::DELETE, "delete"),
            (Method::OPTIONS, "options"),
        ];
        for (method, expected) in cases {
            assert_eq!(verb(&method), expected);
        }
    }

    #[test]
    fn only_normalized_paths_pass() {
        assert!(check_path("/").is_ok());
        assert!(check_path("/v1/loadbalancers/default/web").is_ok());
        for bad in [
            "/v1//x",
            "/v1/./x",
            "/v1/nodes/../loadbalancers",
            "/v1/",
            "x",
            "/..",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bearer_tokens_are_read_strictly() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(bearer(Some(&h("Bearer abc.def"))), Ok("abc.def"));
        assert_eq!(bearer(Some(&h("bearer abc"))), Ok("abc"));
        assert_eq!(bearer(None), Err(BearerError::Missing));
        for bad in [
            "Bearer",
            "Bearer ",
            "Basic abc",
            "abc",
            "Bearer a b",
            "Token abc",
        ] {
            assert_eq!(bearer(Some(&h(bad))), Err(BearerError::Malformed), "{bad}");
        }
        let non_ascii = HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap();
        assert_eq!(bearer(Some(&non_ascii)), Err(BearerError::Malformed));
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(bearer(Some(&h(&long))), Err(BearerError::TooLong));
        let longest = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES));
        assert!(bearer(Some(&h(&longest))).is_ok());
    }
}

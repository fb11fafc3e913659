//! The HMAC scheme: signing, verifying and permission groups.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use metal_api_sdk::auth::{HmacKind, HmacVerifier, VerifyError, mac, new_salt, sign};

const VIEW_KEY: &[u8] = b"view-key";
const ADMIN_KEY: &[u8] = b"admin-key";

fn now() -> DateTime<Utc> {
    "2026-01-02T03:04:05Z".parse().unwrap()
}

fn verifier(lifetime: Duration) -> HmacVerifier {
    HmacVerifier::new(
        [
            (HmacKind::View, VIEW_KEY.to_vec()),
            (HmacKind::Admin, ADMIN_KEY.to_vec()),
        ],
        lifetime,
    )
}

/// Verifies headers signed with `key` as `kind` at `signed_at`, checked at `checked_at`.
fn check(
    verifier: &HmacVerifier,
    kind: HmacKind,
    key: &[u8],
    signed_at: DateTime<Utc>,
    checked_at: DateTime<Utc>,
) -> Result<Option<HmacKind>, VerifyError> {
    let h = sign(kind, key, "POST", signed_at);
    verifier.verify(
        Some(&h.authorization),
        Some(&h.date),
        Some(&h.salt),
        "POST",
        checked_at,
    )
}

#[test]
fn mac_matches_an_independent_implementation() {
    // python3: hmac.new(b'secret-admin-key',
    //     b'2026-01-02T03:04:05Z' + b'GET' + b'abcdefghijklmnopqrstuvwx', hashlib.sha256).hexdigest()
    let expected = "1763a68afb6953f2aedd73106cfe4319ffd0e6a5657ab03c90d59fb34a8d4fd3";
    let salt = "abcdefghijklmnopqrstuvwx";
    assert_eq!(
        mac(b"secret-admin-key", "2026-01-02T03:04:05Z", "GET", salt),
        expected
    );
    assert_eq!(
        mac(b"secret-admin-key", "2026-01-02T03:04:05Z", "get", salt),
        expected
    );
    // python3: hmac.new(b'k', b'2026-01-02T03:04:05Z' + b'POST' + b'XyZ', hashlib.sha256).hexdigest()
    assert_eq!(
        mac(b"k", "2026-01-02T03:04:05Z", "POST", "XyZ"),
        "b8170c3650149d7633232f0c5bd7ffe56c6bf6cf7343e7ecd7406893c7c6517a"
    );
}

#[test]
fn salt_is_24_ascii_letters_and_fresh() {
    let salts: Vec<String> = (0..50).map(|_| new_salt()).collect();
    for salt in &salts {
        assert_eq!(salt.len(), 24, "{salt}");
        assert!(salt.bytes().all(|b| b.is_ascii_alphabetic()), "{salt}");
    }
    let mut unique = salts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), salts.len());
}

#[test]
fn sign_formats_headers_like_upstream() {
    let at = "2026-01-02T03:04:05.987654Z".parse().unwrap();
    let h = sign(HmacKind::Edit, b"k", "delete", at);
    assert_eq!(h.date, "2026-01-02T03:04:05Z");
    let expected = format!("Metal-Edit {}", mac(b"k", &h.date, "DELETE", &h.salt));
    assert_eq!(h.authorization, expected);
}

#[test]
fn signed_headers_verify() {
    let v = verifier(Duration::from_secs(30));
    assert_eq!(
        check(&v, HmacKind::Admin, ADMIN_KEY, now(), now()),
        Ok(Some(HmacKind::Admin))
    );
    assert_eq!(
        check(&v, HmacKind::View, VIEW_KEY, now(), now()),
        Ok(Some(HmacKind::View))
    );
}

#[test]
fn a_date_with_offset_verifies_against_its_utc_form() {
    // Upstream re-formats the parsed date before recomputing the MAC.
    let utc = "2026-01-02T03:04:05Z";
    let salt = "abc";
    let authorization = format!("Metal-View {}", mac(VIEW_KEY, utc, "GET", salt));
    let v = verifier(Duration::ZERO);
    let got = v.verify(
        Some(&authorization),
        Some("2026-01-02T04:04:05+01:00"),
        Some(salt),
        "GET",
        now(),
    );
    assert_eq!(got, Ok(Some(HmacKind::View)));
}

#[test]
fn wrong_key_method_or_salt_is_a_bad_signature() {
    let v = verifier(Duration::from_secs(30));
    assert_eq!(
        check(&v, HmacKind::Admin, b"other", now(), now()),
        Err(VerifyError::BadSignature)
    );

    let h = sign(HmacKind::Admin, ADMIN_KEY, "GET", now());
    let verify = |method: &str, salt: &str| {
        v.verify(
            Some(&h.authorization),
            Some(&h.date),
            Some(salt),
            method,
            now(),
        )
    };
    assert_eq!(verify("GET", &h.salt), Ok(Some(HmacKind::Admin)));
    assert_eq!(verify("DELETE", &h.salt), Err(VerifyError::BadSignature));
    assert_eq!(verify("GET", "otherSalt"), Err(VerifyError::BadSignature));
}

#[test]
fn a_view_key_cannot_be_used_as_admin() {
    let v = verifier(Duration::from_secs(30));
    assert_eq!(
        check(&v, HmacKind::Admin, VIEW_KEY, now(), now()),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn too_old_dates_expire_future_dates_do_not() {
    let v = verifier(Duration::from_secs(30));
    let past = now() - TimeDelta::seconds(31);
    assert_eq!(
        check(&v, HmacKind::View, VIEW_KEY, past, now()),
        Err(VerifyError::Expired { age_secs: 31 })
    );
    let edge = now() - TimeDelta::seconds(30);
    assert_eq!(
        check(&v, HmacKind::View, VIEW_KEY, edge, now()),
        Ok(Some(HmacKind::View))
    );
    let future = now() + TimeDelta::hours(1);
    assert_eq!(
        check(&v, HmacKind::View, VIEW_KEY, future, now()),
        Ok(Some(HmacKind::View))
    );
}

#[test]
fn zero_lifetime_disables_the_date_check() {
    let v = verifier(Duration::ZERO);
    let ancient = now() - TimeDelta::days(3650);
    assert_eq!(
        check(&v, HmacKind::View, VIEW_KEY, ancient, now()),
        Ok(Some(HmacKind::View))
    );
}

#[test]
fn no_hmac_credentials_is_anonymous() {
    let v = verifier(Duration::from_secs(30));
    let h = sign(HmacKind::View, VIEW_KEY, "GET", now());
    let verify = |authorization: Option<&str>| {
        v.verify(authorization, Some(&h.date), Some(&h.salt), "GET", now())
    };
    assert_eq!(verify(None), Ok(None));
    assert_eq!(verify(Some("")), Ok(None));
    assert_eq!(verify(Some("Bearer some.jwt.token")), Ok(None));
    assert_eq!(verify(Some("metal-view abc")), Ok(None));
    // A kind without a configured key falls through like an unknown type (upstream behaviour).
    let edit = sign(HmacKind::Edit, b"edit-key", "GET", now());
    assert_eq!(verify(Some(&edit.authorization)), Ok(None));
}

#[test]
fn empty_keys_are_not_configured() {
    let v = HmacVerifier::new([(HmacKind::Admin, Vec::new())], Duration::ZERO);
    let h = sign(HmacKind::Admin, b"", "GET", now());
    assert_eq!(
        v.verify(
            Some(&h.authorization),
            Some(&h.date),
            Some(&h.salt),
            "GET",
            now()
        ),
        Ok(None)
    );
}

#[test]
fn malformed_credentials_are_errors() {
    let v = verifier(Duration::from_secs(30));
    let h = sign(HmacKind::View, VIEW_KEY, "GET", now());
    let verify = |authorization: &str, date: Option<&str>| {
        v.verify(Some(authorization), date, Some(&h.salt), "GET", now())
    };
    let malformed = Err(VerifyError::MalformedAuthorization);
    assert_eq!(verify("Metal-View", Some(&h.date)), malformed);
    assert_eq!(
        verify(&format!("{} extra", h.authorization), Some(&h.date)),
        malformed
    );
    assert_eq!(
        verify(&h.authorization.replace(' ', "  "), Some(&h.date)),
        malformed
    );
    assert_eq!(
        verify(&h.authorization, None),
        Err(VerifyError::MissingDate)
    );
    assert_eq!(
        verify(&h.authorization, Some("yesterday")),
        Err(VerifyError::BadDate("yesterday".into()))
    );
}

#[test]
fn kinds_round_trip_and_nest() {
    use HmacKind::{Admin, Edit, View};
    for kind in [View, Edit, Admin] {
        assert_eq!(HmacKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(HmacKind::parse("Metal-Guest"), None);
    let table = [
        (View, View, true),
        (View, Edit, false),
        (View, Admin, false),
        (Edit, View, true),
        (Edit, Edit, true),
        (Edit, Admin, false),
        (Admin, View, true),
        (Admin, Edit, true),
        (Admin, Admin, true),
    ];
    for (user, required, allowed) in table {
        assert_eq!(user.allows(required), allowed, "{user:?} as {required:?}");
    }
}

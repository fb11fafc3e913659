//! The rule for metal credential Secrets (the secrets webhook, and the Secret a SecretBinding or
//! CredentialsBinding references): data must exist and hold exactly one of the metal-api HMAC
//! (`metalAPIHMac`) and the metal-api token (`metalAPIKey`).

use serde_json::Value;

use super::field::{FieldError, Kind, Path};

pub const HMAC_KEY: &str = "metalAPIHMac";
pub const API_KEY: &str = "metalAPIKey";

/// Whether `data` carries `key` with a value: a key with an empty value authenticates nothing,
/// so it counts as not set.
fn set(data: &serde_json::Map<String, Value>, key: &str) -> bool {
    data.get(key)
        .and_then(Value::as_str)
        .is_some_and(|v| !v.is_empty())
}

/// The Secret rule, on the Secret object as the API serves it (`data` values base64).
pub fn validate(secret: &Value) -> Vec<FieldError> {
    let path = Path::new("data");
    let Some(data) = secret.get("data").and_then(Value::as_object) else {
        return vec![path.error(Kind::Required, "the secret has no data")];
    };
    match (set(data, HMAC_KEY), set(data, API_KEY)) {
        (true, true) => vec![path.error(
            Kind::Invalid,
            "either hmac or api key must be set, not both",
        )],
        (false, false) => vec![path.error(Kind::Required, "either hmac or api key must be set")],
        _ => Vec::new(),
    }
}

/// Whether the secrets webhook checks an update: only when the data changed.
pub fn data_changed(old: &Value, new: &Value) -> bool {
    old.get("data") != new.get("data")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn exactly_one_credential_is_allowed() {
        // base64 of "k"
        let cases = [
            (json!({"data": {"metalAPIHMac": "aw=="}}), None),
            (json!({"data": {"metalAPIKey": "aw=="}}), None),
            (
                json!({"data": {"metalAPIKey": "aw==", "metalAPIURL": "aHR0cA=="}}),
                None,
            ),
            (
                json!({"data": {"metalAPIHMac": "aw==", "metalAPIKey": "aw=="}}),
                Some("data: Invalid value: either hmac or api key must be set, not both"),
            ),
            (
                json!({"data": {"metalAPIURL": "aHR0cA=="}}),
                Some("data: Required value: either hmac or api key must be set"),
            ),
            (
                json!({"data": {"metalAPIHMac": ""}}),
                Some("data: Required value: either hmac or api key must be set"),
            ),
            (
                json!({"metadata": {"name": "s"}}),
                Some("data: Required value: the secret has no data"),
            ),
            (
                json!({"data": null}),
                Some("data: Required value: the secret has no data"),
            ),
        ];
        for (secret, want) in cases {
            let got: Vec<String> = validate(&secret).iter().map(ToString::to_string).collect();
            assert_eq!(
                got,
                want.into_iter().map(String::from).collect::<Vec<_>>(),
                "{secret}"
            );
        }
    }

    #[test]
    fn updates_are_checked_only_when_the_data_changed() {
        let a = json!({"metadata": {"labels": {"x": "1"}}, "data": {"metalAPIKey": "aw=="}});
        let relabelled =
            json!({"metadata": {"labels": {"x": "2"}}, "data": {"metalAPIKey": "aw=="}});
        let rekeyed = json!({"data": {"metalAPIKey": "bA=="}});
        assert!(!data_changed(&a, &relabelled));
        assert!(data_changed(&a, &rekeyed));
    }
}

//! The worker-pool hash in MachineClass names (`<namespace>-<pool>-<hash>`): a new hash means
//! a new class, and MCM rolls the pool's machines onto it.
//!
//! The hash is ours, not Gardener's `WorkerPoolHash`: it covers what must replace a metal
//! machine (the size, the image, the Kubernetes minor version, the node network) and nothing
//! else, so it differs from upstream's names. Shoot annotations pin it, as upstream's do:
//! `cluster.metal-stack.io/keep-worker-hash` keeps the hash of the pool's existing class, and
//! with it `cluster.metal-stack.io/use-worker-hash-<pool>` names the hash to use (upstream reads
//! the second only together with the first).

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use crate::core::extensions::operation::ExtError;

pub const KEEP_WORKER_HASH: &str = "cluster.metal-stack.io/keep-worker-hash";
pub const USE_WORKER_HASH_PREFIX: &str = "cluster.metal-stack.io/use-worker-hash-";
/// Hex digits of the hash in a class name.
pub const LEN: usize = 5;

/// What rolls a pool's machines when it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rolling<'a> {
    pub machine_type: &'a str,
    pub image_name: &'a str,
    pub image_version: &'a str,
    /// The pool's Kubernetes version, else the shoot's; only major.minor counts (a patch
    /// release is rolled out in place by the node agent).
    pub kubernetes_version: &'a str,
    pub nodes_cidr: &'a str,
}

/// `1.31.2` → `1.31`; a version that is not dotted numbers counts as a whole.
fn minor(version: &str) -> &str {
    let trimmed = version.trim().trim_start_matches('v');
    let mut dots = trimmed.match_indices('.').map(|(i, _)| i);
    match (dots.next(), dots.next()) {
        (Some(_), Some(second)) => &trimmed[..second],
        _ => trimmed,
    }
}

/// The hash of `rolling`: [`LEN`] lowercase hex digits of a SHA-256 over its fields.
pub fn compute(rolling: &Rolling) -> String {
    // A JSON array keeps the fields apart whatever they contain.
    let text = serde_json::json!([
        rolling.machine_type,
        rolling.image_name,
        rolling.image_version,
        minor(rolling.kubernetes_version),
        rolling.nodes_cidr,
    ])
    .to_string();
    hex::encode(Sha256::digest(text.as_bytes()))[..LEN].to_owned()
}

/// The hashes of the pool's existing classes (`<deployment>-<hash>`), sorted.
fn existing_hashes<'a>(
    deployment: &str,
    classes: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    let prefix = format!("{deployment}-");
    let mut hashes: Vec<&str> = classes
        .into_iter()
        .filter_map(|class| class.strip_prefix(prefix.as_str()))
        .filter(|h| {
            h.len() == LEN
                && h.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// The hash the pool's class is named with: `computed` unless the shoot's annotations pin it.
/// With keep-worker-hash the hash of an existing class is kept: the one `current` (the class
/// the pool's MachineDeployment uses) has, else the greatest, so the choice never depends on
/// list order (upstream takes whichever it lists last). An explicit hash must be one of the
/// existing ones; with no class yet it is used as given.
pub fn resolve(
    computed: String,
    pool: &str,
    deployment: &str,
    shoot_annotations: &BTreeMap<String, String>,
    classes: &[&str],
    current: Option<&str>,
) -> Result<String, ExtError> {
    if !shoot_annotations.contains_key(KEEP_WORKER_HASH) {
        return Ok(computed);
    }
    let explicit_key = format!("{USE_WORKER_HASH_PREFIX}{pool}");
    let explicit = shoot_annotations.get(&explicit_key).map(|h| h.trim());
    if let Some(h) = explicit
        && (h.is_empty()
            || !h
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
    {
        return Err(ExtError::configuration(format!(
            "shoot annotation {explicit_key}: {h:?} is not a worker hash (lowercase letters and digits)"
        )));
    }
    let existing = existing_hashes(deployment, classes.iter().copied());
    let Some(&greatest) = existing.last() else {
        return Ok(explicit.map_or(computed, str::to_owned));
    };
    if let Some(h) = explicit {
        if existing.contains(&h) {
            return Ok(h.to_owned());
        }
        return Err(ExtError::configuration(format!(
            "shoot annotation {explicit_key}: {h:?} is not the hash of an existing machine class \
             of pool {pool} ({})",
            existing.join(", ")
        )));
    }
    let current = current
        .and_then(|c| existing_hashes(deployment, [c]).first().copied())
        .unwrap_or(greatest);
    Ok(current.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rolling() -> Rolling<'static> {
        Rolling {
            machine_type: "c1-xlarge-x86",
            image_name: "ubuntu",
            image_version: "24.4",
            kubernetes_version: "1.31.2",
            nodes_cidr: "10.0.0.0/22",
        }
    }

    #[test]
    fn the_hash_changes_with_what_rolls_machines_only() {
        let base = compute(&rolling());
        assert_eq!(base.len(), LEN);
        assert!(
            base.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(base, compute(&rolling()), "stable");
        let patch = Rolling {
            kubernetes_version: "v1.31.9",
            ..rolling()
        };
        assert_eq!(compute(&patch), base, "a patch release rolls in place");
        let changes = [
            Rolling {
                machine_type: "c2-xlarge-x86",
                ..rolling()
            },
            Rolling {
                image_name: "flatcar",
                ..rolling()
            },
            Rolling {
                image_version: "24.10",
                ..rolling()
            },
            Rolling {
                kubernetes_version: "1.32.0",
                ..rolling()
            },
            Rolling {
                nodes_cidr: "10.0.4.0/22",
                ..rolling()
            },
        ];
        for changed in changes {
            assert_ne!(compute(&changed), base, "{changed:?}");
        }
        // Fields are kept apart: moving a character across a boundary changes the hash.
        let a = Rolling {
            machine_type: "ab",
            image_name: "c",
            ..rolling()
        };
        let b = Rolling {
            machine_type: "a",
            image_name: "bc",
            ..rolling()
        };
        assert_ne!(compute(&a), compute(&b));
    }

    #[test]
    fn minor_versions() {
        for (version, want) in [
            ("1.31.2", "1.31"),
            ("v1.31.2", "1.31"),
            ("1.31", "1.31"),
            ("", ""),
            ("x", "x"),
        ] {
            assert_eq!(minor(version), want, "{version}");
        }
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn shoot_annotations_pin_the_hash() {
        let md = "shoot--p--s1-w1";
        let classes = [
            "shoot--p--s1-w1-aaaaa",
            "shoot--p--s1-w1-bbbbb",
            "shoot--p--s1-w1-b-ccccc",
            "shoot--p--s1-w2-ddddd",
        ];
        let keep = (KEEP_WORKER_HASH, "");
        let explicit = |h: &'static str| ("cluster.metal-stack.io/use-worker-hash-w1", h);
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, &'a str)>,
            &'a [&'a str],
            Option<&'a str>,
            Result<&'a str, &'a str>,
        );
        let table: Vec<Case> = vec![
            ("no annotation", vec![], &classes, None, Ok("fresh")),
            (
                "explicit without keep is ignored",
                vec![explicit("aaaaa")],
                &classes,
                None,
                Ok("fresh"),
            ),
            ("keep without classes", vec![keep], &[], None, Ok("fresh")),
            (
                "keep takes the deployment's class",
                vec![keep],
                &classes,
                Some("shoot--p--s1-w1-aaaaa"),
                Ok("aaaaa"),
            ),
            (
                "keep takes the greatest otherwise",
                vec![keep],
                &classes,
                None,
                Ok("bbbbb"),
            ),
            (
                "keep ignores a current class of another shape",
                vec![keep],
                &classes,
                Some("other"),
                Ok("bbbbb"),
            ),
            (
                "explicit among existing",
                vec![keep, explicit("aaaaa")],
                &classes,
                Some("shoot--p--s1-w1-bbbbb"),
                Ok("aaaaa"),
            ),
            (
                "explicit without classes",
                vec![keep, explicit("zzzzz")],
                &[],
                None,
                Ok("zzzzz"),
            ),
            (
                "explicit not existing",
                vec![keep, explicit("zzzzz")],
                &classes,
                None,
                Err(
                    "\"zzzzz\" is not the hash of an existing machine class of pool w1 (aaaaa, bbbbb)",
                ),
            ),
            (
                "explicit malformed",
                vec![keep, explicit("A/B")],
                &classes,
                None,
                Err("is not a worker hash"),
            ),
        ];
        for (name, pairs, classes, current, want) in table {
            let got = resolve(
                "fresh".into(),
                "w1",
                md,
                &annotations(&pairs),
                classes,
                current,
            );
            match (got, want) {
                (Ok(h), Ok(w)) => assert_eq!(h, w, "{name}"),
                (Err(e), Err(text)) => assert!(e.message.contains(text), "{name}: {e}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    proptest::proptest! {
        /// Whatever the inputs, the hash is LEN lowercase hex digits and a pure function.
        #[test]
        fn any_pool_hashes_to_five_hex_digits(
            machine_type in ".{0,20}", image_name in ".{0,20}", image_version in ".{0,12}",
            kubernetes_version in ".{0,12}", nodes_cidr in ".{0,20}",
        ) {
            let r = Rolling {
                machine_type: &machine_type, image_name: &image_name, image_version: &image_version,
                kubernetes_version: &kubernetes_version, nodes_cidr: &nodes_cidr,
            };
            let h = compute(&r);
            proptest::prop_assert_eq!(h.len(), LEN);
            proptest::prop_assert!(h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            proptest::prop_assert_eq!(h, compute(&r));
        }
    }
}

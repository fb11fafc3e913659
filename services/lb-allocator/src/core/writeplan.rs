//! The writes that turn what exists (our labelled objects) into what should, in an order that
//! never lets two pools hold one address (MetalLB rejects overlapping pools) and never leaves an
//! advertisement pointing at a pool that is gone:
//!
//! 1. stale advertisements are deleted;
//! 2. pools shrink: stale pools are deleted, and a pool that loses addresses is first written
//!    with only the addresses it keeps;
//! 3. pools grow: new pools are created and the rest get their full address lists;
//! 4. advertisements are written; 5. stale peers are deleted and peers written.
//!
//! Objects already as desired are not written. Extra fields the API server defaulted (MetalLB's
//! `avoidBuggyIPs: false`, ...) do not count as differences.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::render::{Desired, ObjectKind, Role};

/// One of our objects as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub kind: ObjectKind,
    pub name: String,
    pub spec: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Create or update (server-side apply) the object with this spec.
    Apply {
        kind: ObjectKind,
        name: String,
        spec: Value,
    },
    Delete {
        kind: ObjectKind,
        name: String,
    },
}

/// What Kubernetes holds of our objects after `desired` was written.
pub fn as_written(desired: &Desired) -> Vec<Observed> {
    desired
        .objects
        .iter()
        .map(|o| Observed {
            kind: o.kind,
            name: o.name.clone(),
            spec: o.spec.clone(),
        })
        .collect()
}

/// Whether `observed` has every field of `desired` with the same value (lists element-wise).
pub fn contains(observed: &Value, desired: &Value) -> bool {
    match (observed, desired) {
        (Value::Object(o), Value::Object(d)) => d
            .iter()
            .all(|(k, dv)| o.get(k).is_some_and(|ov| contains(ov, dv))),
        (Value::Array(o), Value::Array(d)) => {
            o.len() == d.len() && o.iter().zip(d).all(|(ov, dv)| contains(ov, dv))
        }
        _ => observed == desired,
    }
}

/// The writes, in order; `kinds` are the kinds we manage (stale objects of other kinds stay).
pub fn steps(kinds: &[ObjectKind], observed: &[Observed], desired: &Desired) -> Vec<Step> {
    let is_current = |o: &&Observed| kinds.contains(&o.kind);
    let have: BTreeMap<(ObjectKind, &str), &Value> = observed
        .iter()
        .filter(is_current)
        .map(|o| ((o.kind, o.name.as_str()), &o.spec))
        .collect();
    let want: BTreeMap<(ObjectKind, &str), &Value> = desired
        .objects
        .iter()
        .map(|o| ((o.kind, o.name.as_str()), &o.spec))
        .collect();
    let of_role = |role: Role| move |key: &(ObjectKind, &str)| key.0.role() == role;
    let mut out = Vec::new();
    let delete_stale = |role: Role, out: &mut Vec<Step>| {
        for (kind, name) in have.keys().filter(|k| of_role(role)(k)) {
            if !want.contains_key(&(*kind, name)) {
                out.push(Step::Delete {
                    kind: *kind,
                    name: name.to_string(),
                });
            }
        }
    };
    let apply_changed = |role: Role, out: &mut Vec<Step>, done: &BTreeSet<(ObjectKind, &str)>| {
        for (key, spec) in want.iter().filter(|(k, _)| of_role(role)(k)) {
            let current = have.get(key).is_some_and(|h| contains(h, spec));
            if !current && !done.contains(key) {
                out.push(Step::Apply {
                    kind: key.0,
                    name: key.1.to_string(),
                    spec: (*spec).clone(),
                });
            }
        }
    };

    delete_stale(Role::Advertisement, &mut out);

    // Shrink: a pool losing addresses first keeps only the ones it keeps.
    delete_stale(Role::Pool, &mut out);
    let mut done = BTreeSet::new();
    for (key, spec) in want.iter().filter(|(k, _)| of_role(Role::Pool)(k)) {
        let Some(current) = have.get(key) else {
            continue;
        };
        if contains(current, spec) {
            continue;
        }
        let kind = key.0;
        let had: BTreeSet<String> = kind.pool_addresses(current).into_iter().collect();
        let wanted: BTreeSet<String> = kind.pool_addresses(spec).into_iter().collect();
        if had.is_subset(&wanted) {
            continue; // grows only: phase 3
        }
        let kept: Vec<String> = had.intersection(&wanted).cloned().collect();
        let spec = if kept.len() == wanted.len() {
            done.insert(*key);
            (*spec).clone()
        } else {
            kind.with_pool_addresses(spec, &kept)
        };
        out.push(Step::Apply {
            kind,
            name: key.1.to_string(),
            spec,
        });
    }

    apply_changed(Role::Pool, &mut out, &done);
    apply_changed(Role::Advertisement, &mut out, &BTreeSet::new());
    delete_stale(Role::Peer, &mut out);
    apply_changed(Role::Peer, &mut out, &BTreeSet::new());
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::render::DesiredObject;

    fn pool(name: &str, addrs: &[&str]) -> DesiredObject {
        DesiredObject {
            kind: ObjectKind::IpAddressPool,
            name: name.into(),
            spec: json!({"addresses": addrs, "autoAssign": false}),
        }
    }

    fn adv(name: &str) -> DesiredObject {
        DesiredObject {
            kind: ObjectKind::BgpAdvertisement,
            name: name.into(),
            spec: json!({"ipAddressPools": [name]}),
        }
    }

    fn seen(o: &DesiredObject) -> Observed {
        Observed {
            kind: o.kind,
            name: o.name.clone(),
            spec: o.spec.clone(),
        }
    }

    fn desired(objects: Vec<DesiredObject>) -> Desired {
        Desired {
            objects,
            ..Default::default()
        }
    }

    fn summary(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                Step::Apply { kind, name, spec } => {
                    let addrs = kind.pool_addresses(spec);
                    if addrs.is_empty() {
                        format!("apply {kind:?} {name}")
                    } else {
                        format!("apply {kind:?} {name} {}", addrs.join(","))
                    }
                }
                Step::Delete { kind, name } => format!("delete {kind:?} {name}"),
            })
            .collect()
    }

    const ALL: &[ObjectKind] = &ObjectKind::METALLB;

    #[test]
    fn nothing_to_do_when_everything_is_current_even_with_defaults() {
        let want = desired(vec![pool("a", &["1.1.1.1/32"]), adv("a")]);
        let mut observed: Vec<Observed> = want.objects.iter().map(seen).collect();
        observed[0].spec["avoidBuggyIPs"] = json!(false);
        observed[1].spec["aggregationLength"] = json!(32);
        assert!(steps(ALL, &observed, &want).is_empty());
    }

    #[test]
    fn a_moving_ip_leaves_its_old_pool_before_it_joins_the_new_one() {
        let before = [
            pool("net-ephemeral", &["1.1.1.1/32", "1.1.1.2/32"]),
            adv("net-ephemeral"),
        ];
        let observed: Vec<Observed> = before.iter().map(seen).collect();
        let want = desired(vec![
            pool("net-ephemeral", &["1.1.1.2/32"]),
            adv("net-ephemeral"),
            pool("net-static", &["1.1.1.1/32"]),
            adv("net-static"),
        ]);
        assert_eq!(
            summary(&steps(ALL, &observed, &want)),
            [
                "apply IpAddressPool net-ephemeral 1.1.1.2/32",
                "apply IpAddressPool net-static 1.1.1.1/32",
                "apply BgpAdvertisement net-static",
            ]
        );
    }

    #[test]
    fn swapped_addresses_go_through_the_intersection() {
        let observed = [
            pool("a", &["1.1.1.1/32", "1.1.1.3/32"]),
            pool("b", &["1.1.1.2/32"]),
        ]
        .iter()
        .map(seen)
        .collect::<Vec<_>>();
        let want = desired(vec![
            pool("a", &["1.1.1.2/32", "1.1.1.3/32"]),
            pool("b", &["1.1.1.1/32"]),
        ]);
        assert_eq!(
            summary(&steps(ALL, &observed, &want)),
            [
                "apply IpAddressPool a 1.1.1.3/32",
                "apply IpAddressPool b",
                "apply IpAddressPool a 1.1.1.2/32,1.1.1.3/32",
                "apply IpAddressPool b 1.1.1.1/32",
            ]
        );
    }

    #[test]
    fn with_no_pools_left_stale_advertisements_go_too() {
        let observed: Vec<Observed> = [pool("a", &["1.1.1.1/32"]), adv("a")]
            .iter()
            .map(seen)
            .collect();
        assert_eq!(
            summary(&steps(ALL, &observed, &desired(vec![]))),
            ["delete BgpAdvertisement a", "delete IpAddressPool a"]
        );
    }

    #[test]
    fn peers_are_replaced_and_other_kinds_left_alone() {
        let peer = |name: &str, asn: u32| DesiredObject {
            kind: ObjectKind::BgpPeer,
            name: name.into(),
            spec: json!({"myASN": asn}),
        };
        let observed: Vec<Observed> = [peer("peer-n1", 1), peer("peer-gone", 2)]
            .iter()
            .map(seen)
            .chain([Observed {
                kind: ObjectKind::CiliumPool,
                name: "x".into(),
                spec: json!({}),
            }])
            .collect();
        let want = desired(vec![peer("peer-n1", 3), peer("peer-n2", 4)]);
        assert_eq!(
            summary(&steps(ALL, &observed, &want)),
            [
                "delete BgpPeer peer-gone",
                "apply BgpPeer peer-n1",
                "apply BgpPeer peer-n2"
            ]
        );
    }

    #[test]
    fn contains_is_a_subset_check() {
        assert!(contains(
            &json!({"a": 1, "b": [{"c": 1, "d": 2}]}),
            &json!({"b": [{"c": 1}]})
        ));
        assert!(!contains(&json!({"b": [1, 2]}), &json!({"b": [1]})));
        assert!(!contains(&json!({"a": 1}), &json!({"a": 2})));
        assert!(!contains(&json!({}), &json!({"a": null})));
    }
}

use proptest::prelude::{
    ProptestConfig, any, prop, prop_assert, prop_assert_eq, prop_oneof, proptest,
};
use proptest::strategy::Strategy as _;
use serde_json::json;

use super::*;

fn md(replicas: i32, strategy: Value) -> MachineDeployment {
    serde_json::from_value(json!({
        "apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "MachineDeployment",
        "metadata": {"name": "shoot--p--c-worker-z1", "namespace": "shoot--p--c",
                     "uid": "md-uid", "generation": 4},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"name": "shoot--p--c-worker-z1"}},
            "strategy": strategy,
            "minReadySeconds": 500,
            "template": {
                "metadata": {"labels": {"name": "shoot--p--c-worker-z1", "pool": "worker"},
                             "annotations": {"note": "n"}},
                "spec": {
                    "class": {"kind": "MachineClass", "name": "pool-3a9c1"},
                    "nodeTemplate": {"metadata": {"labels": {"worker.gardener.cloud/pool": "worker"}}},
                    "nodeConditions": "KernelDeadlock",
                },
            },
        },
    }))
    .unwrap()
}

fn rolling(surge: Value, unavailable: Value) -> Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
}

fn resolve(surge: Value, unavailable: Value, replicas: i32) -> Result<Strategy, String> {
    let spec: MachineDeploymentStrategy =
        serde_json::from_value(rolling(surge, unavailable)).unwrap();
    strategy(Some(&spec), replicas)
}

fn ru(max_surge: i32, max_unavailable: i32) -> Strategy {
    Strategy::RollingUpdate {
        max_surge,
        max_unavailable,
    }
}

// ---- names and hashes ----

#[test]
fn the_template_hash_is_short_stable_and_follows_every_template_change() {
    let a = md(3, rolling(json!(1), json!(0)));
    let hash = template_hash(&a.spec.template);
    assert_eq!(hash.len(), HASH_LEN);
    assert!(
        hash.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    // Replicas and strategy are not the template.
    assert_eq!(
        template_hash(&md(7, json!({"type": "Recreate"})).spec.template),
        hash
    );

    let mut labelled = a.clone();
    let labels = labelled
        .spec
        .template
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap();
    labels.insert("pool".into(), "other".into());
    assert_ne!(template_hash(&labelled.spec.template), hash, "a label");
    let mut unknown = a.clone();
    let other = &mut unknown.spec.template.spec.as_mut().unwrap().other;
    other.insert("nodeConditions".into(), json!("ReadonlyFilesystem"));
    assert_ne!(
        template_hash(&unknown.spec.template),
        hash,
        "a field we do not model"
    );

    // The MachineSet's template (with the hash label) hashes like the deployment's.
    let d = deployment(&a).unwrap();
    let set = new_machine_set(&a, &d, 1);
    assert_eq!(template_hash(&set.spec.template), hash);
}

#[test]
fn the_hash_does_not_depend_on_the_order_fields_came_in() {
    let a = md(3, json!({}));
    let mut value = serde_json::to_value(&a.spec.template).unwrap();
    // Rebuild the objects with reversed key order.
    fn reverse(v: &mut Value) {
        if let Value::Object(map) = v {
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            entries.reverse();
            for (k, mut v) in entries {
                reverse(&mut v);
                map.insert(k, v);
            }
        }
    }
    reverse(&mut value);
    let b: MachineTemplateSpec = serde_json::from_value(value).unwrap();
    assert_eq!(template_hash(&b), template_hash(&a.spec.template));
}

#[test]
fn names_and_suffixes() {
    assert_eq!(machine_set_name("md", "0123456789"), "md-0123456789");
    assert_eq!(
        machine_name("md-0123456789", "ab1c2"),
        "md-0123456789-ab1c2"
    );
    assert!(is_suffix("ab1c2"));
    for bad in ["ab1c", "ab1c23", "AB1C2", "ab-c2", "ab c2"] {
        assert!(!is_suffix(bad), "{bad}");
    }
}

// ---- strategy ----

#[test]
fn surge_rounds_up_unavailable_rounds_down_like_kubernetes() {
    assert_eq!(resolve(json!("25%"), json!("25%"), 10), Ok(ru(3, 2)));
    assert_eq!(resolve(json!("50%"), json!("50%"), 3), Ok(ru(2, 1)));
    assert_eq!(resolve(json!(2), json!(1), 10), Ok(ru(2, 1)));
    assert_eq!(resolve(json!("100%"), json!("0%"), 4), Ok(ru(4, 0)));
}

#[test]
fn both_bounds_zero_means_one_unavailable() {
    assert_eq!(resolve(json!(0), json!(0), 5), Ok(ru(0, 1)));
    assert_eq!(resolve(json!("10%"), json!("10%"), 5), Ok(ru(1, 0)));
    assert_eq!(resolve(json!("0%"), json!("10%"), 5), Ok(ru(0, 1)));
}

#[test]
fn defaults_are_upstreams_one_and_one_and_unavailable_is_at_most_replicas() {
    assert_eq!(strategy(None, 5), Ok(ru(1, 1)));
    let empty: MachineDeploymentStrategy = serde_json::from_value(json!({})).unwrap();
    assert_eq!(strategy(Some(&empty), 5), Ok(ru(1, 1)));
    assert_eq!(resolve(json!(1), json!(5), 2), Ok(ru(1, 2)));
    assert_eq!(resolve(json!(1), json!(5), 0), Ok(ru(1, 0)));
    let recreate: MachineDeploymentStrategy =
        serde_json::from_value(json!({"type": "Recreate"})).unwrap();
    assert_eq!(strategy(Some(&recreate), 5), Ok(Strategy::Recreate));
}

#[test]
fn bad_bounds_and_types_are_refused_naming_the_field() {
    let e = resolve(json!(-1), json!(1), 3).unwrap_err();
    assert!(e.contains("maxSurge") && e.contains("negative"), "{e}");
    let e = resolve(json!(1), json!("ten"), 3).unwrap_err();
    assert!(e.contains("maxUnavailable") && e.contains("\"ten\""), "{e}");
    let e = resolve(json!("5"), json!(1), 3).unwrap_err();
    assert!(e.contains("maxSurge"), "{e}");
    let in_place: MachineDeploymentStrategy =
        serde_json::from_value(json!({"type": "InPlaceUpdate"})).unwrap();
    let e = strategy(Some(&in_place), 3).unwrap_err();
    assert!(e.contains("InPlaceUpdate"), "{e}");
}

#[test]
fn deployments_scaling_cannot_rely_on_are_refused() {
    let ok = deployment(&md(3, json!({}))).unwrap();
    assert_eq!(ok.replicas, 3);
    assert_eq!(ok.generation, 4);
    assert_eq!(ok.strategy, ru(1, 1));
    assert!(!ok.paused);
    assert_eq!(
        ok.new_set_name(),
        format!("shoot--p--c-worker-z1-{}", ok.hash)
    );

    let mut no_selector = md(3, json!({}));
    no_selector.spec.selector = None;
    assert!(
        deployment(&no_selector)
            .unwrap_err()
            .contains("matchLabels")
    );
    let mut foreign = md(3, json!({}));
    foreign
        .spec
        .selector
        .as_mut()
        .unwrap()
        .match_labels
        .as_mut()
        .unwrap()
        .insert("name".into(), "other".into());
    let e = deployment(&foreign).unwrap_err();
    assert!(e.contains("name=other"), "{e}");
    let mut classless = md(3, json!({}));
    classless.spec.template.spec.as_mut().unwrap().machine.class = None;
    assert!(deployment(&classless).unwrap_err().contains("class"));
    let e = deployment(&md(-1, json!({}))).unwrap_err();
    assert!(e.contains("replicas"), "{e}");
}

// ---- objects ----

#[test]
fn the_new_machine_set_carries_the_hash_and_is_controlled_by_the_deployment() {
    let a = md(3, json!({}));
    let d = deployment(&a).unwrap();
    let set = new_machine_set(&a, &d, 2);
    assert_eq!(
        set.metadata.name.as_deref(),
        Some(d.new_set_name().as_str())
    );
    assert_eq!(set.metadata.namespace.as_deref(), Some("shoot--p--c"));
    let hash = Some(d.hash.as_str());
    let labels = set.metadata.labels.as_ref().unwrap();
    assert_eq!(labels.get(TEMPLATE_HASH_LABEL).map(String::as_str), hash);
    assert_eq!(labels.get("pool").map(String::as_str), Some("worker"));
    let selector = set
        .spec
        .selector
        .as_ref()
        .unwrap()
        .match_labels
        .as_ref()
        .unwrap();
    assert_eq!(selector.len(), 2);
    assert_eq!(selector.get(TEMPLATE_HASH_LABEL).map(String::as_str), hash);
    assert_eq!(
        template_labels(&set.spec.template)
            .get(TEMPLATE_HASH_LABEL)
            .map(String::as_str),
        hash
    );
    assert_eq!(set.spec.replicas, Some(2));
    assert_eq!(set.spec.min_ready_seconds, Some(500));
    let owner = &set.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("MachineDeployment", "shoot--p--c-worker-z1", "md-uid")
    );
    assert_eq!(owner.api_version, "machine.sapcloud.io/v1alpha1");
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    assert!(controlled_by(&set.metadata, "md-uid"));
    assert!(!controlled_by(&set.metadata, "other"));
}

#[test]
fn machines_get_the_templates_labels_annotations_and_whole_spec_but_no_provider_id() {
    let a = md(3, json!({}));
    let d = deployment(&a).unwrap();
    let mut set = new_machine_set(&a, &d, 2);
    set.metadata.uid = Some("ms-uid".into());
    set.spec.template.spec.as_mut().unwrap().machine.provider_id = Some("metal:///x/y".into());
    let machine = new_machine(&set, "m-abcde");
    assert_eq!(machine["kind"], "Machine");
    assert_eq!(machine["metadata"]["name"], "m-abcde");
    assert_eq!(machine["metadata"]["namespace"], "shoot--p--c");
    assert_eq!(machine["metadata"]["labels"]["pool"], "worker");
    assert_eq!(machine["metadata"]["labels"][TEMPLATE_HASH_LABEL], d.hash);
    assert_eq!(machine["metadata"]["annotations"]["note"], "n");
    assert_eq!(
        machine["metadata"]["ownerReferences"],
        json!([{"apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "MachineSet",
                "name": set.metadata.name, "uid": "ms-uid",
                "controller": true, "blockOwnerDeletion": true}])
    );
    assert_eq!(
        machine["spec"],
        json!({"class": {"kind": "MachineClass", "name": "pool-3a9c1"},
               "nodeTemplate": {"metadata": {"labels": {"worker.gardener.cloud/pool": "worker"}}},
               "nodeConditions": "KernelDeadlock"})
    );
    // And it reads as the Machine the Machine controller handles.
    let typed: Machine = serde_json::from_value(machine).unwrap();
    assert_eq!(typed.spec.class.unwrap().name, "pool-3a9c1");
    assert_eq!(typed.spec.provider_id, None);
}

#[test]
fn machine_state_reads_phase_deletion_priority_and_labels() {
    let machine: Machine = serde_json::from_value(json!({
        "apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "Machine",
        "metadata": {"name": "m1", "creationTimestamp": "2026-01-01T00:00:10Z",
                     "deletionTimestamp": "2026-01-01T00:01:00Z",
                     "labels": {"a": "1"},
                     "annotations": {PRIORITY_ANNOTATION: "1"}},
        "spec": {},
        "status": {"currentStatus": {"phase": "Running"}},
    }))
    .unwrap();
    let want = BTreeMap::from([("a".to_string(), "1".to_string())]);
    let state = machine_state(&machine, &want);
    assert_eq!(state.phase.as_deref(), Some("Running"));
    assert!(state.deleting && state.terminating() && !state.available());
    assert_eq!(state.priority, 1);
    assert_eq!(state.created, 1_767_225_610);
    assert!(state.fully_labeled);
    let more = BTreeMap::from([("b".to_string(), "2".to_string())]);
    assert!(!machine_state(&machine, &more).fully_labeled);
}

// ---- the MachineSet plan ----

fn m(name: &str, phase: Option<&str>, created: i64) -> MachineState {
    MachineState {
        name: name.into(),
        phase: phase.map(str::to_owned),
        deleting: false,
        created,
        priority: DEFAULT_PRIORITY,
        fully_labeled: true,
    }
}

fn suffixes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_set_creates_the_missing_machines_with_valid_free_suffixes() {
    let machines = [m("ms-aaaaa", Some(RUNNING), 1)];
    let plan = plan_machine_set(
        "ms",
        3,
        false,
        &machines,
        &suffixes(&["aaaaa", "BAD!!", "bbbbb", "bbbbb", "ccccc", "ddddd"]),
    );
    assert_eq!(plan.create, ["ms-bbbbb", "ms-ccccc"]);
    assert!(plan.delete.is_empty());
    assert_eq!(
        plan.counts,
        SetCounts {
            replicas: 1,
            fully_labeled: 1,
            ready: 1,
            available: 1
        }
    );
    // Too few suffixes: what can be made now, the rest next time.
    let plan = plan_machine_set("ms", 3, false, &machines, &suffixes(&["eeeee"]));
    assert_eq!(plan.create, ["ms-eeeee"]);
}

#[test]
fn a_set_shrinks_by_priority_then_earliest_phase_then_newest() {
    let mut prio = m("ms-prio1", Some(RUNNING), 1);
    prio.priority = 1;
    let machines = [
        m("ms-run01", Some(RUNNING), 1),
        m("ms-run02", Some(RUNNING), 5),
        m("ms-pend1", Some(PENDING), 2),
        m("ms-unkn1", Some(UNKNOWN), 3),
        m("ms-crash", Some(CRASH_LOOP), 4),
        m("ms-nophs", None, 9),
        prio,
    ];
    let expect = [
        "ms-prio1", "ms-nophs", "ms-crash", "ms-unkn1", "ms-pend1", "ms-run02", "ms-run01",
    ];
    for keep in 0..machines.len() {
        let plan = plan_machine_set("ms", keep as i32, false, &machines, &[]);
        assert_eq!(
            plan.delete,
            expect[..machines.len() - keep],
            "keeping {keep}"
        );
        assert!(plan.create.is_empty());
    }
}

#[test]
fn failed_machines_are_deleted_and_replaced() {
    let machines = [
        m("ms-fail1", Some(FAILED), 1),
        m("ms-run01", Some(RUNNING), 2),
        m("ms-run02", Some(RUNNING), 3),
    ];
    let plan = plan_machine_set("ms", 3, false, &machines, &suffixes(&["xxxxx", "yyyyy"]));
    assert_eq!(plan.delete, ["ms-fail1"]);
    assert_eq!(plan.create, ["ms-xxxxx"]);
    // Shrinking at the same time: the Failed one is part of what goes.
    let plan = plan_machine_set("ms", 1, false, &machines, &[]);
    assert_eq!(plan.delete, ["ms-fail1", "ms-run02"]);
}

#[test]
fn terminating_machines_are_neither_counted_nor_touched() {
    let mut gone = m("ms-gone1", Some(RUNNING), 1);
    gone.deleting = true;
    let machines = [
        gone,
        m("ms-term1", Some(TERMINATING), 2),
        m("ms-run01", Some(RUNNING), 3),
    ];
    let plan = plan_machine_set("ms", 2, false, &machines, &suffixes(&["zzzzz"]));
    assert_eq!(plan.create, ["ms-zzzzz"]);
    assert!(plan.delete.is_empty());
    assert_eq!(plan.counts.replicas, 1);
    assert_eq!(plan.counts.available, 1);
    assert!(
        plan_machine_set("ms", 1, false, &machines, &[])
            .delete
            .is_empty()
    );
}

#[test]
fn a_set_being_deleted_deletes_every_machine_and_creates_none() {
    let machines = [
        m("ms-run01", Some(RUNNING), 1),
        m("ms-pend1", Some(PENDING), 2),
    ];
    let plan = plan_machine_set("ms", 5, true, &machines, &suffixes(&["aaaaa"]));
    assert_eq!(plan.delete, ["ms-run01", "ms-pend1"]);
    assert!(plan.create.is_empty());
}

#[test]
fn at_most_a_burst_per_pass() {
    let many: Vec<String> = (0..150).map(|i| format!("{i:05}")).collect();
    assert_eq!(
        plan_machine_set("ms", 150, false, &[], &many).create.len(),
        BURST
    );
    let machines: Vec<MachineState> = (0..150)
        .map(|i| m(&format!("ms-{i:05}"), Some(RUNNING), i))
        .collect();
    assert_eq!(
        plan_machine_set("ms", 0, false, &machines, &[])
            .delete
            .len(),
        BURST
    );
}

#[test]
fn fully_labeled_counts_machines_with_every_template_label() {
    let mut partial = m("ms-part1", Some(PENDING), 1);
    partial.fully_labeled = false;
    let counts = SetCounts::of(&[partial, m("ms-run01", Some(RUNNING), 2)]);
    assert_eq!(
        counts,
        SetCounts {
            replicas: 2,
            fully_labeled: 1,
            ready: 1,
            available: 1
        }
    );
    assert_eq!(
        counts.status(7),
        MachineSetStatus {
            replicas: Some(2),
            fully_labeled_replicas: Some(1),
            ready_replicas: Some(1),
            available_replicas: Some(1),
            observed_generation: Some(7),
        }
    );
}

// ---- the deployment plan ----

fn dep(replicas: i32, strategy: Strategy) -> Deployment {
    Deployment {
        name: "md".into(),
        replicas,
        generation: 2,
        strategy,
        paused: false,
        hash: "new".into(),
    }
}

fn set(name: &str, replicas: i32, active: i32, available: i32, created: i64) -> SetState {
    SetState {
        name: name.into(),
        replicas,
        active,
        terminating: 0,
        available,
        created,
    }
}

#[test]
fn a_new_deployment_creates_its_set_with_all_replicas() {
    let plan = plan_deployment(&dep(3, ru(1, 0)), &[]);
    assert_eq!(plan.create, Some(3));
    assert!(plan.scale.is_empty() && plan.delete.is_empty() && !plan.complete);
    assert_eq!(plan.counts.unavailable, 3);
    assert_eq!(plan.counts.observed_generation, 2);
}

#[test]
fn a_single_set_is_scaled_straight_to_replicas() {
    let d = dep(5, ru(1, 0));
    let plan = plan_deployment(&d, &[set("md-new", 3, 3, 3, 1)]);
    assert_eq!(plan.scale, [("md-new".to_string(), 5)]);
    assert!(!plan.complete);
    let plan = plan_deployment(&dep(2, ru(1, 0)), &[set("md-new", 5, 5, 5, 1)]);
    assert_eq!(plan.scale, [("md-new".to_string(), 2)]);
    let done = plan_deployment(&dep(2, ru(1, 0)), &[set("md-new", 2, 2, 2, 1)]);
    assert_eq!(
        done,
        DeploymentPlan {
            create: None,
            scale: vec![],
            delete: vec![],
            counts: DeploymentCounts {
                replicas: 2,
                updated: 2,
                ready: 2,
                available: 2,
                unavailable: 0,
                observed_generation: 2
            },
            complete: true,
        }
    );
}

#[test]
fn a_rolling_update_surges_one_then_trades_available_for_available() {
    let d = dep(3, ru(1, 0));
    // The template changed: the new set is created with the surge.
    let plan = plan_deployment(&d, &[set("md-old", 3, 3, 3, 1)]);
    assert_eq!(plan.create, Some(1));
    assert!(plan.scale.is_empty());
    // Its Machine is not available yet: nothing may go.
    let plan = plan_deployment(&d, &[set("md-old", 3, 3, 3, 1), set("md-new", 1, 1, 0, 2)]);
    assert!(plan.scale.is_empty() && plan.create.is_none());
    assert_eq!(plan.counts.replicas, 4);
    assert_eq!(plan.counts.updated, 1);
    // Available: one old one goes.
    let plan = plan_deployment(&d, &[set("md-old", 3, 3, 3, 1), set("md-new", 1, 1, 1, 2)]);
    assert_eq!(plan.scale, [("md-old".to_string(), 2)]);
    // While that old Machine is still going, there is no room for another new one.
    let mut going = set("md-old", 2, 2, 2, 1);
    going.terminating = 1;
    let plan = plan_deployment(&d, &[going, set("md-new", 1, 1, 1, 2)]);
    assert!(plan.scale.is_empty());
    // Gone: the new set grows.
    let plan = plan_deployment(&d, &[set("md-old", 2, 2, 2, 1), set("md-new", 1, 1, 1, 2)]);
    assert_eq!(plan.scale, [("md-new".to_string(), 2)]);
    // The last old one goes, then the empty set.
    let plan = plan_deployment(&d, &[set("md-old", 1, 1, 1, 1), set("md-new", 3, 3, 3, 2)]);
    assert_eq!(plan.scale, [("md-old".to_string(), 0)]);
    let plan = plan_deployment(&d, &[set("md-old", 0, 0, 0, 1), set("md-new", 3, 3, 3, 2)]);
    assert_eq!(plan.delete, ["md-old"]);
    assert!(plan.complete);
}

#[test]
fn a_set_still_shrinking_is_not_shrunk_twice() {
    // The old set was told 2 but still has 3 available Machines: they do not count.
    let d = dep(3, ru(1, 0));
    let plan = plan_deployment(&d, &[set("md-old", 2, 3, 3, 1), set("md-new", 1, 1, 1, 2)]);
    assert!(plan.scale.is_empty(), "{plan:?}");
}

#[test]
fn unavailable_old_machines_go_first_within_the_budget() {
    // Two of the old set's Machines are not available: they go without costing availability,
    // as far as the replicas above the minimum allow (as Kubernetes' cleanup does).
    let sets = [set("md-old", 4, 4, 2, 1), set("md-new", 0, 0, 0, 2)];
    let plan = plan_deployment(&dep(4, ru(0, 2)), &sets);
    assert_eq!(plan.scale, [("md-old".to_string(), 2)]);
    let plan = plan_deployment(&dep(4, ru(0, 1)), &sets);
    assert_eq!(plan.scale, [("md-old".to_string(), 3)]);
}

#[test]
fn older_sets_shrink_first() {
    let d = dep(4, ru(0, 2));
    let plan = plan_deployment(
        &d,
        &[
            set("md-b", 2, 2, 2, 5),
            set("md-a", 2, 2, 2, 3),
            set("md-new", 0, 0, 0, 9),
        ],
    );
    assert_eq!(plan.scale, [("md-a".to_string(), 0)]);
}

#[test]
fn recreate_removes_every_old_machine_before_making_new_ones() {
    let d = dep(3, Strategy::Recreate);
    let plan = plan_deployment(&d, &[set("md-old", 3, 3, 3, 1)]);
    assert_eq!(plan.scale, [("md-old".to_string(), 0)]);
    assert_eq!(plan.create, None);
    let mut going = set("md-old", 0, 0, 0, 1);
    going.terminating = 2;
    let plan = plan_deployment(&d, &[going]);
    assert_eq!((plan.create, plan.delete.len()), (None, 0));
    let plan = plan_deployment(&d, &[set("md-old", 0, 0, 0, 1)]);
    assert_eq!(plan.create, Some(3));
    assert_eq!(plan.delete, ["md-old"]);
}

#[test]
fn paused_only_scales_a_lone_set() {
    let mut d = dep(5, ru(1, 0));
    d.paused = true;
    let plan = plan_deployment(&d, &[set("md-old", 3, 3, 3, 1)]);
    assert_eq!(plan.scale, [("md-old".to_string(), 5)]);
    assert_eq!(plan.create, None, "no rollout while paused");
    let plan = plan_deployment(&d, &[set("md-old", 3, 3, 3, 1), set("md-new", 1, 1, 1, 2)]);
    assert!(plan.scale.is_empty());
    assert_eq!(plan_deployment(&d, &[]).create, None);
}

#[test]
fn conditions_move_their_times_only_on_change() {
    let d = dep(3, ru(1, 0));
    let t0 = Time("2026-01-01T00:00:00Z".parse().unwrap());
    let t1 = Time("2026-01-01T00:05:00Z".parse().unwrap());
    let t2 = Time("2026-01-01T00:10:00Z".parse().unwrap());
    let rolling = plan_deployment(&d, &[set("md-old", 3, 3, 3, 1), set("md-new", 1, 1, 0, 2)]);
    let frozen = MachineDeploymentCondition {
        type_: "Frozen".into(),
        status: "False".into(),
        ..Default::default()
    };
    let first = conditions(&d, &rolling, &[frozen], &t0);
    let types: Vec<&str> = first.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["Available", "Frozen", "Progressing"]);
    assert_eq!(first[0].status, "True");
    assert_eq!(first[2].reason.as_deref(), Some("MachineSetUpdated"));
    assert_eq!(
        conditions(&d, &rolling, &first, &t1),
        first,
        "nothing changed"
    );

    let done = plan_deployment(&d, &[set("md-new", 3, 3, 3, 2)]);
    let second = conditions(&d, &done, &first, &t1);
    let progressing = &second[2];
    assert_eq!(
        progressing.reason.as_deref(),
        Some("NewMachineSetAvailable")
    );
    assert_eq!(progressing.last_update_time, Some(t1.clone()));
    assert_eq!(
        progressing.last_transition_time,
        Some(t0.clone()),
        "still True"
    );

    let down = plan_deployment(&d, &[set("md-new", 3, 3, 1, 2)]);
    let third = conditions(&d, &down, &second, &t2);
    assert_eq!(third[0].status, "False");
    assert_eq!(third[0].last_transition_time, Some(t2));

    let status = deployment_status(&done.counts, second.clone());
    assert_eq!(status.available_replicas, Some(3));
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(status.conditions, Some(second));
}

// ---- the rollout, simulated ----

#[derive(Debug, Clone)]
struct SimMachine {
    name: String,
    set: String,
    running: bool,
    deleting: bool,
    created: i64,
}

/// MachineSets and Machines driven by the two plans, with Machines turning Running and
/// terminating ones disappearing in between, in any order.
struct Sim {
    d: Deployment,
    sets: Vec<(String, i32, i64)>,
    machines: Vec<SimMachine>,
    clock: i64,
    serial: u64,
}

impl Sim {
    /// A deployment of `replicas` whose template just changed: one old set, all Running.
    fn new(d: Deployment) -> Self {
        let old = "md-old".to_string();
        let machines = (0..d.replicas)
            .map(|i| SimMachine {
                name: format!("{old}-{i:05}"),
                set: old.clone(),
                running: true,
                deleting: false,
                created: 0,
            })
            .collect();
        Self {
            sets: vec![(old, d.replicas, 0)],
            d,
            machines,
            clock: 1,
            serial: 0,
        }
    }

    fn states(&self, set: &str) -> Vec<MachineState> {
        self.machines
            .iter()
            .filter(|m| m.set == set)
            .map(|m| MachineState {
                name: m.name.clone(),
                phase: Some(if m.running { RUNNING } else { PENDING }.to_owned()),
                deleting: m.deleting,
                created: m.created,
                priority: DEFAULT_PRIORITY,
                fully_labeled: true,
            })
            .collect()
    }

    fn deployment_pass(&mut self) -> DeploymentPlan {
        let states: Vec<SetState> = self
            .sets
            .iter()
            .map(|(name, replicas, created)| {
                let machines = self.states(name);
                let counts = SetCounts::of(&machines);
                SetState {
                    name: name.clone(),
                    replicas: *replicas,
                    active: counts.replicas,
                    terminating: machines.iter().filter(|m| m.terminating()).count() as i32,
                    available: counts.available,
                    created: *created,
                }
            })
            .collect();
        let plan = plan_deployment(&self.d, &states);
        if let Some(replicas) = plan.create {
            self.clock += 1;
            self.sets
                .push((self.d.new_set_name(), replicas, self.clock));
        }
        for (name, replicas) in &plan.scale {
            self.sets.iter_mut().find(|s| &s.0 == name).unwrap().1 = *replicas;
        }
        for name in &plan.delete {
            assert!(
                self.machines.iter().all(|m| &m.set != name),
                "{name} is empty"
            );
            self.sets.retain(|s| &s.0 != name);
        }
        plan
    }

    fn set_pass(&mut self, index: usize) {
        if self.sets.is_empty() {
            return;
        }
        let (name, replicas, _) = self.sets[index % self.sets.len()].clone();
        let suffixes: Vec<String> = (0..replicas.max(0) + 1)
            .map(|i| format!("{:05}", self.serial + i as u64))
            .collect();
        self.serial += suffixes.len() as u64;
        let plan = plan_machine_set(&name, replicas, false, &self.states(&name), &suffixes);
        for gone in &plan.delete {
            self.machines
                .iter_mut()
                .find(|m| &m.name == gone)
                .unwrap()
                .deleting = true;
        }
        for made in plan.create {
            self.clock += 1;
            self.machines.push(SimMachine {
                name: made,
                set: name.clone(),
                running: false,
                deleting: false,
                created: self.clock,
            });
        }
    }

    fn run_one(&mut self, index: usize) {
        let pending: Vec<usize> = (0..self.machines.len())
            .filter(|i| !self.machines[*i].running && !self.machines[*i].deleting)
            .collect();
        if !pending.is_empty() {
            self.machines[pending[index % pending.len()]].running = true;
        }
    }

    fn finish_one(&mut self, index: usize) {
        let going: Vec<usize> = (0..self.machines.len())
            .filter(|i| self.machines[*i].deleting)
            .collect();
        if !going.is_empty() {
            self.machines.remove(going[index % going.len()]);
        }
    }

    fn step(&mut self, op: u8, index: usize) {
        match op % 4 {
            0 => {
                self.deployment_pass();
            }
            1 => self.set_pass(index),
            2 => self.run_one(index),
            _ => self.finish_one(index),
        }
    }

    /// Machines that exist (terminating ones too) and available ones.
    fn counts(&self) -> (i32, i32) {
        let all = self.machines.len() as i32;
        let available = self
            .machines
            .iter()
            .filter(|m| m.running && !m.deleting)
            .count() as i32;
        (all, available)
    }
}

fn bound() -> impl proptest::strategy::Strategy<Value = Value> {
    prop_oneof![
        (0..4i32).prop_map(|n| json!(n)),
        (0..=100u32).prop_map(|p| json!(format!("{p}%")))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Whatever order the passes, joins and deletions come in, a rolling update never has
    /// more than replicas + maxSurge Machines (terminating ones included) nor fewer than
    /// replicas - maxUnavailable available ones, and fair progress completes it.
    #[test]
    fn a_rolling_update_stays_within_its_bounds_and_completes(
        replicas in 0..8i32,
        surge in bound(),
        unavailable in bound(),
        ops in prop::collection::vec((any::<u8>(), any::<usize>()), 0..200),
    ) {
        let resolved = resolve(surge, unavailable, replicas).unwrap();
        let Strategy::RollingUpdate { max_surge, max_unavailable } = resolved else {
            unreachable!()
        };
        let mut sim = Sim::new(dep(replicas, resolved));
        let check = |sim: &Sim, when: &str| {
            let (all, available) = sim.counts();
            prop_assert!(all <= replicas + max_surge,
                "{when}: {all} Machines > {replicas} + {max_surge}: {:?}", sim.machines);
            prop_assert!(available >= replicas - max_unavailable,
                "{when}: {available} available < {replicas} - {max_unavailable}: {:?}", sim.machines);
            Ok(())
        };
        check(&sim, "start")?;
        for (op, index) in ops {
            sim.step(op, index);
            check(&sim, "random step")?;
        }
        // Fair progress from wherever that left it.
        let mut complete = false;
        for _ in 0..(4 * replicas + 20) {
            if sim.deployment_pass().complete {
                complete = true;
                break;
            }
            check(&sim, "deployment pass")?;
            for i in 0..sim.sets.len() {
                sim.set_pass(i);
                check(&sim, "set pass")?;
            }
            while sim.machines.iter().any(|m| !m.running && !m.deleting) {
                sim.run_one(0);
            }
            check(&sim, "joined")?;
            while sim.machines.iter().any(|m| m.deleting) {
                sim.finish_one(0);
            }
        }
        prop_assert!(complete, "not complete: sets {:?}, machines {:?}", sim.sets, sim.machines);
        prop_assert_eq!(sim.sets.len(), 1);
        prop_assert_eq!(sim.machines.len() as i32, replicas);
        prop_assert!(sim.machines.iter().all(|m| m.set == "md-new" && m.running));
    }
}

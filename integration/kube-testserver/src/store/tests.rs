use super::*;

fn kind(store: &Store, group: &str, version: &str, plural: &str) -> Kind {
    store.kinds().find(group, version, plural).cloned().unwrap()
}

fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Thing", "plural": "things", "listKind": "ThingList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"port": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {"state": {"type": "string"}}}}}}}]}})
}

fn with_things() -> (Store, Kind) {
    let mut store = Store::new(100);
    store.install_crd(crd()).unwrap();
    let things = kind(&store, "example.com", "v1", "things");
    (store, things)
}

fn thing(name: &str, port: i64) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Thing",
           "metadata": {"name": name}, "spec": {"port": port}, "status": {"state": "forged"}})
}

const W: WriteOptions = WriteOptions {
    dry_run: false,
    strict: false,
};

fn rv(obj: &Value) -> u64 {
    resource_version_of(obj)
}

#[test]
fn create_fills_server_metadata_and_ignores_status() {
    let (mut store, things) = with_things();
    let created = store.create(&things, "default", thing("a", 1), W).unwrap();
    let meta = &created["metadata"];
    assert_eq!(meta["namespace"], "default");
    assert_eq!(meta["generation"], 1);
    assert!(meta["uid"].as_str().is_some_and(|u| u.len() == 36));
    assert!(
        meta["creationTimestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_eq!(rv(&created), store.resource_version());
    assert!(created.get("status").is_none(), "status is a subresource");

    let err = store
        .create(&things, "default", thing("a", 1), W)
        .unwrap_err();
    assert_eq!((err.code, err.reason), (409, "AlreadyExists"));
    let err = store
        .create(&things, "nowhere", thing("b", 1), W)
        .unwrap_err();
    assert_eq!(err.message, "namespaces \"nowhere\" not found");
}

#[test]
fn generate_name_and_name_rules() {
    let (mut store, things) = with_things();
    let generated = store
        .create(
            &things,
            "default",
            json!({"metadata": {"generateName": "web-"}}),
            W,
        )
        .unwrap();
    let name = generated["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    let err = store
        .create(&things, "default", json!({"metadata": {}}), W)
        .unwrap_err();
    assert_eq!(err.causes[0].field, "metadata.name");
    let err = store
        .create(&things, "default", thing("Upper_Case", 1), W)
        .unwrap_err();
    assert_eq!(
        (err.code, err.causes[0].field.as_str()),
        (422, "metadata.name")
    );
    let wrong_kind =
        json!({"apiVersion": "example.com/v1", "kind": "Other", "metadata": {"name": "x"}});
    assert_eq!(
        store
            .create(&things, "default", wrong_kind, W)
            .unwrap_err()
            .code,
        400
    );
}

#[test]
fn updates_are_optimistic_and_no_ops_are_free() {
    let (mut store, things) = with_things();
    let v1 = store.create(&things, "default", thing("a", 1), W).unwrap();
    let mut change = v1.clone();
    change["spec"]["port"] = json!(2);
    let v2 = store
        .update(
            &things,
            "default",
            "a",
            change.clone(),
            Subresource::Main,
            W,
        )
        .unwrap();
    assert!(rv(&v2) > rv(&v1));
    assert_eq!(v2["metadata"]["generation"], 2);

    // The same body again still carries v1's resourceVersion: a lost update.
    let err = store
        .update(&things, "default", "a", change, Subresource::Main, W)
        .unwrap_err();
    assert_eq!((err.code, err.reason), (409, "Conflict"));

    let before = store.resource_version();
    let same = store
        .update(&things, "default", "a", v2.clone(), Subresource::Main, W)
        .unwrap();
    assert_eq!(same, v2);
    assert_eq!(
        store.resource_version(),
        before,
        "a no-op write is not a change"
    );

    let mut labelled = v2.clone();
    labelled["metadata"]["labels"] = json!({"app": "x"});
    let v3 = store
        .update(&things, "default", "a", labelled, Subresource::Main, W)
        .unwrap();
    assert_eq!(
        v3["metadata"]["generation"], 2,
        "metadata changes keep the generation"
    );
}

#[test]
fn status_subresource_separates_spec_and_status() {
    let (mut store, things) = with_things();
    let created = store.create(&things, "default", thing("a", 1), W).unwrap();
    let mut body = created.clone();
    body["status"] = json!({"state": "ready"});
    body["spec"]["port"] = json!(99);
    let after = store
        .update(
            &things,
            "default",
            "a",
            body.clone(),
            Subresource::Status,
            W,
        )
        .unwrap();
    assert_eq!(after["status"]["state"], "ready");
    assert_eq!(after["spec"]["port"], 1, "a status write ignores the spec");
    assert_eq!(after["metadata"]["generation"], 1);

    body["metadata"]["resourceVersion"] = after["metadata"]["resourceVersion"].clone();
    body["status"] = json!({"state": "hijacked"});
    let main = store
        .update(&things, "default", "a", body, Subresource::Main, W)
        .unwrap();
    assert_eq!(
        main["status"]["state"], "ready",
        "a main write ignores the status"
    );
    assert_eq!(main["spec"]["port"], 99);
}

#[test]
fn finalizers_hold_deletion_until_removed() {
    let (mut store, things) = with_things();
    let mut body = thing("a", 1);
    body["metadata"]["finalizers"] = json!(["example.com/cleanup"]);
    store.create(&things, "default", body, W).unwrap();

    let marked = store
        .delete(&things, "default", "a", &DeleteOptions::default())
        .unwrap();
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert!(
        store.get(&things, "default", "a").is_ok(),
        "still there while finalized"
    );
    // Deleting again changes nothing.
    let again = store
        .delete(&things, "default", "a", &DeleteOptions::default())
        .unwrap();
    assert_eq!(again, marked);

    let add = Patch::Merge(json!({"metadata": {"finalizers": ["example.com/cleanup", "other"]}}));
    let err = store
        .patch(&things, "default", "a", add, Subresource::Main, W)
        .unwrap_err();
    assert_eq!(err.causes[0].field, "metadata.finalizers");

    let remove = Patch::Json(
        serde_json::from_value(json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": "example.com/cleanup"},
            {"op": "remove", "path": "/metadata/finalizers/0"}]))
        .unwrap(),
    );
    store
        .patch(&things, "default", "a", remove, Subresource::Main, W)
        .unwrap();
    assert_eq!(store.get(&things, "default", "a").unwrap_err().code, 404);
}

#[test]
fn patches_check_tests_and_resource_versions() {
    let (mut store, things) = with_things();
    store.create(&things, "default", thing("a", 1), W).unwrap();
    let failing = Patch::Json(
        serde_json::from_value(json!([{"op": "test", "path": "/spec/port", "value": 7}])).unwrap(),
    );
    let err = store
        .patch(&things, "default", "a", failing, Subresource::Main, W)
        .unwrap_err();
    assert_eq!(err.code, 422);
    let stale = Patch::Merge(json!({"metadata": {"resourceVersion": "1"}, "spec": {"port": 3}}));
    let err = store
        .patch(&things, "default", "a", stale, Subresource::Main, W)
        .unwrap_err();
    assert_eq!(err.code, 409);
    assert_eq!(
        store.get(&things, "default", "a").unwrap()["spec"]["port"],
        1
    );

    let status = Patch::Merge(json!({"status": {"state": "ok"}}));
    let patched = store
        .patch(&things, "default", "a", status, Subresource::Status, W)
        .unwrap();
    assert_eq!(patched["status"]["state"], "ok");

    let apply = Patch::Apply(json!({"apiVersion": "example.com/v1", "kind": "Thing",
        "metadata": {"name": "b"}, "spec": {"port": 5}}));
    let created = store
        .patch(&things, "default", "b", apply, Subresource::Main, W)
        .unwrap();
    assert_eq!(created["spec"]["port"], 5, "apply creates what is missing");
}

#[test]
fn invalid_custom_resources_change_nothing() {
    let (mut store, things) = with_things();
    let err = store
        .create(
            &things,
            "default",
            json!({"metadata": {"name": "a"}, "spec": {"port": "https"}}),
            W,
        )
        .unwrap_err();
    assert_eq!((err.code, err.causes[0].field.as_str()), (422, "spec.port"));
    assert_eq!(store.get(&things, "default", "a").unwrap_err().code, 404);

    let created = store.create(&things, "default", thing("a", 1), W).unwrap();
    let before = store.resource_version();
    let bad = Patch::Merge(json!({"spec": {"port": "https"}}));
    assert_eq!(
        store
            .patch(&things, "default", "a", bad, Subresource::Main, W)
            .unwrap_err()
            .code,
        422
    );
    assert_eq!(store.resource_version(), before);
    assert_eq!(store.get(&things, "default", "a").unwrap(), created);
}

#[test]
fn dry_run_stores_nothing() {
    let (mut store, things) = with_things();
    let before = store.resource_version();
    let dry = WriteOptions {
        dry_run: true,
        strict: false,
    };
    let answer = store
        .create(&things, "default", thing("a", 1), dry)
        .unwrap();
    assert_eq!(answer["metadata"]["name"], "a");
    assert_eq!(store.resource_version(), before);
    assert_eq!(store.get(&things, "default", "a").unwrap_err().code, 404);
}

#[test]
fn lists_select_and_page() {
    let (mut store, things) = with_things();
    for (ns, name, tier) in [
        ("default", "a", "web"),
        ("default", "b", "db"),
        ("kube-system", "c", "web"),
    ] {
        let mut body = thing(name, 1);
        body["metadata"]["labels"] = json!({"tier": tier});
        store.create(&things, ns, body, W).unwrap();
    }
    let names = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let all = store.list(&things, None, &ListOptions::default()).unwrap();
    assert_eq!(names(&all), ["a", "b", "c"]);
    assert_eq!(all["kind"], "ThingList");
    assert_eq!(
        all["metadata"]["resourceVersion"],
        store.resource_version().to_string()
    );

    let web = ListOptions {
        labels: LabelSelector::parse("tier=web").unwrap(),
        ..Default::default()
    };
    assert_eq!(names(&store.list(&things, None, &web).unwrap()), ["a", "c"]);
    assert_eq!(
        names(&store.list(&things, Some("default"), &web).unwrap()),
        ["a"]
    );

    let page = ListOptions {
        limit: Some(2),
        ..Default::default()
    };
    let first = store.list(&things, None, &page).unwrap();
    assert_eq!(names(&first), ["a", "b"]);
    assert_eq!(first["metadata"]["remainingItemCount"], 1);
    let next = ListOptions {
        limit: Some(2),
        continue_: first["metadata"]["continue"].as_str().map(String::from),
        ..Default::default()
    };
    let second = store.list(&things, None, &next).unwrap();
    assert_eq!(names(&second), ["c"]);
    assert!(second["metadata"].get("continue").is_none());
}

#[test]
fn watches_replay_history_and_expire_when_compacted() {
    let (mut store, things) = with_things();
    let a = store.create(&things, "default", thing("a", 1), W).unwrap();
    store.create(&things, "default", thing("b", 1), W).unwrap();
    store
        .delete(&things, "default", "a", &DeleteOptions::default())
        .unwrap();

    let (replay, _rx) = store.watch_since(&things.storage_key(), rv(&a)).unwrap();
    let seen: Vec<_> = replay
        .iter()
        .map(|c| {
            (
                c.type_,
                c.object["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (EventType::Added, "b".into()),
            (EventType::Deleted, "a".into())
        ]
    );

    let (current, _rx) = store.watch_current(&things.storage_key());
    assert_eq!(current.len(), 1);

    store.compact();
    let err = store
        .watch_since(&things.storage_key(), rv(&a))
        .unwrap_err();
    assert_eq!(err.code, 410);
    assert!(
        store
            .watch_since(&things.storage_key(), store.resource_version())
            .is_ok()
    );
}

#[test]
fn bounded_history_expires_old_versions() {
    let mut store = Store::new(3);
    let cms = kind(&store, "", "v1", "configmaps");
    let first = store
        .create(&cms, "default", json!({"metadata": {"name": "c0"}}), W)
        .unwrap();
    for i in 1..5 {
        store
            .create(
                &cms,
                "default",
                json!({"metadata": {"name": format!("c{i}")}}),
                W,
            )
            .unwrap();
    }
    assert_eq!(
        store
            .watch_since("/configmaps", rv(&first))
            .unwrap_err()
            .code,
        410
    );
    assert_eq!(
        store
            .watch_since("/configmaps", store.resource_version() - 2)
            .unwrap()
            .0
            .len(),
        2
    );
}

#[test]
fn crds_come_and_go_with_their_objects() {
    let (mut store, things) = with_things();
    store.create(&things, "default", thing("a", 1), W).unwrap();
    let crds = kind(&store, CRD_GROUP, "v1", "customresourcedefinitions");
    let crd_obj = store.get(&crds, "", "things.example.com").unwrap();
    let conditions = crd_obj["status"]["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    );

    let since = store.resource_version();
    store
        .delete(&crds, "", "things.example.com", &DeleteOptions::default())
        .unwrap();
    assert!(store.kinds().find("example.com", "v1", "things").is_none());
    let (replay, _) = store.watch_since(&things.storage_key(), since).unwrap();
    assert_eq!(replay.len(), 1);
    assert_eq!(replay[0].type_, EventType::Deleted);
}

#[test]
fn owned_objects_are_collected_with_their_owner() {
    let mut store = Store::new(100);
    let svcs = kind(&store, "", "v1", "services");
    let cms = kind(&store, "", "v1", "configmaps");
    let owner = store
        .create(&svcs, "default", json!({"metadata": {"name": "web"}}), W)
        .unwrap();
    let owner_ref = json!([{"apiVersion": "v1", "kind": "Service", "name": "web",
        "uid": owner["metadata"]["uid"]}]);
    store
        .create(
            &cms,
            "default",
            json!({"metadata": {"name": "owned", "ownerReferences": owner_ref}}),
            W,
        )
        .unwrap();
    store
        .create(&cms, "default", json!({"metadata": {"name": "free"}}), W)
        .unwrap();
    store
        .delete(&svcs, "default", "web", &DeleteOptions::default())
        .unwrap();
    assert_eq!(store.get(&cms, "default", "owned").unwrap_err().code, 404);
    assert!(store.get(&cms, "default", "free").is_ok());
}

#[test]
fn services_and_namespaces_get_their_defaults() {
    let mut store = Store::new(100);
    let svcs = kind(&store, "", "v1", "services");
    let svc = store
        .create(
            &svcs,
            "default",
            json!({"metadata": {"name": "web"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}}),
            W,
        )
        .unwrap();
    assert_eq!(
        svc["spec"]["ports"][0],
        json!({"port": 443, "protocol": "TCP", "targetPort": 443})
    );
    assert!(
        svc["spec"]["clusterIP"]
            .as_str()
            .unwrap()
            .starts_with("10.96.")
    );
    let mut change = svc.clone();
    change["spec"]["clusterIP"] = json!("10.0.0.1");
    assert_eq!(
        store
            .update(&svcs, "default", "web", change, Subresource::Main, W)
            .unwrap_err()
            .code,
        422
    );

    let nss = kind(&store, "", "v1", "namespaces");
    let ns = store.get(&nss, "", "kube-system").unwrap();
    assert_eq!(ns["status"]["phase"], "Active");
    let cms = kind(&store, "", "v1", "configmaps");
    store
        .create(&nss, "", json!({"metadata": {"name": "tmp"}}), W)
        .unwrap();
    store
        .create(&cms, "tmp", json!({"metadata": {"name": "c"}}), W)
        .unwrap();
    store
        .delete(&nss, "", "tmp", &DeleteOptions::default())
        .unwrap();
    assert_eq!(store.get(&cms, "tmp", "c").unwrap_err().code, 404);
}

#[test]
fn delete_preconditions_guard_against_replaced_objects() {
    let (mut store, things) = with_things();
    let created = store.create(&things, "default", thing("a", 1), W).unwrap();
    let wrong_uid = DeleteOptions {
        uid: Some("other".into()),
        ..Default::default()
    };
    let err = store
        .delete(&things, "default", "a", &wrong_uid)
        .unwrap_err();
    assert_eq!(err.code, 409);
    assert!(
        err.message
            .contains("Precondition failed: UID in precondition: other"),
        "{err}"
    );
    let stale = DeleteOptions {
        resource_version: Some("1".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .delete(&things, "default", "a", &stale)
            .unwrap_err()
            .code,
        409
    );
    let exact = DeleteOptions {
        uid: created["metadata"]["uid"].as_str().map(String::from),
        resource_version: created["metadata"]["resourceVersion"]
            .as_str()
            .map(String::from),
        dry_run: false,
    };
    store.delete(&things, "default", "a", &exact).unwrap();
    assert_eq!(store.get(&things, "default", "a").unwrap_err().code, 404);
}

#[test]
fn rbac_objects_are_bootstrapped_defaulted_and_validated() {
    let mut store = Store::new(100);
    let cluster_roles = kind(&store, RBAC_GROUP, "v1", "clusterroles");
    let bindings = kind(&store, RBAC_GROUP, "v1", "rolebindings");
    let crbs = kind(&store, RBAC_GROUP, "v1", "clusterrolebindings");
    let delegator = store
        .get(&cluster_roles, "", "system:auth-delegator")
        .unwrap();
    assert_eq!(delegator["apiVersion"], "rbac.authorization.k8s.io/v1");
    assert_eq!(
        store.get(&crbs, "", "cluster-admin").unwrap()["subjects"][0]["name"],
        "system:masters"
    );
    let policy = store.rbac_policy();
    assert_eq!(policy.cluster_roles.len(), 2);
    assert_eq!(policy.cluster_role_bindings.len(), 1);

    let binding = json!({"metadata": {"name": "view"},
        "roleRef": {"kind": "ClusterRole", "name": "system:auth-delegator"},
        "subjects": [{"kind": "User", "name": "alice"}]});
    let created = store.create(&bindings, "default", binding, W).unwrap();
    assert_eq!(created["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
    assert_eq!(
        created["subjects"][0]["apiGroup"],
        "rbac.authorization.k8s.io"
    );
    assert_eq!(store.rbac_policy().role_bindings[0].namespace, "default");

    // roleRef is immutable; subjects are not.
    let mut changed = created.clone();
    changed["roleRef"]["name"] = json!("cluster-admin");
    let err = store
        .update(&bindings, "default", "view", changed, Subresource::Main, W)
        .unwrap_err();
    assert_eq!((err.code, err.causes[0].field.as_str()), (422, "roleRef"));
    let mut more = created.clone();
    more["subjects"] = json!([{"kind": "Group", "name": "devs"}]);
    let updated = store
        .update(&bindings, "default", "view", more, Subresource::Main, W)
        .unwrap();
    assert_eq!(
        updated["subjects"][0]["apiGroup"],
        "rbac.authorization.k8s.io"
    );

    let err = store
        .create(
            &cluster_roles,
            "",
            json!({"metadata": {"name": "no-verbs"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]}),
            W,
        )
        .unwrap_err();
    assert_eq!(err.code, 422);
    assert_eq!(err.causes[0].field, "rules[0].verbs");
    assert!(
        err.message
            .starts_with("ClusterRole.rbac.authorization.k8s.io \"no-verbs\" is invalid"),
        "{err}"
    );
    let err = store
        .create(&cluster_roles, "", json!({"metadata": {"name": "a/b"}}), W)
        .unwrap_err();
    assert_eq!(err.causes[0].field, "metadata.name");
}

use super::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: strings(verbs),
        api_groups: strings(groups),
        resources: strings(resources),
        ..PolicyRule::default()
    }
}

fn url_rule(verbs: &[&str], urls: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: strings(verbs),
        non_resource_urls: strings(urls),
        ..PolicyRule::default()
    }
}

fn resource(verb: &str, group: &str, resource: &str) -> Attributes {
    Attributes::Resource(ResourceAttributes {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        ..ResourceAttributes::default()
    })
}

fn in_namespace(namespace: &str, attributes: Attributes) -> Attributes {
    match attributes {
        Attributes::Resource(mut r) => {
            r.namespace = namespace.into();
            Attributes::Resource(r)
        }
        other => other,
    }
}

fn sub(attributes: Attributes, subresource: &str) -> Attributes {
    match attributes {
        Attributes::Resource(mut r) => {
            r.subresource = subresource.into();
            Attributes::Resource(r)
        }
        other => other,
    }
}

fn named(attributes: Attributes, name: &str) -> Attributes {
    match attributes {
        Attributes::Resource(mut r) => {
            r.name = name.into();
            Attributes::Resource(r)
        }
        other => other,
    }
}

fn url(verb: &str, path: &str) -> Attributes {
    Attributes::NonResource(NonResourceAttributes {
        path: path.into(),
        verb: verb.into(),
    })
}

fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        name: name.into(),
        rules,
        ..Role::default()
    }
}

fn role(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        namespace: namespace.into(),
        ..cluster_role(name, rules)
    }
}

fn subject(kind: &str, name: &str, namespace: &str) -> Subject {
    Subject {
        kind: kind.into(),
        name: name.into(),
        namespace: namespace.into(),
        api_group: String::new(),
    }
}

fn binding(
    namespace: &str,
    name: &str,
    role_kind: &str,
    role: &str,
    subjects: Vec<Subject>,
) -> Binding {
    Binding {
        name: name.into(),
        namespace: namespace.into(),
        role_ref: RoleRef {
            api_group: GROUP.into(),
            kind: role_kind.into(),
            name: role.into(),
        },
        subjects,
    }
}

fn ask(policy: &Policy, user: &str, groups: &[&str], attributes: Attributes) -> Decision {
    authorize(
        policy,
        &Request {
            user: user.into(),
            groups: strings(groups),
            attributes,
        },
    )
}

fn allowed(policy: &Policy, user: &str, attributes: Attributes) -> bool {
    ask(policy, user, &[], attributes).allowed
}

/// `alice` bound cluster-wide to one ClusterRole holding `rules`.
fn alice_with(rules: Vec<PolicyRule>) -> Policy {
    Policy {
        cluster_roles: vec![cluster_role("r", rules)],
        cluster_role_bindings: vec![binding(
            "",
            "b",
            "ClusterRole",
            "r",
            vec![subject("User", "alice", "")],
        )],
        ..Policy::default()
    }
}

#[test]
fn verbs_match_exactly_or_by_star() {
    let p = alice_with(vec![rule(&["get", "list"], &[""], &["pods"])]);
    assert!(allowed(&p, "alice", resource("get", "", "pods")));
    assert!(allowed(&p, "alice", resource("list", "", "pods")));
    assert!(!allowed(&p, "alice", resource("delete", "", "pods")));
    assert!(!allowed(&p, "alice", resource("", "", "pods")));
    let p = alice_with(vec![rule(&["*"], &[""], &["pods"])]);
    assert!(allowed(&p, "alice", resource("delete", "", "pods")));
}

#[test]
fn api_groups_match_exactly_or_by_star() {
    let p = alice_with(vec![rule(&["get"], &["apps"], &["deployments"])]);
    assert!(allowed(&p, "alice", resource("get", "apps", "deployments")));
    assert!(!allowed(&p, "alice", resource("get", "", "deployments")));
    assert!(!allowed(
        &p,
        "alice",
        resource("get", "extensions", "deployments")
    ));
    let p = alice_with(vec![rule(&["get"], &["*"], &["deployments"])]);
    assert!(allowed(
        &p,
        "alice",
        resource("get", "extensions", "deployments")
    ));
    assert!(allowed(&p, "alice", resource("get", "", "deployments")));
    // No api groups at all: nothing.
    let p = alice_with(vec![rule(&["get"], &[], &["deployments"])]);
    assert!(!allowed(&p, "alice", resource("get", "", "deployments")));
}

#[test]
fn resources_star_subresources_and_star_slash_subresource() {
    let p = alice_with(vec![rule(&["get"], &[""], &["services"])]);
    assert!(allowed(&p, "alice", resource("get", "", "services")));
    assert!(!allowed(&p, "alice", resource("get", "", "secrets")));
    assert!(
        !allowed(&p, "alice", sub(resource("get", "", "services"), "status")),
        "a resource does not grant its subresources"
    );

    let p = alice_with(vec![rule(&["get"], &[""], &["services/status"])]);
    assert!(allowed(
        &p,
        "alice",
        sub(resource("get", "", "services"), "status")
    ));
    assert!(!allowed(&p, "alice", resource("get", "", "services")));
    assert!(!allowed(
        &p,
        "alice",
        sub(resource("get", "", "services"), "proxy")
    ));

    let p = alice_with(vec![rule(&["get"], &[""], &["*/status"])]);
    assert!(allowed(
        &p,
        "alice",
        sub(resource("get", "", "services"), "status")
    ));
    assert!(allowed(
        &p,
        "alice",
        sub(resource("get", "", "nodes"), "status")
    ));
    assert!(!allowed(
        &p,
        "alice",
        sub(resource("get", "", "nodes"), "proxy")
    ));
    assert!(!allowed(&p, "alice", resource("get", "", "status")));

    let p = alice_with(vec![rule(&["get"], &[""], &["*"])]);
    assert!(allowed(&p, "alice", resource("get", "", "secrets")));
    assert!(allowed(
        &p,
        "alice",
        sub(resource("get", "", "pods"), "log")
    ));
}

#[test]
fn resource_names_restrict_when_given() {
    let mut r = rule(&["get", "list"], &[""], &["configmaps"]);
    r.resource_names = strings(&["settings"]);
    let p = alice_with(vec![r]);
    assert!(allowed(
        &p,
        "alice",
        named(resource("get", "", "configmaps"), "settings")
    ));
    assert!(!allowed(
        &p,
        "alice",
        named(resource("get", "", "configmaps"), "other")
    ));
    assert!(
        !allowed(&p, "alice", resource("list", "", "configmaps")),
        "a list has no name, so a named rule does not grant it"
    );
    let p = alice_with(vec![rule(&["get"], &[""], &["configmaps"])]);
    assert!(allowed(
        &p,
        "alice",
        named(resource("get", "", "configmaps"), "anything")
    ));
}

#[test]
fn non_resource_urls_exact_star_and_prefix() {
    let p = alice_with(vec![url_rule(
        &["get"],
        &["/healthz", "/v1/loadbalancers*"],
    )]);
    assert!(allowed(&p, "alice", url("get", "/healthz")));
    assert!(!allowed(&p, "alice", url("get", "/healthz/ready")));
    assert!(!allowed(&p, "alice", url("post", "/healthz")));
    assert!(allowed(&p, "alice", url("get", "/v1/loadbalancers")));
    assert!(allowed(
        &p,
        "alice",
        url("get", "/v1/loadbalancers/ns/name")
    ));
    assert!(!allowed(&p, "alice", url("get", "/v1/load")));
    assert!(!allowed(&p, "alice", url("get", "/v2/loadbalancers")));
    // URL rules grant no resources, resource rules no URLs.
    assert!(!allowed(&p, "alice", resource("get", "", "healthz")));
    let p2 = alice_with(vec![rule(&["*"], &["*"], &["*"])]);
    assert!(!allowed(&p2, "alice", url("get", "/healthz")));

    let p = alice_with(vec![url_rule(&["*"], &["*"])]);
    assert!(allowed(&p, "alice", url("delete", "/anything/at/all")));
}

#[test]
fn cluster_role_bindings_name_the_grant_in_the_reason() {
    let p = Policy {
        cluster_roles: vec![cluster_role(
            "viewer",
            vec![rule(&["get"], &[""], &["pods"])],
        )],
        cluster_role_bindings: vec![
            binding(
                "",
                "by-group",
                "ClusterRole",
                "viewer",
                vec![subject("Group", "devs", "")],
            ),
            binding(
                "",
                "by-user",
                "ClusterRole",
                "viewer",
                vec![subject("User", "alice", "")],
            ),
            binding(
                "",
                "by-sa",
                "ClusterRole",
                "viewer",
                vec![subject("ServiceAccount", "lb", "kube-system")],
            ),
        ],
        ..Policy::default()
    };
    let get_pods = || in_namespace("default", resource("get", "", "pods"));
    assert_eq!(
        ask(&p, "alice", &[], get_pods()).reason,
        r#"RBAC: allowed by ClusterRoleBinding "by-user" of ClusterRole "viewer" to User "alice""#
    );
    assert_eq!(
        ask(&p, "bob", &["devs"], get_pods()).reason,
        r#"RBAC: allowed by ClusterRoleBinding "by-group" of ClusterRole "viewer" to Group "devs""#
    );
    assert_eq!(
        ask(&p, "system:serviceaccount:kube-system:lb", &[], get_pods()).reason,
        r#"RBAC: allowed by ClusterRoleBinding "by-sa" of ClusterRole "viewer" to ServiceAccount "lb/kube-system""#
    );
    let denied = ask(&p, "bob", &["ops"], get_pods());
    assert_eq!(
        denied,
        Decision {
            allowed: false,
            reason: String::new()
        }
    );
    assert!(!allowed(&p, "system:serviceaccount:default:lb", get_pods()));
    assert!(!allowed(
        &p,
        "alice",
        in_namespace("default", resource("delete", "", "pods"))
    ));
}

#[test]
fn service_account_subjects_match_namespace_and_name() {
    let p = Policy {
        cluster_roles: vec![cluster_role(
            "viewer",
            vec![rule(&["get"], &[""], &["pods"])],
        )],
        // A ClusterRoleBinding has no namespace to default a ServiceAccount's to.
        cluster_role_bindings: vec![binding(
            "",
            "no-ns",
            "ClusterRole",
            "viewer",
            vec![subject("ServiceAccount", "orphan", "")],
        )],
        role_bindings: vec![binding(
            "apps",
            "sa-local",
            "ClusterRole",
            "viewer",
            vec![subject("ServiceAccount", "web", "")],
        )],
        ..Policy::default()
    };
    let get = |ns: &str| in_namespace(ns, resource("get", "", "pods"));
    assert_eq!(
        ask(&p, "system:serviceaccount:apps:web", &[], get("apps")).reason,
        r#"RBAC: allowed by RoleBinding "sa-local/apps" of ClusterRole "viewer" to ServiceAccount "web/apps""#
    );
    assert!(!allowed(&p, "system:serviceaccount:other:web", get("apps")));
    assert!(!allowed(&p, "system:serviceaccount:apps:web2", get("apps")));
    assert!(
        !allowed(&p, "web", get("apps")),
        "a plain user is not the ServiceAccount"
    );
    assert!(!allowed(&p, "system:serviceaccount::orphan", get("apps")));
    assert!(!allowed(
        &p,
        "system:serviceaccount:default:orphan",
        get("default")
    ));
    assert_eq!(
        split_service_account_user("system:serviceaccount:a:b"),
        Some(("a", "b"))
    );
    assert_eq!(
        split_service_account_user("system:serviceaccount:a:b:c"),
        None
    );
    assert_eq!(service_account_user("a", "b"), "system:serviceaccount:a:b");
}

#[test]
fn role_bindings_apply_only_in_their_namespace() {
    let p = Policy {
        roles: vec![
            role(
                "apps",
                "editor",
                vec![rule(&["update"], &[""], &["configmaps"])],
            ),
            role("other", "elsewhere", vec![rule(&["*"], &["*"], &["*"])]),
        ],
        cluster_roles: vec![cluster_role(
            "viewer",
            vec![rule(&["get"], &[""], &["configmaps"])],
        )],
        role_bindings: vec![
            binding(
                "apps",
                "edit",
                "Role",
                "editor",
                vec![subject("User", "alice", "")],
            ),
            binding(
                "apps",
                "view",
                "ClusterRole",
                "viewer",
                vec![subject("User", "alice", "")],
            ),
            // A Role is looked up in the binding's own namespace only.
            binding(
                "apps",
                "foreign",
                "Role",
                "elsewhere",
                vec![subject("User", "alice", "")],
            ),
            binding(
                "apps",
                "missing",
                "Role",
                "nope",
                vec![subject("User", "alice", "")],
            ),
        ],
        ..Policy::default()
    };
    let cm = |verb: &str, ns: &str| in_namespace(ns, resource(verb, "", "configmaps"));
    assert_eq!(
        ask(&p, "alice", &[], cm("update", "apps")).reason,
        r#"RBAC: allowed by RoleBinding "edit/apps" of Role "editor" to User "alice""#
    );
    assert_eq!(
        ask(&p, "alice", &[], cm("get", "apps")).reason,
        r#"RBAC: allowed by RoleBinding "view/apps" of ClusterRole "viewer" to User "alice""#
    );
    assert!(
        !allowed(&p, "alice", cm("get", "default")),
        "a ClusterRole bound by a RoleBinding stays in its namespace"
    );
    assert!(!allowed(&p, "alice", cm("update", "other")));
    assert!(
        !allowed(&p, "alice", cm("delete", "apps")),
        "the other namespace's Role is not found"
    );
    assert!(
        !allowed(&p, "alice", resource("get", "", "configmaps")),
        "cluster-wide requests are not granted by RoleBindings"
    );
}

#[test]
fn non_resource_urls_through_role_bindings_are_ignored() {
    let urls = cluster_role("urls", vec![url_rule(&["get"], &["/metrics"])]);
    let by_role_binding = Policy {
        cluster_roles: vec![urls.clone()],
        role_bindings: vec![binding(
            "default",
            "m",
            "ClusterRole",
            "urls",
            vec![subject("User", "alice", "")],
        )],
        ..Policy::default()
    };
    assert!(!allowed(&by_role_binding, "alice", url("get", "/metrics")));
    let by_cluster_binding = Policy {
        cluster_roles: vec![urls],
        cluster_role_bindings: vec![binding(
            "",
            "m",
            "ClusterRole",
            "urls",
            vec![subject("User", "alice", "")],
        )],
        ..Policy::default()
    };
    assert!(allowed(
        &by_cluster_binding,
        "alice",
        url("get", "/metrics")
    ));
}

#[test]
fn cluster_role_bindings_to_roles_and_missing_roles_grant_nothing() {
    let p = Policy {
        roles: vec![role("", "r", vec![rule(&["*"], &["*"], &["*"])])],
        cluster_role_bindings: vec![
            binding(
                "",
                "to-role",
                "Role",
                "r",
                vec![subject("User", "alice", "")],
            ),
            binding(
                "",
                "to-nothing",
                "ClusterRole",
                "gone",
                vec![subject("User", "alice", "")],
            ),
        ],
        ..Policy::default()
    };
    assert!(!allowed(&p, "alice", resource("get", "", "pods")));
}

#[test]
fn system_masters_may_do_anything() {
    let nothing = Policy::default();
    let masters = ask(
        &nothing,
        "root",
        &[SYSTEM_MASTERS],
        url("delete", "/anything"),
    );
    assert_eq!(
        masters,
        Decision {
            allowed: true,
            reason: String::new()
        }
    );
    assert!(
        ask(
            &nothing,
            "root",
            &[SYSTEM_MASTERS],
            in_namespace("x", resource("create", "a.io", "things"))
        )
        .allowed
    );
    assert!(
        !ask(&nothing, SYSTEM_MASTERS, &[], url("get", "/")).allowed,
        "a user of that name is not the group"
    );
}

#[test]
fn bootstrap_roles_grant_what_the_apiserver_grants() {
    let cluster_roles = bootstrap_cluster_roles();
    let cluster_role_bindings = bootstrap_cluster_role_bindings();
    let delegate = json!({
        "metadata": {"name": "proxy-auth"},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "system:auth-delegator"},
        "subjects": [{"kind": "ServiceAccount", "name": "proxy", "namespace": "kube-system"}],
    });
    let p = Policy::from_objects(
        [],
        &cluster_roles,
        [],
        cluster_role_bindings.iter().chain([&delegate]),
    );
    let proxy = "system:serviceaccount:kube-system:proxy";
    assert_eq!(
        ask(
            &p,
            proxy,
            &[],
            resource("create", "authentication.k8s.io", "tokenreviews")
        )
        .reason,
        r#"RBAC: allowed by ClusterRoleBinding "proxy-auth" of ClusterRole "system:auth-delegator" to ServiceAccount "proxy/kube-system""#
    );
    assert!(allowed(
        &p,
        proxy,
        resource("create", "authorization.k8s.io", "subjectaccessreviews")
    ));
    assert!(!allowed(
        &p,
        proxy,
        resource("get", "authentication.k8s.io", "tokenreviews")
    ));
    assert!(!allowed(&p, proxy, resource("create", "", "secrets")));

    // cluster-admin itself, bound to a user.
    let admin = json!({
        "metadata": {"name": "admin"},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": GROUP, "kind": "User", "name": "alice"}],
    });
    let p = Policy::from_objects([], &cluster_roles, [], [&admin]);
    assert!(allowed(
        &p,
        "alice",
        in_namespace("x", resource("delete", "apps", "deployments"))
    ));
    assert!(allowed(&p, "alice", url("get", "/metrics")));
    for obj in &cluster_roles {
        assert!(validate_role(obj, false).is_empty());
    }
    for obj in &cluster_role_bindings {
        assert!(validate_binding(obj, false).is_empty());
    }
}

#[test]
fn aggregated_cluster_roles_collect_the_rules_of_matching_roles() {
    let labelled = |name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>| Role {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..cluster_role(name, rules)
    };
    let select = |labels: &[(&str, &str)]| LabelSelector {
        match_labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..LabelSelector::default()
    };
    let mut monitoring = cluster_role("monitoring", vec![rule(&["delete"], &[""], &["secrets"])]);
    monitoring.aggregation = Some(vec![select(&[("aggregate-to-monitoring", "true")])]);
    // Nested: `all` aggregates `monitoring` (and, through it, the metrics readers).
    let mut all = labelled("all", &[("aggregate-to-monitoring", "true")], vec![]);
    all.aggregation = Some(vec![select(&[("tier", "top")])]);
    let mut top = labelled("top", &[("tier", "top")], vec![]);
    top.aggregation = Some(vec![select(&[("aggregate-to-monitoring", "true")])]);
    let p = Policy {
        cluster_roles: vec![
            monitoring,
            labelled(
                "metrics-reader",
                &[("aggregate-to-monitoring", "true")],
                vec![url_rule(&["get"], &["/metrics"])],
            ),
            labelled(
                "pod-reader",
                &[("aggregate-to-monitoring", "true"), ("extra", "x")],
                vec![rule(&["get"], &[""], &["pods"])],
            ),
            labelled(
                "unrelated",
                &[("aggregate-to-monitoring", "false")],
                vec![rule(&["*"], &["*"], &["*"])],
            ),
            // `top` and `all` select each other: the cycle ends, their rules still count once.
            all,
            top,
        ],
        cluster_role_bindings: vec![
            binding(
                "",
                "m",
                "ClusterRole",
                "monitoring",
                vec![subject("User", "alice", "")],
            ),
            binding(
                "",
                "t",
                "ClusterRole",
                "top",
                vec![subject("User", "bob", "")],
            ),
        ],
        ..Policy::default()
    };
    assert!(allowed(&p, "alice", url("get", "/metrics")));
    assert!(allowed(&p, "alice", resource("get", "", "pods")));
    assert!(!allowed(&p, "alice", resource("get", "", "secrets")));
    assert!(
        !allowed(&p, "alice", resource("delete", "", "secrets")),
        "an aggregated role's own rules are replaced by the aggregate"
    );
    assert_eq!(
        ask(&p, "alice", &[], url("get", "/metrics")).reason,
        r#"RBAC: allowed by ClusterRoleBinding "m" of ClusterRole "monitoring" to User "alice""#
    );
    assert!(allowed(&p, "bob", url("get", "/metrics")));
    assert!(allowed(&p, "bob", resource("get", "", "pods")));
    assert!(!allowed(&p, "bob", resource("get", "", "secrets")));
    let monitoring = p.cluster_role("monitoring").unwrap();
    assert_eq!(p.effective_rules(monitoring).len(), 2);
}

#[test]
fn label_selectors_match_labels_and_expressions() {
    let labels: BTreeMap<String, String> = [("a", "1"), ("b", "2")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let selector = |v: Value| -> LabelSelector { serde_json::from_value(v).unwrap() };
    assert!(
        selector(json!({})).matches(&labels),
        "an empty selector selects everything"
    );
    assert!(selector(json!({"matchLabels": {"a": "1"}})).matches(&labels));
    assert!(!selector(json!({"matchLabels": {"a": "1", "c": "3"}})).matches(&labels));
    assert!(
        selector(
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["0", "1"]}]})
        )
        .matches(&labels)
    );
    assert!(
        !selector(
            json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]})
        )
        .matches(&labels)
    );
    assert!(
        selector(json!({"matchExpressions": [{"key": "z", "operator": "NotIn", "values": ["1"]}]}))
            .matches(&labels)
    );
    assert!(
        selector(json!({"matchExpressions": [{"key": "b", "operator": "Exists"}]}))
            .matches(&labels)
    );
    assert!(
        !selector(json!({"matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]}))
            .matches(&labels)
    );
    assert!(
        !selector(json!({"matchExpressions": [{"key": "b", "operator": "Sometimes"}]}))
            .matches(&labels)
    );
}

#[test]
fn stored_objects_read_with_nulls_and_missing_fields() {
    let role = Role::from_object(&json!({
        "metadata": {"name": "r", "namespace": "apps", "labels": null},
        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": null,
                   "nonResourceURLs": null}],
    }))
    .unwrap();
    assert_eq!((role.name.as_str(), role.namespace.as_str()), ("r", "apps"));
    assert_eq!(role.rules, [rule(&["get"], &[""], &["pods"])]);
    assert!(role.aggregation.is_none());
    let aggregated = Role::from_object(&json!({
        "metadata": {"name": "agg"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]},
        "rules": null,
    }))
    .unwrap();
    assert_eq!(aggregated.aggregation.unwrap().len(), 1);
    let binding = Binding::from_object(&json!({
        "metadata": {"name": "b", "namespace": "apps"},
        "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"},
    }))
    .unwrap();
    assert!(binding.subjects.is_empty());
    assert!(Role::from_object(&json!({"metadata": {"name": "bad"}, "rules": "all"})).is_err());
    let p = Policy::from_objects(
        [&json!({"metadata": {"name": "bad"}, "rules": "all"})],
        [],
        [],
        [],
    );
    assert!(p.roles.is_empty(), "unreadable objects are skipped");
}

#[test]
fn roles_are_validated_like_the_apiserver() {
    let fields = |obj: Value, namespaced: bool| -> Vec<String> {
        validate_role(&obj, namespaced)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    };
    assert!(
        fields(
            json!({"rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}),
            true
        )
        .is_empty()
    );
    assert!(
        fields(
            json!({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]}),
            false
        )
        .is_empty()
    );
    assert_eq!(
        fields(
            json!({"rules": [{"apiGroups": [""], "resources": ["pods"]}]}),
            true
        ),
        ["rules[0].verbs: Required value: verbs must contain at least one value"]
    );
    assert_eq!(
        fields(
            json!({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]}),
            true
        ),
        [
            r#"rules[0].nonResourceURLs: Invalid value: ["/x"]: namespaced rules cannot apply to non-resource URLs"#
        ]
    );
    assert_eq!(
        fields(
            json!({"rules": [{"verbs": ["get"], "resources": ["pods"], "nonResourceURLs": ["/x"]}]}),
            false
        ),
        [
            r#"rules[0].nonResourceURLs: Invalid value: ["/x"]: rules cannot apply to both regular resources and non-resource URLs"#
        ]
    );
    assert_eq!(
        fields(json!({"rules": [{"verbs": ["get"]}]}), false),
        [
            "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
            "rules[0].resources: Required value: resource rules must supply at least one resource",
        ]
    );
    assert_eq!(fields(json!({"rules": {"verbs": []}}), false).len(), 1);
}

#[test]
fn bindings_are_defaulted_and_validated_like_the_apiserver() {
    let mut obj = json!({
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                     {"kind": "ServiceAccount", "name": "web"}],
    });
    default_binding(&mut obj);
    assert_eq!(obj["roleRef"]["apiGroup"], GROUP);
    assert_eq!(obj["subjects"][0]["apiGroup"], GROUP);
    assert_eq!(obj["subjects"][1]["apiGroup"], GROUP);
    assert!(obj["subjects"][2].get("apiGroup").is_none());
    assert!(validate_binding(&obj, true).is_empty());
    let cluster: Vec<String> = validate_binding(&obj, false)
        .into_iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    assert_eq!(cluster, ["subjects[2].namespace: Required value"]);

    let bad = json!({
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ""},
        "subjects": [{"kind": "Robot", "name": "r2"}, {"kind": "User", "name": "", "apiGroup": "x"}],
    });
    let causes: Vec<(String, &str)> = validate_binding(&bad, false)
        .into_iter()
        .map(|c| (c.field, c.reason))
        .collect();
    assert_eq!(
        causes,
        [
            ("roleRef.kind".to_string(), "FieldValueNotSupported"),
            ("roleRef.name".to_string(), "FieldValueRequired"),
            ("subjects[0].kind".to_string(), "FieldValueNotSupported"),
            ("subjects[1].name".to_string(), "FieldValueRequired"),
            ("subjects[1].apiGroup".to_string(), "FieldValueNotSupported"),
        ]
    );
    assert!(
        validate_binding(&bad, true)
            .iter()
            .all(|c| c.field != "roleRef.kind")
    );

    let mut changed = obj.clone();
    changed["roleRef"]["name"] = json!("edit");
    assert!(validate_binding_update(&obj, &obj).is_empty());
    assert_eq!(validate_binding_update(&obj, &changed)[0].field, "roleRef");
}

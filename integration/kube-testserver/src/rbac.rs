//! RBAC as kube-apiserver decides it, over plain data: no store, no locks, no I/O.
//!
//! * [`Policy::from_objects`] reads stored Role, ClusterRole, RoleBinding and ClusterRoleBinding
//!   objects into plain values.
//! * [`authorize`] answers one SubjectAccessReview-style [`Request`]: `system:masters` may do
//!   anything; otherwise ClusterRoleBindings apply everywhere and RoleBindings only in their
//!   namespace, and the first rule that allows the request names the binding in the reason,
//!   worded as the RBAC authorizer words it.
//! * ClusterRole `aggregationRule`s are resolved when a request is evaluated, to what the
//!   apiserver's aggregation controller would have written into the role by then.
//! * [`validate_role`], [`validate_binding`] and [`default_binding`] are the apiserver's
//!   defaulting and validation of the four kinds, before they are stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::status::Cause;

/// The RBAC API group, also the `apiGroup` of User and Group subjects and of role references.
pub const GROUP: &str = "rbac.authorization.k8s.io";
/// Members of this group are allowed everything, bindings or not.
pub const SYSTEM_MASTERS: &str = "system:masters";
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// A missing field and an explicit `null` both read as the default, as Go's decoding does.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One rule of a Role or ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyRule {
    #[serde(deserialize_with = "nullable")]
    pub verbs: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub api_groups: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub resources: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub resource_names: Vec<String>,
    #[serde(rename = "nonResourceURLs", deserialize_with = "nullable")]
    pub non_resource_urls: Vec<String>,
}

/// A `metav1.LabelSelector`: every `matchLabels` pair and every `matchExpressions` requirement
/// must hold; an empty selector selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LabelSelector {
    #[serde(deserialize_with = "nullable")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    pub match_expressions: Vec<LabelRequirement>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LabelRequirement {
    #[serde(deserialize_with = "nullable")]
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`; anything else matches nothing.
    #[serde(deserialize_with = "nullable")]
    pub operator: String,
    #[serde(deserialize_with = "nullable")]
    pub values: Vec<String>,
}

impl LabelSelector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator.as_str() {
                    "In" => value.is_some_and(|v| r.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

/// A Role (with its namespace) or a ClusterRole (namespace empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<PolicyRule>,
    /// `aggregationRule.clusterRoleSelectors` of an aggregated ClusterRole; its own `rules` are
    /// then ignored, as the aggregation controller overwrites them.
    pub aggregation: Option<Vec<LabelSelector>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoleRef {
    #[serde(deserialize_with = "nullable")]
    pub api_group: String,
    #[serde(deserialize_with = "nullable")]
    pub kind: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    #[serde(deserialize_with = "nullable")]
    pub kind: String,
    #[serde(deserialize_with = "nullable")]
    pub api_group: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
}

/// A RoleBinding (with its namespace) or a ClusterRoleBinding (namespace empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    pub name: String,
    pub namespace: String,
    pub role_ref: RoleRef,
    pub subjects: Vec<Subject>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Meta {
    #[serde(deserialize_with = "nullable")]
    name: String,
    #[serde(deserialize_with = "nullable")]
    namespace: String,
    #[serde(deserialize_with = "nullable")]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AggregationRule {
    #[serde(deserialize_with = "nullable")]
    cluster_role_selectors: Vec<LabelSelector>,
}

/// Deserializes `obj[field]`, absent or null reading as the default.
fn field<T: Default + for<'de> Deserialize<'de>>(
    obj: &Value,
    field: &str,
) -> Result<T, serde_json::Error> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => T::deserialize(v),
    }
}

impl Role {
    /// Reads a stored Role or ClusterRole.
    pub fn from_object(obj: &Value) -> Result<Self, serde_json::Error> {
        let meta: Meta = field(obj, "metadata")?;
        let aggregation = match obj.get("aggregationRule") {
            None | Some(Value::Null) => None,
            Some(rule) => Some(AggregationRule::deserialize(rule)?.cluster_role_selectors),
        };
        Ok(Self {
            name: meta.name,
            namespace: meta.namespace,
            labels: meta.labels,
            rules: field(obj, "rules")?,
            aggregation,
        })
    }
}

impl Binding {
    /// Reads a stored RoleBinding or ClusterRoleBinding.
    pub fn from_object(obj: &Value) -> Result<Self, serde_json::Error> {
        let meta: Meta = field(obj, "metadata")?;
        Ok(Self {
            name: meta.name,
            namespace: meta.namespace,
            role_ref: field(obj, "roleRef")?,
            subjects: field(obj, "subjects")?,
        })
    }
}

/// Everything RBAC decides from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub roles: Vec<Role>,
    pub cluster_roles: Vec<Role>,
    pub role_bindings: Vec<Binding>,
    pub cluster_role_bindings: Vec<Binding>,
}

impl Policy {
    /// Reads stored objects; ones that do not parse (validation keeps them out) are skipped.
    pub fn from_objects<'a>(
        roles: impl IntoIterator<Item = &'a Value>,
        cluster_roles: impl IntoIterator<Item = &'a Value>,
        role_bindings: impl IntoIterator<Item = &'a Value>,
        cluster_role_bindings: impl IntoIterator<Item = &'a Value>,
    ) -> Self {
        let roles_of = |objs: &mut dyn Iterator<Item = &'a Value>| {
            objs.filter_map(|o| Role::from_object(o).ok()).collect()
        };
        let bindings_of = |objs: &mut dyn Iterator<Item = &'a Value>| {
            objs.filter_map(|o| Binding::from_object(o).ok()).collect()
        };
        Self {
            roles: roles_of(&mut roles.into_iter()),
            cluster_roles: roles_of(&mut cluster_roles.into_iter()),
            role_bindings: bindings_of(&mut role_bindings.into_iter()),
            cluster_role_bindings: bindings_of(&mut cluster_role_bindings.into_iter()),
        }
    }

    pub fn cluster_role(&self, name: &str) -> Option<&Role> {
        self.cluster_roles.iter().find(|r| r.name == name)
    }

    pub fn role(&self, namespace: &str, name: &str) -> Option<&Role> {
        self.roles
            .iter()
            .find(|r| r.namespace == namespace && r.name == name)
    }

    /// The rules `role` grants: its own, or for an aggregated ClusterRole the rules of every
    /// other ClusterRole one of its selectors matches (aggregated ones resolved in turn; a
    /// cycle contributes nothing more).
    pub fn effective_rules<'a>(&'a self, role: &'a Role) -> Vec<&'a PolicyRule> {
        self.rules_of(role, &mut Vec::new())
    }

    fn rules_of<'a>(&'a self, role: &'a Role, visiting: &mut Vec<&'a str>) -> Vec<&'a PolicyRule> {
        let Some(selectors) = &role.aggregation else {
            return role.rules.iter().collect();
        };
        visiting.push(&role.name);
        let mut rules: Vec<&PolicyRule> = Vec::new();
        for other in &self.cluster_roles {
            if visiting.contains(&other.name.as_str())
                || !selectors.iter().any(|s| s.matches(&other.labels))
            {
                continue;
            }
            for rule in self.rules_of(other, visiting) {
                if !rules.contains(&rule) {
                    rules.push(rule);
                }
            }
        }
        visiting.pop();
        rules
    }
}

/// `resourceAttributes` of a SubjectAccessReview.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceAttributes {
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    #[serde(deserialize_with = "nullable")]
    pub verb: String,
    #[serde(deserialize_with = "nullable")]
    pub group: String,
    #[serde(deserialize_with = "nullable")]
    pub version: String,
    #[serde(deserialize_with = "nullable")]
    pub resource: String,
    #[serde(deserialize_with = "nullable")]
    pub subresource: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
}

/// `nonResourceAttributes` of a SubjectAccessReview.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NonResourceAttributes {
    #[serde(deserialize_with = "nullable")]
    pub path: String,
    #[serde(deserialize_with = "nullable")]
    pub verb: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attributes {
    Resource(ResourceAttributes),
    NonResource(NonResourceAttributes),
}

/// Who asks to do what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub user: String,
    pub groups: Vec<String>,
    pub attributes: Attributes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Why it was allowed; empty for a denial and for `system:masters`.
    pub reason: String,
}

impl Decision {
    fn allow(reason: String) -> Self {
        Self {
            allowed: true,
            reason,
        }
    }
}

/// Decides `request` against `policy`.
pub fn authorize(policy: &Policy, request: &Request) -> Decision {
    // The apiserver's privileged-group authorizer runs before RBAC and gives no reason.
    if request.groups.iter().any(|g| g == SYSTEM_MASTERS) {
        return Decision::allow(String::new());
    }
    fn applies<'a>(
        request: &Request,
        binding: &'a Binding,
        namespace: &str,
    ) -> Option<&'a Subject> {
        binding
            .subjects
            .iter()
            .find(|s| applies_to(s, &request.user, &request.groups, namespace))
    }
    let allows = |role: &Role| {
        policy
            .effective_rules(role)
            .into_iter()
            .any(|rule| rule_allows(rule, &request.attributes))
    };

    let mut cluster_bindings: Vec<&Binding> = policy.cluster_role_bindings.iter().collect();
    cluster_bindings.sort_by(|a, b| a.name.cmp(&b.name));
    for binding in cluster_bindings {
        if binding.role_ref.kind != "ClusterRole" {
            continue;
        }
        let (Some(subject), Some(role)) = (
            applies(request, binding, ""),
            policy.cluster_role(&binding.role_ref.name),
        ) else {
            continue;
        };
        if allows(role) {
            return Decision::allow(format!(
                "RBAC: allowed by ClusterRoleBinding {:?} of ClusterRole {:?} to {}",
                binding.name,
                role.name,
                describe_subject(subject, "")
            ));
        }
    }

    let namespace = match &request.attributes {
        Attributes::Resource(r) => r.namespace.as_str(),
        // Non-resource URLs have no namespace: only ClusterRoleBindings grant them.
        Attributes::NonResource(_) => "",
    };
    if namespace.is_empty() {
        return Decision {
            allowed: false,
            reason: String::new(),
        };
    }
    let mut bindings: Vec<&Binding> = policy
        .role_bindings
        .iter()
        .filter(|b| b.namespace == namespace)
        .collect();
    bindings.sort_by(|a, b| a.name.cmp(&b.name));
    for binding in bindings {
        let role = match binding.role_ref.kind.as_str() {
            "Role" => policy.role(namespace, &binding.role_ref.name),
            "ClusterRole" => policy.cluster_role(&binding.role_ref.name),
            _ => None,
        };
        let (Some(subject), Some(role)) = (applies(request, binding, namespace), role) else {
            continue;
        };
        if allows(role) {
            return Decision::allow(format!(
                "RBAC: allowed by RoleBinding {:?} of {} {:?} to {}",
                format!("{}/{}", binding.name, binding.namespace),
                binding.role_ref.kind,
                role.name,
                describe_subject(subject, namespace)
            ));
        }
    }
    Decision {
        allowed: false,
        reason: String::new(),
    }
}

/// The username of a ServiceAccount's tokens: `system:serviceaccount:<namespace>:<name>`.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}")
}

/// `(namespace, name)` of a ServiceAccount username.
pub fn split_service_account_user(user: &str) -> Option<(&str, &str)> {
    let (namespace, name) = user.strip_prefix(SERVICE_ACCOUNT_PREFIX)?.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

/// Whether `subject` of a binding in `namespace` ("" for a ClusterRoleBinding) is this user.
pub fn applies_to(subject: &Subject, user: &str, groups: &[String], namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => subject.name == user,
        "Group" => groups.contains(&subject.name),
        "ServiceAccount" => {
            // A RoleBinding may leave its own namespace implied.
            let sa_namespace = if subject.namespace.is_empty() {
                namespace
            } else {
                &subject.namespace
            };
            !sa_namespace.is_empty()
                && split_service_account_user(user) == Some((sa_namespace, subject.name.as_str()))
        }
        _ => false,
    }
}

fn describe_subject(subject: &Subject, namespace: &str) -> String {
    if subject.kind == "ServiceAccount" {
        let ns = if subject.namespace.is_empty() {
            namespace
        } else {
            &subject.namespace
        };
        format!("ServiceAccount {:?}", format!("{}/{ns}", subject.name))
    } else {
        format!("{} {:?}", subject.kind, subject.name)
    }
}

/// Whether one rule allows the request, as `rbac.RuleAllows` decides.
pub fn rule_allows(rule: &PolicyRule, attributes: &Attributes) -> bool {
    let verb_matches = |verb: &str| rule.verbs.iter().any(|v| v == "*" || v == verb);
    match attributes {
        Attributes::Resource(r) => {
            let combined = if r.subresource.is_empty() {
                r.resource.clone()
            } else {
                format!("{}/{}", r.resource, r.subresource)
            };
            verb_matches(&r.verb)
                && rule.api_groups.iter().any(|g| g == "*" || *g == r.group)
                && resource_matches(rule, &combined, &r.subresource)
                && (rule.resource_names.is_empty() || rule.resource_names.contains(&r.name))
        }
        Attributes::NonResource(n) => {
            verb_matches(&n.verb)
                && rule.non_resource_urls.iter().any(|url| {
                    url == "*"
                        || *url == n.path
                        || url
                            .strip_suffix('*')
                            .is_some_and(|prefix| n.path.starts_with(prefix))
                })
        }
    }
}

/// `resources` entries: `*`, `resource`, `resource/subresource`, `*/subresource`.
fn resource_matches(rule: &PolicyRule, combined: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        r == "*"
            || r == combined
            || (!subresource.is_empty()
                && r.strip_prefix("*/").is_some_and(|sub| sub == subresource))
    })
}

fn cause(reason: &'static str, field: String, message: String) -> Cause {
    Cause {
        reason,
        field,
        message,
    }
}

fn required(field: String, detail: &str) -> Cause {
    let message = if detail.is_empty() {
        "Required value".to_string()
    } else {
        format!("Required value: {detail}")
    };
    cause("FieldValueRequired", field, message)
}

fn unsupported(field: String, value: &str, supported: &[&str]) -> Cause {
    let supported: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    cause(
        "FieldValueNotSupported",
        field,
        format!(
            "Unsupported value: {value:?}: supported values: {}",
            supported.join(", ")
        ),
    )
}

fn invalid(field: String, value: &impl serde::Serialize, detail: &str) -> Cause {
    let value = serde_json::to_string(value).unwrap_or_default();
    cause(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {value}: {detail}"),
    )
}

fn type_error(field: &str, err: &serde_json::Error) -> Cause {
    cause(
        "FieldValueTypeInvalid",
        field.to_string(),
        format!("Invalid value: {err}"),
    )
}

/// What the apiserver refuses in a Role (`namespaced`) or ClusterRole.
pub fn validate_role(obj: &Value, namespaced: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Some(rule) = obj.get("aggregationRule").filter(|r| !r.is_null())
        && let Err(e) = AggregationRule::deserialize(rule)
    {
        causes.push(type_error("aggregationRule", &e));
    }
    let rules: Vec<PolicyRule> = match field(obj, "rules") {
        Ok(rules) => rules,
        Err(e) => {
            causes.push(type_error("rules", &e));
            return causes;
        }
    };
    for (i, rule) in rules.iter().enumerate() {
        let at = |f: &str| format!("rules[{i}].{f}");
        if rule.verbs.is_empty() {
            causes.push(required(
                at("verbs"),
                "verbs must contain at least one value",
            ));
        }
        if !rule.non_resource_urls.is_empty() {
            if namespaced {
                causes.push(invalid(
                    at("nonResourceURLs"),
                    &rule.non_resource_urls,
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !rule.api_groups.is_empty()
                || !rule.resources.is_empty()
                || !rule.resource_names.is_empty()
            {
                causes.push(invalid(
                    at("nonResourceURLs"),
                    &rule.non_resource_urls,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if rule.api_groups.is_empty() {
            causes.push(required(
                at("apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if rule.resources.is_empty() {
            causes.push(required(
                at("resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    causes
}

/// The apiserver's defaults for a binding: `apiGroup` of the role reference and of User and
/// Group subjects.
pub fn default_binding(obj: &mut Value) {
    if let Some(role_ref) = obj.get_mut("roleRef").and_then(Value::as_object_mut)
        && role_ref
            .get("apiGroup")
            .is_none_or(|g| g.is_null() || g == "")
    {
        role_ref.insert("apiGroup".into(), json!(GROUP));
    }
    if let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut) {
        for subject in subjects.iter_mut().filter_map(Value::as_object_mut) {
            let user_or_group = matches!(
                subject.get("kind").and_then(Value::as_str),
                Some("User" | "Group")
            );
            if user_or_group
                && subject
                    .get("apiGroup")
                    .is_none_or(|g| g.is_null() || g == "")
            {
                subject.insert("apiGroup".into(), json!(GROUP));
            }
        }
    }
}

/// What the apiserver refuses in a (defaulted) RoleBinding (`namespaced`) or ClusterRoleBinding.
pub fn validate_binding(obj: &Value, namespaced: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    match field::<RoleRef>(obj, "roleRef") {
        Err(e) => causes.push(type_error("roleRef", &e)),
        Ok(role_ref) => {
            if role_ref.api_group != GROUP {
                causes.push(unsupported(
                    "roleRef.apiGroup".into(),
                    &role_ref.api_group,
                    &[GROUP],
                ));
            }
            let kinds: &[&str] = if namespaced {
                &["Role", "ClusterRole"]
            } else {
                &["ClusterRole"]
            };
            if !kinds.contains(&role_ref.kind.as_str()) {
                causes.push(unsupported("roleRef.kind".into(), &role_ref.kind, kinds));
            }
            if role_ref.name.is_empty() {
                causes.push(required("roleRef.name".into(), ""));
            }
        }
    }
    let subjects: Vec<Subject> = match field(obj, "subjects") {
        Ok(subjects) => subjects,
        Err(e) => {
            causes.push(type_error("subjects", &e));
            return causes;
        }
    };
    for (i, subject) in subjects.iter().enumerate() {
        let at = |f: &str| format!("subjects[{i}].{f}");
        if subject.name.is_empty() {
            causes.push(required(at("name"), ""));
        }
        match subject.kind.as_str() {
            "ServiceAccount" => {
                if !subject.api_group.is_empty() {
                    causes.push(unsupported(at("apiGroup"), &subject.api_group, &[""]));
                }
                if !namespaced && subject.namespace.is_empty() {
                    causes.push(required(at("namespace"), ""));
                }
            }
            "User" | "Group" => {
                if subject.api_group != GROUP {
                    causes.push(unsupported(at("apiGroup"), &subject.api_group, &[GROUP]));
                }
            }
            other => causes.push(unsupported(
                at("kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
    causes
}

/// A binding's `roleRef` cannot change once created.
pub fn validate_binding_update(old: &Value, new: &Value) -> Vec<Cause> {
    if old.get("roleRef") == new.get("roleRef") {
        return Vec::new();
    }
    vec![invalid(
        "roleRef".into(),
        &new.get("roleRef"),
        "cannot change roleRef",
    )]
}

/// The RBAC objects kube-apiserver creates at start that the review APIs depend on.
pub fn bootstrap_cluster_roles() -> Vec<Value> {
    let meta = |name: &str| {
        json!({
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        })
    };
    vec![
        json!({
            "metadata": meta("cluster-admin"),
            "rules": [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ],
        }),
        json!({
            "metadata": meta("system:auth-delegator"),
            "rules": [
                {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
                {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
            ],
        }),
    ]
}

/// See [`bootstrap_cluster_roles`].
pub fn bootstrap_cluster_role_bindings() -> Vec<Value> {
    vec![json!({
        "metadata": {
            "name": "cluster-admin",
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": SYSTEM_MASTERS}],
    })]
}

#[cfg(test)]
mod tests;

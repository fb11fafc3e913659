//! The object store and the write semantics of the apiserver: resourceVersions from one global
//! counter, optimistic concurrency, generation, finalizers and deletionTimestamp, the status
//! subresource, owner-reference garbage collection, and a bounded history of changes that
//! watches replay from.
//!
//! Everything here is synchronous and HTTP-free; the server holds the store under one mutex.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::kinds::{
    CRD_GROUP, Kind, Kinds, RBAC_GROUP, established_status, kinds_of_crd, strings_at,
};
use crate::rbac::{self, Policy};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};

/// The current time as the apiserver writes timestamps.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One committed change, as watches see it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub storage_key: String,
    pub type_: EventType,
    pub object: Value,
    /// The object before a modification, so a watch can turn "stopped matching the selector"
    /// into DELETED as the apiserver's watch cache does.
    pub old: Option<Value>,
}

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Main,
    Status,
}

/// A PATCH body by content type.
#[derive(Debug, Clone)]
pub enum Patch {
    Merge(Value),
    /// Built-in kinds only, as on the apiserver (see [`crate::smp`]).
    Strategic(Value),
    Json(json_patch::Patch),
    /// Server-side apply, treated as a merge patch that creates a missing object.
    Apply(Value),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: every check runs, nothing is stored.
    pub dry_run: bool,
    /// `fieldValidation=Strict`: unknown fields are an error instead of being pruned.
    pub strict: bool,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub resource_version: Option<String>,
    pub uid: Option<String>,
    pub dry_run: bool,
}

/// A list request.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_: Option<String>,
}

type Objects = BTreeMap<(String, String), Value>;

/// Changes to replay, then the live feed.
pub type Subscription = (Vec<Arc<Change>>, broadcast::Receiver<Arc<Change>>);

pub struct Store {
    kinds: Kinds,
    /// Objects by storage key, then (namespace, name); cluster-scoped objects have namespace "".
    objects: HashMap<String, Objects>,
    rv: u64,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    /// Changes up to and including this resourceVersion are no longer in `history`.
    compacted: u64,
    tx: broadcast::Sender<Arc<Change>>,
    next_cluster_ip: u32,
}

impl Store {
    pub fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(4096);
        let mut store = Self {
            kinds: Kinds::builtin(),
            objects: HashMap::new(),
            rv: 0,
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 0,
            tx,
            next_cluster_ip: 10,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            store
                .ensure_namespace(ns)
                .expect("fresh store accepts the initial namespaces");
        }
        // The RBAC defaults kube-apiserver bootstraps and the review APIs rely on.
        let bootstrap = [
            ("clusterroles", rbac::bootstrap_cluster_roles()),
            (
                "clusterrolebindings",
                rbac::bootstrap_cluster_role_bindings(),
            ),
        ];
        for (plural, objects) in bootstrap {
            let kind = store
                .kinds
                .find(RBAC_GROUP, "v1", plural)
                .cloned()
                .expect("built-in");
            for obj in objects {
                store
                    .create(&kind, "", obj, WriteOptions::default())
                    .expect("fresh store accepts the bootstrap RBAC objects");
            }
        }
        store
    }

    /// The stored Roles, ClusterRoles, RoleBindings and ClusterRoleBindings, for [`rbac`].
    pub fn rbac_policy(&self) -> Policy {
        let objects = |plural: &str| {
            self.objects
                .get(&format!("{RBAC_GROUP}/{plural}"))
                .into_iter()
                .flat_map(|objs| objs.values())
        };
        Policy::from_objects(
            objects("roles"),
            objects("clusterroles"),
            objects("rolebindings"),
            objects("clusterrolebindings"),
        )
    }

    pub fn kinds(&self) -> &Kinds {
        &self.kinds
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Registers a CRD given as a parsed YAML document, as `--crd` does at start.
    pub fn install_crd(&mut self, crd: Value) -> ApiResult<Value> {
        let kind = self
            .kinds
            .find(CRD_GROUP, "v1", "customresourcedefinitions")
            .cloned()
            .expect("built-in");
        self.create(&kind, "", crd, WriteOptions::default())
    }

    pub fn get(&self, kind: &Kind, ns: &str, name: &str) -> ApiResult<Value> {
        self.objects
            .get(&kind.storage_key())
            .and_then(|objs| objs.get(&(ns.to_string(), name.to_string())))
            .map(|o| present(kind, o))
            .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))
    }

    /// A `<Kind>List`; `ns` of `None` lists across namespaces.
    pub fn list(&self, kind: &Kind, ns: Option<&str>, opts: &ListOptions) -> ApiResult<Value> {
        let start = match &opts.continue_ {
            Some(token) => Some(parse_continue(token)?),
            None => None,
        };
        let mut items = Vec::new();
        let mut more = 0usize;
        let mut last = None;
        if let Some(objs) = self.objects.get(&kind.storage_key()) {
            for ((obj_ns, name), obj) in objs {
                if ns.is_some_and(|ns| ns != obj_ns)
                    || start
                        .as_ref()
                        .is_some_and(|(sns, sname)| (obj_ns, name) <= (sns, sname))
                    || !opts.labels.matches(obj)
                    || !opts.fields.matches(obj)
                {
                    continue;
                }
                if opts.limit.is_some_and(|l| l > 0 && items.len() >= l) {
                    more += 1;
                    continue;
                }
                last = Some(format!("{obj_ns}/{name}"));
                items.push(present(kind, obj));
            }
        }
        let mut metadata = json!({ "resourceVersion": self.rv.to_string() });
        if more > 0 {
            metadata["continue"] = json!(last.unwrap_or_default());
            metadata["remainingItemCount"] = json!(more);
        }
        Ok(json!({
            "apiVersion": kind.api_version(),
            "kind": format!("{}List", kind.kind),
            "metadata": metadata,
            "items": items,
        }))
    }

    /// Creates namespace `name` unless it exists (its name validated as any create's).
    pub fn ensure_namespace(&mut self, name: &str) -> ApiResult<()> {
        let namespace = self
            .kinds
            .find("", "v1", "namespaces")
            .cloned()
            .expect("built-in");
        match self.create(
            &namespace,
            "",
            json!({"metadata": {"name": name}}),
            WriteOptions::default(),
        ) {
            Err(e) if e.reason == "AlreadyExists" => Ok(()),
            other => other.map(|_| ()),
        }
    }

    pub fn create(
        &mut self,
        kind: &Kind,
        ns: &str,
        body: Value,
        opts: WriteOptions,
    ) -> ApiResult<Value> {
        let Value::Object(mut obj) = body else {
            return Err(ApiError::bad_request(
                "the body of a create must be a JSON object",
            ));
        };
        check_type(kind, &obj)?;
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
        if kind.namespaced {
            match meta.get("namespace").and_then(Value::as_str) {
                Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {}
            }
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        let name = match meta.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => match meta.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => format!("{prefix}{}", random_suffix()),
                _ => {
                    return Err(ApiError::invalid_field(
                        &kind.group,
                        &kind.kind,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    ));
                }
            },
        };
        meta.insert("name".into(), json!(name));
        for server_field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            meta.remove(server_field);
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.insert("generation".into(), json!(1));
        if kind.status {
            obj.remove("status");
        }
        let mut obj = Value::Object(obj);
        validate_meta(kind, &obj)?;
        if kind.namespaced && !self.exists("/namespaces", "", ns) {
            return Err(ApiError::not_found("", "namespaces", ns));
        }
        if self.exists(&kind.storage_key(), ns, &name) {
            return Err(ApiError::already_exists(&kind.group, &kind.plural, &name));
        }
        self.on_create(kind, &mut obj, opts)?;
        if opts.dry_run {
            return Ok(present(kind, &obj));
        }
        if kind.plural == "customresourcedefinitions" && kind.group == CRD_GROUP {
            self.kinds.register_crd(&obj)?;
        }
        Ok(self.commit(kind, ns, &name, obj, None))
    }

    /// PUT of the object or of its status.
    pub fn update(
        &mut self,
        kind: &Kind,
        ns: &str,
        name: &str,
        body: Value,
        sub: Subresource,
        opts: WriteOptions,
    ) -> ApiResult<Value> {
        let current = self.stored(kind, ns, name)?.clone();
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of an update must be a JSON object",
            ));
        }
        check_type(kind, body.as_object().expect("checked"))?;
        let body_name = body.pointer("/metadata/name").and_then(Value::as_str);
        if body_name.is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the request ({name})",
                body_name.unwrap_or_default()
            )));
        }
        let body_ns = body.pointer("/metadata/namespace").and_then(Value::as_str);
        if kind.namespaced && body_ns.is_some_and(|n| !n.is_empty() && n != ns) {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        self.write(kind, ns, name, current, body, sub, opts)
    }

    pub fn patch(
        &mut self,
        kind: &Kind,
        ns: &str,
        name: &str,
        patch: Patch,
        sub: Subresource,
        opts: WriteOptions,
    ) -> ApiResult<Value> {
        let current = match self.stored(kind, ns, name) {
            Ok(current) => current.clone(),
            Err(not_found) => {
                let Patch::Apply(mut applied) = patch else {
                    return Err(not_found);
                };
                if sub == Subresource::Status {
                    return Err(not_found);
                }
                // Apply creates what does not exist yet.
                if let Some(meta) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("name".into(), json!(name));
                }
                return self.create(kind, ns, applied, opts);
            }
        };
        let mut patched = current.clone();
        match &patch {
            Patch::Strategic(_) if kind.crd.is_some() => {
                return Err(ApiError::unsupported_media_type(
                    "application/strategic-merge-patch+json (not supported for custom resources)",
                ));
            }
            Patch::Strategic(p) => {
                if !p.is_object() {
                    return Err(ApiError::bad_request(
                        "a strategic merge patch must be a JSON object",
                    ));
                }
                crate::smp::apply(&mut patched, p);
            }
            Patch::Merge(p) | Patch::Apply(p) => {
                if !p.is_object() {
                    return Err(ApiError::bad_request("a merge patch must be a JSON object"));
                }
                json_patch::merge(&mut patched, p);
            }
            Patch::Json(p) => apply_json_patch(&mut patched, p)?,
        }
        if patched.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
            return Err(ApiError::bad_request("a patch cannot change metadata.name"));
        }
        self.write(kind, ns, name, current, patched, sub, opts)
    }

    pub fn delete(
        &mut self,
        kind: &Kind,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Value> {
        let current = self.stored(kind, ns, name)?.clone();
        let meta = |field: &str| {
            current["metadata"][field]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let preconditions = [
            ("UID", &opts.uid, "uid"),
            ("ResourceVersion", &opts.resource_version, "resourceVersion"),
        ];
        for (label, wanted, field) in preconditions {
            if let Some(wanted) = wanted
                && *wanted != meta(field)
            {
                return Err(ApiError::conflict(
                    &kind.group,
                    &kind.plural,
                    name,
                    &format!(
                        "Precondition failed: {label} in precondition: {wanted}, {label} in object meta: {}",
                        meta(field)
                    ),
                ));
            }
        }
        let has_finalizers = current
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if opts.dry_run {
            return Ok(present(kind, &current));
        }
        if has_finalizers {
            if current.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(present(kind, &current));
            }
            let mut marked = current.clone();
            marked["metadata"]["deletionTimestamp"] = json!(now());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            bump_generation(&mut marked);
            return Ok(self.commit(kind, ns, name, marked, Some(current)));
        }
        Ok(self.remove(kind, ns, name))
    }

    /// Replays changes after `since` for one storage key and subscribes to what follows, under
    /// the same lock so nothing falls between. 410 when `since` is older than the history.
    pub fn watch_since(&self, storage_key: &str, since: u64) -> ApiResult<Subscription> {
        if since < self.compacted {
            return Err(ApiError::expired(format!(
                "too old resource version: {since} ({})",
                self.compacted + 1
            )));
        }
        let replay = self
            .history
            .iter()
            .filter(|c| c.rv > since && c.storage_key == storage_key)
            .cloned()
            .collect();
        Ok((replay, self.tx.subscribe()))
    }

    /// The current objects as ADDED changes plus a subscription, for a watch without a
    /// resourceVersion (or with "0").
    pub fn watch_current(&self, storage_key: &str) -> Subscription {
        let current = self
            .objects
            .get(storage_key)
            .into_iter()
            .flat_map(|objs| objs.values())
            .map(|obj| {
                Arc::new(Change {
                    rv: resource_version_of(obj),
                    storage_key: storage_key.to_string(),
                    type_: EventType::Added,
                    object: obj.clone(),
                    old: None,
                })
            })
            .collect();
        (current, self.tx.subscribe())
    }

    /// Forgets all history, so any watch resumed from an older resourceVersion gets 410 Gone.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    fn exists(&self, storage_key: &str, ns: &str, name: &str) -> bool {
        self.objects
            .get(storage_key)
            .is_some_and(|objs| objs.contains_key(&(ns.to_string(), name.to_string())))
    }

    fn stored(&self, kind: &Kind, ns: &str, name: &str) -> ApiResult<&Value> {
        self.objects
            .get(&kind.storage_key())
            .and_then(|objs| objs.get(&(ns.to_string(), name.to_string())))
            .ok_or_else(|| ApiError::not_found(&kind.group, &kind.plural, name))
    }

    /// The shared tail of update and patch: keeps what clients cannot change, checks
    /// preconditions, and stores the result unless nothing changed.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        kind: &Kind,
        ns: &str,
        name: &str,
        current: Value,
        mut new: Value,
        sub: Subresource,
        opts: WriteOptions,
    ) -> ApiResult<Value> {
        let current_rv = current["metadata"]["resourceVersion"].clone();
        match new
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
        {
            Some(rv) if !rv.is_empty() && Some(rv) != current_rv.as_str() => {
                return Err(ApiError::stale(&kind.group, &kind.plural, name));
            }
            _ => {}
        }
        if sub == Subresource::Status {
            // Only the status stanza of a status write counts.
            let status = new.get("status").cloned();
            new = current.clone();
            set_or_remove(&mut new, "status", status);
        } else if kind.status {
            set_or_remove(&mut new, "status", current.get("status").cloned());
        }
        if !new.get("metadata").is_some_and(Value::is_object) {
            new["metadata"] = json!({});
        }
        for kept in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            set_or_remove(
                &mut new["metadata"],
                kept,
                current["metadata"].get(kept).cloned(),
            );
        }
        if current.pointer("/metadata/deletionTimestamp").is_some() {
            let old = finalizers(&current);
            let added: Vec<String> = finalizers(&new)
                .into_iter()
                .filter(|f| !old.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(ApiError::invalid_field(
                    &kind.group,
                    &kind.kind,
                    name,
                    "metadata.finalizers",
                    &format!(
                        "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                    ),
                ));
            }
        }
        validate_meta(kind, &new)?;
        if sub == Subresource::Main {
            self.on_update(kind, &current, &mut new, opts)?;
            if spec_changed(kind, &current, &new) {
                bump_generation(&mut new);
            }
        }
        if new == current {
            return Ok(present(kind, &current));
        }
        if opts.dry_run {
            return Ok(present(kind, &new));
        }
        if kind.plural == "customresourcedefinitions" && kind.group == CRD_GROUP {
            self.kinds.register_crd(&new)?;
        }
        if new.pointer("/metadata/deletionTimestamp").is_some() && finalizers(&new).is_empty() {
            // The last finalizer is gone: the deletion completes.
            self.commit(kind, ns, name, new, Some(current));
            return Ok(self.remove(kind, ns, name));
        }
        Ok(self.commit(kind, ns, name, new, Some(current)))
    }

    /// Defaults and validation of a new object, per kind.
    fn on_create(&mut self, kind: &Kind, obj: &mut Value, opts: WriteOptions) -> ApiResult<()> {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(schema) = &kind.schema {
            schema.admit(obj, opts.strict, (&kind.group, &kind.kind, &name))?;
        }
        match (kind.group.as_str(), kind.plural.as_str()) {
            ("", "namespaces") => obj["status"] = json!({"phase": "Active"}),
            ("", "services") => {
                let spec = obj
                    .as_object_mut()
                    .expect("object")
                    .entry("spec")
                    .or_insert_with(|| json!({}));
                default_service(spec, &mut self.next_cluster_ip);
                obj["status"] = json!({"loadBalancer": {}});
            }
            (CRD_GROUP, "customresourcedefinitions") => {
                kinds_of_crd(obj)?;
                obj["status"] = established_status(obj);
            }
            (RBAC_GROUP, "roles" | "clusterroles") => {
                refuse(kind, &name, rbac::validate_role(obj, kind.namespaced))?;
            }
            (RBAC_GROUP, "rolebindings" | "clusterrolebindings") => {
                rbac::default_binding(obj);
                refuse(kind, &name, rbac::validate_binding(obj, kind.namespaced))?;
            }
            _ => {}
        }
        Ok(())
    }

    fn on_update(
        &mut self,
        kind: &Kind,
        current: &Value,
        new: &mut Value,
        opts: WriteOptions,
    ) -> ApiResult<()> {
        let name = new["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(schema) = &kind.schema {
            schema.admit(new, opts.strict, (&kind.group, &kind.kind, &name))?;
        }
        match (kind.group.as_str(), kind.plural.as_str()) {
            ("", "services") => {
                let old_ip = current.pointer("/spec/clusterIP").cloned();
                let spec = new
                    .as_object_mut()
                    .expect("object")
                    .entry("spec")
                    .or_insert_with(|| json!({}));
                if spec.get("clusterIP").is_none_or(|ip| ip == "") {
                    set_or_remove(spec, "clusterIP", old_ip);
                }
                if spec.get("clusterIP") != current.pointer("/spec/clusterIP") {
                    return Err(ApiError::invalid_field(
                        "",
                        "Service",
                        &name,
                        "spec.clusterIP",
                        "Invalid value: field is immutable",
                    ));
                }
                default_service(spec, &mut self.next_cluster_ip);
            }
            (CRD_GROUP, "customresourcedefinitions") => {
                kinds_of_crd(new)?;
            }
            (RBAC_GROUP, "roles" | "clusterroles") => {
                refuse(kind, &name, rbac::validate_role(new, kind.namespaced))?;
            }
            (RBAC_GROUP, "rolebindings" | "clusterrolebindings") => {
                rbac::default_binding(new);
                let mut causes = rbac::validate_binding(new, kind.namespaced);
                causes.extend(rbac::validate_binding_update(current, new));
                refuse(kind, &name, causes)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Stores `obj` with the next resourceVersion and records the change.
    fn commit(
        &mut self,
        kind: &Kind,
        ns: &str,
        name: &str,
        mut obj: Value,
        old: Option<Value>,
    ) -> Value {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let type_ = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.objects
            .entry(kind.storage_key())
            .or_default()
            .insert((ns.to_string(), name.to_string()), obj.clone());
        self.record(kind.storage_key(), type_, obj.clone(), old);
        present(kind, &obj)
    }

    /// Removes an object for good, then what depended on it.
    fn remove(&mut self, kind: &Kind, ns: &str, name: &str) -> Value {
        let key = kind.storage_key();
        let Some(mut obj) = self
            .objects
            .get_mut(&key)
            .and_then(|objs| objs.remove(&(ns.to_string(), name.to_string())))
        else {
            return Value::Null;
        };
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.record(key, EventType::Deleted, obj.clone(), None);
        let uid = obj["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match (kind.group.as_str(), kind.plural.as_str()) {
            ("", "namespaces") => self.delete_namespace_contents(name),
            (CRD_GROUP, "customresourcedefinitions") => self.drop_custom_resources(name),
            _ => {}
        }
        self.collect_dependents(&uid);
        present(kind, &obj)
    }

    /// Namespace deletion takes its objects with it (honouring their finalizers).
    fn delete_namespace_contents(&mut self, namespace: &str) {
        for (kind, ns, name) in self.select(|k, obj_ns, _| k.namespaced && obj_ns == namespace) {
            let _ = self.delete(&kind, &ns, &name, &DeleteOptions::default());
        }
    }

    /// A deleted CRD takes its custom resources with it, finalizers or not.
    fn drop_custom_resources(&mut self, crd: &str) {
        let Some(kind) = self
            .kinds
            .all()
            .iter()
            .find(|k| k.crd.as_deref() == Some(crd))
            .cloned()
        else {
            return;
        };
        let objs = self.objects.remove(&kind.storage_key()).unwrap_or_default();
        for (_, mut obj) in objs {
            self.rv += 1;
            obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
            self.record(kind.storage_key(), EventType::Deleted, obj, None);
        }
        self.kinds.unregister_crd(crd);
    }

    /// Background garbage collection: objects whose every owner is gone are deleted.
    fn collect_dependents(&mut self, owner_uid: &str) {
        if owner_uid.is_empty() {
            return;
        }
        let live: HashSet<String> = self
            .objects
            .values()
            .flat_map(|objs| objs.values())
            .filter_map(|o| o["metadata"]["uid"].as_str().map(String::from))
            .collect();
        let orphans = self.select(|_, _, obj| {
            let owners = owner_uids(obj);
            owners.iter().any(|u| u == owner_uid) && owners.iter().all(|u| !live.contains(u))
        });
        for (kind, ns, name) in orphans {
            let _ = self.delete(&kind, &ns, &name, &DeleteOptions::default());
        }
    }

    /// (kind, namespace, name) of the stored objects passing `pred(kind, namespace, object)`.
    fn select(&self, pred: impl Fn(&Kind, &str, &Value) -> bool) -> Vec<(Kind, String, String)> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for kind in self.kinds.all() {
            if !seen.insert(kind.storage_key()) {
                continue; // one version per stored resource
            }
            for ((ns, name), obj) in self.objects.get(&kind.storage_key()).into_iter().flatten() {
                if pred(kind, ns, obj) {
                    out.push((kind.clone(), ns.clone(), name.clone()));
                }
            }
        }
        out
    }

    fn record(&mut self, storage_key: String, type_: EventType, object: Value, old: Option<Value>) {
        let change = Arc::new(Change {
            rv: self.rv,
            storage_key,
            type_,
            object,
            old,
        });
        self.history.push_back(change.clone());
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted = dropped.rv;
            }
        }
        let _ = self.tx.send(change); // no watchers is fine
    }
}

/// A 422 naming every cause, if there is any.
fn refuse(kind: &Kind, name: &str, causes: Vec<crate::status::Cause>) -> ApiResult<()> {
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&kind.group, &kind.kind, name, causes))
    }
}

/// Applies a JSON patch like the apiserver's library does, where `test` of a missing path
/// against `null` succeeds (kube-rs' finalizer helper relies on it).
fn apply_json_patch(target: &mut Value, patch: &json_patch::Patch) -> ApiResult<()> {
    for op in patch.iter() {
        if let json_patch::PatchOperation::Test(test) = op
            && test.value.is_null()
            && target.pointer(test.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(target, std::slice::from_ref(op)).map_err(|e| ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("the server rejected our request due to an error in our request: {e}"),
            details: None,
            causes: Vec::new(),
        })?;
    }
    Ok(())
}

/// An object as served for `kind` (its version's apiVersion and kind).
pub fn present(kind: &Kind, obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Value::Object(map) = &mut out {
        map.insert("apiVersion".into(), json!(kind.api_version()));
        map.insert("kind".into(), json!(kind.kind));
    }
    out
}

pub fn resource_version_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

fn parse_continue(token: &str) -> ApiResult<(String, String)> {
    token
        .split_once('/')
        .map(|(ns, name)| (ns.to_string(), name.to_string()))
        .ok_or_else(|| ApiError::bad_request(format!("invalid continue token {token:?}")))
}

fn check_type(kind: &Kind, obj: &Map<String, Value>) -> ApiResult<()> {
    if let Some(api_version) = obj.get("apiVersion").and_then(Value::as_str)
        && api_version != kind.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            kind.api_version()
        )));
    }
    if let Some(k) = obj.get("kind").and_then(Value::as_str)
        && k != kind.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            kind.kind
        )));
    }
    Ok(())
}

/// Name and metadata map checks every kind gets.
fn validate_meta(kind: &Kind, obj: &Value) -> ApiResult<()> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let invalid = |field: &str, message: String| {
        Err(ApiError::invalid_field(
            &kind.group,
            &kind.kind,
            name,
            field,
            &message,
        ))
    };
    // Namespaces and Services become DNS labels; everything else may be a DNS subdomain.
    let label_only =
        kind.group.is_empty() && matches!(kind.plural.as_str(), "namespaces" | "services");
    // RBAC names only need to be a path segment (`system:auth-delegator`).
    if kind.group == RBAC_GROUP {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '%']) {
            return invalid(
                "metadata.name",
                format!(
                    "Invalid value: {name:?}: may not be '.' or '..' and may not contain '/' or '%'"
                ),
            );
        }
    } else if !valid_dns_name(name, label_only) {
        let rule = if label_only {
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
        } else {
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        };
        return invalid("metadata.name", format!("Invalid value: {name:?}: {rule}"));
    }
    for map in ["labels", "annotations"] {
        if let Some(value) = obj["metadata"].get(map)
            && !value.is_null()
            && !value
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string))
        {
            return invalid(
                &format!("metadata.{map}"),
                "Invalid value: must be a map of strings".into(),
            );
        }
    }
    if let Some(value) = obj["metadata"].get("finalizers")
        && !value.is_null()
        && !value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string))
    {
        return invalid(
            "metadata.finalizers",
            "Invalid value: must be a list of strings".into(),
        );
    }
    Ok(())
}

fn valid_dns_name(name: &str, label_only: bool) -> bool {
    let max = if label_only { 63 } else { 253 };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !name.is_empty()
        && name.len() <= max
        && if label_only {
            label_ok(name)
        } else {
            name.split('.').all(label_ok)
        }
}

fn random_suffix() -> String {
    // The apiserver's alphabet: no vowels, no confusable characters.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn set_or_remove(target: &mut Value, key: &str, value: Option<Value>) {
    if let Value::Object(map) = target {
        match value {
            Some(v) => {
                map.insert(key.into(), v);
            }
            None => {
                map.remove(key);
            }
        }
    }
}

fn finalizers(obj: &Value) -> Vec<String> {
    strings_at(obj, "/metadata/finalizers")
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r["uid"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Generation counts changes of everything but metadata (and status, where it is a subresource).
fn spec_changed(kind: &Kind, old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Value::Object(map) = &mut v {
            map.remove("metadata");
            map.remove("apiVersion");
            map.remove("kind");
            if kind.status {
                map.remove("status");
            }
        }
        v
    };
    strip(old) != strip(new)
}

fn bump_generation(obj: &mut Value) {
    let generation = obj["metadata"]["generation"].as_i64().unwrap_or(0);
    obj["metadata"]["generation"] = json!(generation + 1);
}

/// The defaults kube-apiserver gives a Service, and a ClusterIP from 10.96.0.0/16.
fn default_service(spec: &mut Value, next_ip: &mut u32) {
    if !spec.is_object() {
        *spec = json!({});
    }
    let type_ = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    spec["type"] = json!(type_);
    if spec.get("sessionAffinity").is_none() {
        spec["sessionAffinity"] = json!("None");
    }
    if type_ != "ExternalName" && spec["clusterIP"].as_str().is_none_or(str::is_empty) {
        let n = *next_ip;
        *next_ip += 1;
        let ip = format!("10.96.{}.{}", n / 256, n % 256);
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports {
            if port.get("protocol").is_none() {
                port["protocol"] = json!("TCP");
            }
            if port.get("targetPort").is_none()
                && let Some(p) = port.get("port").cloned()
            {
                port["targetPort"] = p;
            }
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("rv", &self.rv)
            .field("compacted", &self.compacted)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;

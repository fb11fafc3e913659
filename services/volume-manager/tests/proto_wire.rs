//! Wire compatibility of our `proto/csi.proto` with the upstream CSI contract
//! (`../shared/contracts/proto/csi.proto`, spec 1.13.0).
//!
//! Both files are parsed with `protox` and their descriptors compared: package, the services
//! we serve and every method of them, and every message and enum reachable from those
//! services (nested and map-entry types included), in both directions, so that nothing a CSI
//! sidecar sends is dropped by us as an unknown field.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    FileDescriptorSet, ServiceDescriptorProto,
};

/// The file name of the CSI proto inside both descriptor sets.
const CSI_FILE: &str = "csi.proto";

/// The services we serve; for each, our method set must equal upstream's.
const SERVED: [&str; 3] = ["Identity", "Controller", "Node"];

/// Parses `<dir>/csi.proto` (with its imports, well-known types from protox).
fn parse(dir: &Path) -> FileDescriptorSet {
    protox::compile([CSI_FILE], [dir])
        .unwrap_or_else(|e| panic!("protox cannot parse {}/{CSI_FILE}: {e:?}", dir.display()))
}

fn ours() -> FileDescriptorSet {
    parse(&Path::new(env!("CARGO_MANIFEST_DIR")).join("proto"))
}

fn csi_file(set: &FileDescriptorSet) -> &FileDescriptorProto {
    set.file
        .iter()
        .find(|f| f.name() == CSI_FILE)
        .expect("csi.proto is in its own descriptor set")
}

/// Every message and enum of a descriptor set by full name (`.pkg.Outer.Inner`).
#[derive(Default)]
struct Index<'a> {
    messages: BTreeMap<String, &'a DescriptorProto>,
    enums: BTreeMap<String, &'a EnumDescriptorProto>,
}

impl<'a> Index<'a> {
    fn new(set: &'a FileDescriptorSet) -> Self {
        let mut index = Index::default();
        for file in &set.file {
            let scope = match file.package() {
                "" => String::new(),
                package => format!(".{package}"),
            };
            for message in &file.message_type {
                index.add_message(&scope, message);
            }
            for e in &file.enum_type {
                index.enums.insert(format!("{scope}.{}", e.name()), e);
            }
        }
        index
    }

    fn add_message(&mut self, scope: &str, message: &'a DescriptorProto) {
        let name = format!("{scope}.{}", message.name());
        for nested in &message.nested_type {
            self.add_message(&name, nested);
        }
        for e in &message.enum_type {
            self.enums.insert(format!("{name}.{}", e.name()), e);
        }
        self.messages.insert(name, message);
    }
}

/// The messages and enums reachable from `services` of `file`: method inputs and outputs,
/// field types, and all nested types (so map entries too), transitively.
fn reachable(
    index: &Index<'_>,
    services: &[ServiceDescriptorProto],
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut messages = BTreeSet::new();
    let mut enums = BTreeSet::new();
    let mut todo: Vec<String> = services
        .iter()
        .flat_map(|s| &s.method)
        .flat_map(|m| [m.input_type().to_owned(), m.output_type().to_owned()])
        .collect();
    while let Some(name) = todo.pop() {
        if !messages.insert(name.clone()) {
            continue;
        }
        let Some(message) = index.messages.get(&name) else {
            continue; // reported by the comparison as missing on our side
        };
        for nested in &message.nested_type {
            todo.push(format!("{name}.{}", nested.name()));
        }
        for e in &message.enum_type {
            enums.insert(format!("{name}.{}", e.name()));
        }
        for field in &message.field {
            match field.r#type() {
                Type::Message | Type::Group => todo.push(field.type_name().to_owned()),
                Type::Enum => {
                    enums.insert(field.type_name().to_owned());
                }
                _ => {}
            }
        }
    }
    (messages, enums)
}

/// Everything about a field that matters on the wire (and to generated code).
#[derive(Debug, PartialEq)]
struct FieldShape<'a> {
    number: i32,
    r#type: Type,
    type_name: &'a str,
    label: Label,
    oneof: Option<&'a str>,
    proto3_optional: bool,
}

fn shape<'a>(message: &'a DescriptorProto, field: &'a FieldDescriptorProto) -> FieldShape<'a> {
    FieldShape {
        number: field.number(),
        r#type: field.r#type(),
        type_name: field.type_name(),
        label: field.label(),
        oneof: field
            .oneof_index
            .and_then(|i| message.oneof_decl.get(usize::try_from(i).ok()?))
            .map(|o| o.name()),
        proto3_optional: field.proto3_optional(),
    }
}

fn is_map_entry(message: &DescriptorProto) -> bool {
    message.options.as_ref().is_some_and(|o| o.map_entry())
}

fn method_names(service: &ServiceDescriptorProto) -> BTreeSet<&str> {
    service.method.iter().map(|m| m.name()).collect()
}

/// Every way `ours` differs on the wire from `upstream`, one line each naming the element;
/// empty when compatible.
fn differences(ours: &FileDescriptorSet, upstream: &FileDescriptorSet) -> Vec<String> {
    let mut diffs = Vec::new();
    let (our_file, up_file) = (csi_file(ours), csi_file(upstream));
    if our_file.package() != up_file.package() {
        diffs.push(format!(
            "package: ours `{}`, upstream `{}`",
            our_file.package(),
            up_file.package()
        ));
    }

    // Services and methods.
    for served in SERVED {
        if !our_file.service.iter().any(|s| s.name() == served) {
            diffs.push(format!(
                "service {served}: we must serve it but our proto lacks it"
            ));
        }
    }
    for service in &our_file.service {
        let name = service.name();
        let Some(up) = up_file.service.iter().find(|s| s.name() == name) else {
            diffs.push(format!("service {name}: not in upstream"));
            continue;
        };
        let (our_methods, up_methods) = (method_names(service), method_names(up));
        for missing in up_methods.difference(&our_methods) {
            diffs.push(format!(
                "service {name}: upstream method {missing} is missing in ours"
            ));
        }
        for extra in our_methods.difference(&up_methods) {
            diffs.push(format!(
                "service {name}: our method {extra} is not in upstream"
            ));
        }
        for method in &service.method {
            let Some(u) = up.method.iter().find(|m| m.name() == method.name()) else {
                continue;
            };
            let rpc = format!("rpc {name}.{}", method.name());
            let pairs = [
                ("input type", method.input_type(), u.input_type()),
                ("output type", method.output_type(), u.output_type()),
            ];
            for (what, a, b) in pairs {
                if a != b {
                    diffs.push(format!("{rpc}: {what} ours `{a}`, upstream `{b}`"));
                }
            }
            let streams = [
                (
                    "client streaming",
                    method.client_streaming(),
                    u.client_streaming(),
                ),
                (
                    "server streaming",
                    method.server_streaming(),
                    u.server_streaming(),
                ),
            ];
            for (what, a, b) in streams {
                if a != b {
                    diffs.push(format!("{rpc}: {what} ours {a}, upstream {b}"));
                }
            }
        }
    }

    // Messages and enums reachable from our services.
    let (our_index, up_index) = (Index::new(ours), Index::new(upstream));
    let (messages, enums) = reachable(&our_index, &our_file.service);
    for name in &messages {
        let Some(message) = our_index.messages.get(name) else {
            diffs.push(format!(
                "message {name}: referenced but not defined in ours"
            ));
            continue;
        };
        let Some(up) = up_index.messages.get(name) else {
            diffs.push(format!("message {name}: not in upstream"));
            continue;
        };
        if is_map_entry(message) != is_map_entry(up) {
            diffs.push(format!(
                "message {name}: map entry ours {}, upstream {}",
                is_map_entry(message),
                is_map_entry(up)
            ));
        }
        for field in &message.field {
            let path = format!("field {name}.{}", field.name());
            match up.field.iter().find(|f| f.name() == field.name()) {
                Some(u) => {
                    let (a, b) = (shape(message, field), shape(up, u));
                    if a != b {
                        diffs.push(format!("{path}: ours {a:?}, upstream {b:?}"));
                    }
                }
                None => match up.field.iter().find(|f| f.number() == field.number()) {
                    Some(u) => diffs.push(format!(
                        "{path}: not in upstream, which names number {} `{}`",
                        field.number(),
                        u.name()
                    )),
                    None => diffs.push(format!("{path} = {}: not in upstream", field.number())),
                },
            }
        }
        for u in &up.field {
            if !message.field.iter().any(|f| f.name() == u.name()) {
                diffs.push(format!(
                    "field {name}.{} = {}: upstream has it, ours lacks it",
                    u.name(),
                    u.number()
                ));
            }
        }
    }
    for name in &enums {
        let Some(e) = our_index.enums.get(name) else {
            diffs.push(format!("enum {name}: referenced but not defined in ours"));
            continue;
        };
        let Some(up) = up_index.enums.get(name) else {
            diffs.push(format!("enum {name}: not in upstream"));
            continue;
        };
        let values = |e: &EnumDescriptorProto| -> BTreeMap<String, i32> {
            e.value
                .iter()
                .map(|v| (v.name().to_owned(), v.number()))
                .collect()
        };
        let (ours_v, up_v) = (values(e), values(up));
        for (value, number) in &ours_v {
            match up_v.get(value) {
                Some(n) if n == number => {}
                Some(n) => diffs.push(format!(
                    "enum value {name}.{value}: ours {number}, upstream {n}"
                )),
                None => diffs.push(format!(
                    "enum value {name}.{value} = {number}: not in upstream"
                )),
            }
        }
        for (value, number) in &up_v {
            if !ours_v.contains_key(value) {
                diffs.push(format!(
                    "enum value {name}.{value} = {number}: upstream has it, ours lacks it"
                ));
            }
        }
    }
    diffs
}

#[test]
fn our_csi_proto_is_wire_compatible_with_upstream() {
    let Some(path) = kube_resources::contracts::upstream("proto/csi.proto") else {
        eprintln!("skipping our_csi_proto_is_wire_compatible_with_upstream: no upstream csi.proto");
        return;
    };
    let upstream = parse(path.parent().expect("contract file has a directory"));
    let ours = ours();

    let diffs = differences(&ours, &upstream);
    assert!(
        diffs.is_empty(),
        "proto/csi.proto differs from upstream {} in {} place(s):\n  {}",
        path.display(),
        diffs.len(),
        diffs.join("\n  ")
    );

    let index = Index::new(&ours);
    let file = csi_file(&ours);
    let (messages, enums) = reachable(&index, &file.service);
    let methods: usize = file.service.iter().map(|s| s.method.len()).sum();
    // A guard against comparing nothing: the three services and their 26 methods at least.
    assert_eq!(file.service.len(), SERVED.len(), "services in our proto");
    assert!(methods >= 26, "only {methods} methods in our proto");
    let map_entries = messages
        .iter()
        .filter(|m| index.messages.get(*m).is_some_and(|d| is_map_entry(d)))
        .count();
    let well_known = messages
        .iter()
        .filter(|m| m.starts_with(".google."))
        .count();
    eprintln!(
        "compared {} services, {methods} methods, {} messages ({map_entries} map entries, \
         {well_known} well-known types), {} enums with upstream",
        file.service.len(),
        messages.len(),
        enums.len()
    );
}

/// The comparison is not vacuous: each kind of mismatch made in memory is reported, naming
/// the element. Needs no upstream file, so it always runs.
#[test]
fn comparison_reports_mismatches() {
    let reference = ours();
    assert_eq!(differences(&reference, &reference), Vec::<String>::new());

    fn message<'a>(set: &'a mut FileDescriptorSet, name: &str) -> &'a mut DescriptorProto {
        let file = set.file.iter_mut().find(|f| f.name() == CSI_FILE).unwrap();
        file.message_type
            .iter_mut()
            .find(|m| m.name() == name)
            .unwrap()
    }
    type Mutation = fn(&mut FileDescriptorSet);
    let cases: [(&str, Mutation, &str); 6] = [
        (
            "field number",
            |s| message(s, "CreateVolumeRequest").field[0].number = Some(99),
            "field .csi.v1.CreateVolumeRequest.name",
        ),
        (
            "field dropped",
            |s| {
                message(s, "Snapshot").field.pop();
            },
            "field .csi.v1.Snapshot.group_snapshot_id = 6: upstream has it, ours lacks it",
        ),
        (
            "oneof membership",
            |s| message(s, "VolumeCapability").field[0].oneof_index = None,
            "field .csi.v1.VolumeCapability.block",
        ),
        (
            "nested enum value",
            |s| message(s, "VolumeUsage").enum_type[0].value[2].number = Some(7),
            "enum value .csi.v1.VolumeUsage.Unit.INODES: ours 7, upstream 2",
        ),
        (
            "method missing",
            |s| {
                let file = s.file.iter_mut().find(|f| f.name() == CSI_FILE).unwrap();
                let node = file
                    .service
                    .iter_mut()
                    .find(|x| x.name() == "Node")
                    .unwrap();
                node.method.retain(|m| m.name() != "NodeGetInfo");
            },
            "service Node: upstream method NodeGetInfo is missing in ours",
        ),
        (
            "server streaming",
            |s| {
                let file = s.file.iter_mut().find(|f| f.name() == CSI_FILE).unwrap();
                file.service[0].method[0].server_streaming = Some(true);
            },
            "server streaming ours true, upstream false",
        ),
    ];
    for (what, mutate, expected) in cases {
        let mut mutated = reference.clone();
        mutate(&mut mutated);
        let diffs = differences(&mutated, &reference);
        assert!(
            diffs.iter().any(|d| d.contains(expected)),
            "{what}: expected a difference containing `{expected}`, got {diffs:#?}"
        );
    }
}

use base64::Engine as _;
use serde_json::{Value, json};

use super::*;
use crate::core::field::Path;

fn body(request: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request,
    }))
    .unwrap()
}

fn request(operation: &str, object: Value, old: Value) -> Value {
    json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "core.gardener.cloud", "version": "v1beta1", "kind": "Shoot"},
        "resource": {"group": "core.gardener.cloud", "version": "v1beta1", "resource": "shoots"},
        "name": "s", "namespace": "garden-p",
        "operation": operation,
        "userInfo": {"username": "alice"},
        "object": object,
        "oldObject": old,
    })
}

fn shoot() -> Value {
    json!({"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot",
           "metadata": {"name": "s", "namespace": "garden-p"}, "spec": {}})
}

#[test]
fn a_review_is_read_with_its_objects_as_json() {
    let review = decode(&body(request("UPDATE", shoot(), shoot()))).unwrap();
    assert_eq!(
        (review.group(), review.kind()),
        ("core.gardener.cloud", "Shoot")
    );
    assert_eq!(review.namespace(), "garden-p");
    assert_eq!(review.object, Some(shoot()));
    let (object, old) = review.objects().unwrap();
    assert_eq!((object, old), (&shoot(), Some(&shoot())));
    assert!(review.writes());
}

#[test]
fn malformed_reviews_are_named() {
    type Expect = fn(&Malformed) -> bool;
    let cases: Vec<(Vec<u8>, Expect)> = vec![
        (b"{not json".to_vec(), |m| matches!(m, Malformed::NotJson(_))),
        (
            serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}})).unwrap(),
            |m| matches!(m, Malformed::WrongType(v, _) if v == "admission.k8s.io/v1beta1"),
        ),
        (
            serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})).unwrap(),
            |m| *m == Malformed::NoRequest,
        ),
        (
            body(json!({"uid": "x", "operation": "CREATE"})),
            |m| matches!(m, Malformed::BadRequest(e) if e.contains("kind")),
        ),
        (
            body(request("CREATE", json!({"apiVersion": "v1", "kind": "Pod", "metadata": {}}), Value::Null)),
            |m| matches!(m, Malformed::KindMismatch { field: "object", .. }),
        ),
        (
            body(request("UPDATE", shoot(), json!({"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Seed"}))),
            |m| matches!(m, Malformed::KindMismatch { field: "oldObject", found, .. } if found == "kind Seed"),
        ),
    ];
    for (body, expected) in cases {
        let err = decode(&body).unwrap_err();
        assert!(
            expected(&err),
            "{err:?} for {}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn an_object_that_is_no_kubernetes_object_is_a_denial_not_a_malformed_review() {
    for object in [
        json!("a string"),
        json!({"metadata": {"labels": 5}}),
        json!({"metadata": {}, "spec": []}),
    ] {
        let review = decode(&body(request("CREATE", object.clone(), Value::Null))).unwrap();
        let answer = review.objects().unwrap_err();
        assert!(
            matches!(&answer, Answer::Fail(m) if m.starts_with("cannot decode the Shoot")),
            "{answer:?}"
        );
        let response = respond(&review, answer);
        assert_eq!(response["response"]["allowed"], false);
        assert_eq!(response["response"]["status"]["code"], 422);
    }
    let update = decode(&body(request("UPDATE", shoot(), Value::Null))).unwrap();
    assert!(matches!(update.objects(), Err(Answer::Fail(m)) if m.contains("oldObject")));
}

#[test]
fn a_denial_carries_every_finding_with_its_field_path() {
    let review = decode(&body(request("CREATE", shoot(), Value::Null))).unwrap();
    let size = Path::new("spec").child("size");
    let errors = vec![
        size.error(Kind::NotSupported, "\"x\": supported values: \"a\", \"b\""),
        Path::new("spec")
            .child("image")
            .error(Kind::Required, "must be set"),
    ];
    let response = respond(&review, Answer::Deny(errors));
    let r = &response["response"];
    assert_eq!(response["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(response["kind"], "AdmissionReview");
    assert_eq!(r["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 422);
    assert_eq!(r["status"]["reason"], "Invalid");
    assert_eq!(
        r["status"]["message"],
        "[spec.size: Unsupported value: \"x\": supported values: \"a\", \"b\", spec.image: Required value: must be set]"
    );
    assert_eq!(
        r["status"]["details"]["causes"],
        json!([
            {"reason": "FieldValueNotSupported", "message": "Unsupported value: \"x\": supported values: \"a\", \"b\"", "field": "spec.size"},
            {"reason": "FieldValueRequired", "message": "Required value: must be set", "field": "spec.image"},
        ])
    );
}

#[test]
fn a_policy_refusal_is_403_and_a_failed_read_500() {
    let review = decode(&body(request("CREATE", shoot(), Value::Null))).unwrap();
    let forbidden = vec![Path::new("spec").error(Kind::Forbidden, "immutable")];
    let response = respond(&review, Answer::Deny(forbidden));
    assert_eq!(response["response"]["status"]["code"], 403);
    assert_eq!(response["response"]["status"]["reason"], "Forbidden");
    let response = respond(&review, Answer::Unavailable("reading x: timeout".into()));
    assert_eq!(response["response"]["status"]["code"], 500);
    assert_eq!(
        response["response"]["status"]["message"],
        "reading x: timeout"
    );
    assert_eq!(response["response"]["allowed"], false);
}

#[test]
fn a_change_is_a_base64_json_patch_and_no_change_is_none() {
    let review = decode(&body(request("CREATE", shoot(), Value::Null))).unwrap();
    let mut after = shoot();
    after["spec"]["kubernetes"] = json!({"kubelet": {"maxPods": 250}});
    let response = respond(
        &review,
        Answer::Patch {
            before: shoot(),
            after: after.clone(),
        },
    );
    let r = &response["response"];
    assert_eq!(r["allowed"], true);
    assert_eq!(r["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(r["patch"].as_str().expect("base64 text"))
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    let mut patched = shoot();
    json_patch::patch(&mut patched, &patch).unwrap();
    assert_eq!(patched, after);

    let unchanged = respond(
        &review,
        Answer::Patch {
            before: shoot(),
            after: shoot(),
        },
    );
    assert_eq!(unchanged["response"]["allowed"], true);
    assert!(unchanged["response"].get("patch").is_none());
    assert!(unchanged["response"].get("patchType").is_none());
}

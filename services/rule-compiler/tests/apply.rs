//! The ruleset actor against a real kernel (a fresh network namespace): apply, unchanged,
//! and an nft failure during apply that keeps the last good ruleset, is reported, and is
//! retried until it succeeds.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor as _;
use common::*;
use parking_lot::RwLock;
use rule_compiler::actors::ruleset::{Applied, Apply, ApplyState, RulesetActor, Wanted};
use rule_compiler::metrics::Metrics;
use rule_compiler::netns::NetNs;
use rule_compiler::nft::Nft;
use serde_json::json;

fn wanted(policy_name: &str) -> Wanted {
    let fw = firewall(json!({}));
    let policies = [policy(
        policy_name,
        json!({"egress": [{"to": [{"cidr": "198.51.100.0/24"}], "ports": [{"port": 443}]}]}),
    )];
    let c = run(&fw, &policies, &[], &BTreeMap::new());
    Wanted {
        identity: c.identity(),
        ruleset: c.ruleset,
        dry_run: false,
    }
}

/// An nft stand-in that runs the real nft in `ns`, but fails every apply (not checks, not
/// lists) while `flag` exists.
fn flaky_nft(dir: &std::path::Path, ns: &NetNs, flag: &std::path::Path) -> Nft {
    let script = dir.join("nft");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ -e {flag} ] && [ \"$1\" = \"-f\" ]; then echo 'injected failure' >&2; exit 1; fi\nexec ip netns exec {ns} nft \"$@\"\n",
            flag = flag.display(),
            ns = ns.name
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    Nft::new(script)
}

fn kernel_table(ns: &NetNs) -> String {
    ns.ok(&["nft", "list", "table", "inet", "firewall"])
}

#[actix::test]
async fn apply_unchanged_and_a_failing_apply_keeps_the_last_good_ruleset() {
    if !NetNs::available() {
        return;
    }
    let ns = NetNs::new("rc-apply");
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("fail");
    let state = Arc::new(RwLock::new(ApplyState::default()));
    let metrics = Metrics::new(&mut prometheus_client::registry::Registry::default());
    let rule_file = dir.path().join("firewall-controller.v4");
    let actor = RulesetActor::new(
        flaky_nft(dir.path(), &ns, &flag),
        false,
        Some(rule_file.clone()),
        (Duration::from_millis(100), Duration::from_millis(400)),
        metrics.clone(),
        state.clone(),
    )
    .start();

    let first = wanted("first");
    assert_eq!(
        actor.send(Apply(first.clone())).await.unwrap(),
        Ok(Applied::Applied)
    );
    assert!(kernel_table(&ns).contains("accept traffic for np first tcp"));
    assert_eq!(std::fs::read_to_string(&rule_file).unwrap(), first.ruleset);
    assert_eq!(
        actor.send(Apply(first.clone())).await.unwrap(),
        Ok(Applied::Unchanged)
    );
    assert_eq!(
        metrics.applies.get(),
        1,
        "an unchanged ruleset causes no reload"
    );

    std::fs::write(&flag, "").unwrap();
    let second = wanted("second");
    let err = actor
        .send(Apply(second.clone()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.contains("injected failure"), "{err}");
    let table = kernel_table(&ns);
    assert!(
        table.contains("accept traffic for np first tcp"),
        "last good ruleset stays:\n{table}"
    );
    assert!(
        table.contains("policy drop"),
        "never an accepting forward chain:\n{table}"
    );
    assert_eq!(
        state
            .read()
            .last_error
            .as_deref()
            .map(|e| e.contains("injected failure")),
        Some(true)
    );
    assert!(metrics.apply_failures.get() >= 1);
    assert_eq!(metrics.apply_ok.get(), 0);
    assert_eq!(
        std::fs::read_to_string(&rule_file).unwrap(),
        first.ruleset,
        "file only after success"
    );

    // The retry (with backoff) succeeds once nft works again, without a new request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::remove_file(&flag).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while state.read().last_error.is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "retry did not succeed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(kernel_table(&ns).contains("accept traffic for np second tcp"));
    assert_eq!(metrics.apply_ok.get(), 1);
    assert_eq!(state.read().applies, 2);
}

#[actix::test]
async fn dry_run_checks_but_never_touches_the_kernel() {
    if !NetNs::available() {
        return;
    }
    let ns = NetNs::new("rc-dry");
    let state = Arc::new(RwLock::new(ApplyState::default()));
    let metrics = Metrics::new(&mut prometheus_client::registry::Registry::default());
    let actor = RulesetActor::new(
        Nft::with_prefix(ns.prefix(), "nft"),
        true,
        None,
        (Duration::from_millis(100), Duration::from_secs(1)),
        metrics,
        state.clone(),
    )
    .start();
    assert_eq!(
        actor.send(Apply(wanted("dry"))).await.unwrap(),
        Ok(Applied::Rendered)
    );
    assert!(
        ns.exec(&["nft", "list", "table", "inet", "firewall"])
            .status
            .code()
            != Some(0)
    );
    assert!(state.read().applied.as_deref().unwrap().contains("np dry"));
}

/// The Firewall's `spec.dryRun` makes one apply a dry run without `--dry-run`.
#[actix::test]
async fn a_dry_run_firewall_is_rendered_not_applied() {
    if !NetNs::available() {
        return;
    }
    let ns = NetNs::new("rc-specdry");
    let state = Arc::new(RwLock::new(ApplyState::default()));
    let metrics = Metrics::new(&mut prometheus_client::registry::Registry::default());
    let actor = RulesetActor::new(
        Nft::with_prefix(ns.prefix(), "nft"),
        false,
        None,
        (Duration::from_millis(100), Duration::from_secs(1)),
        metrics,
        state.clone(),
    )
    .start();
    let mut dry = wanted("spec-dry");
    dry.dry_run = true;
    assert_eq!(actor.send(Apply(dry)).await.unwrap(), Ok(Applied::Rendered));
    assert!(
        ns.exec(&["nft", "list", "table", "inet", "firewall"])
            .status
            .code()
            != Some(0)
    );
    // The same ruleset without the dry run is applied, not "unchanged".
    assert_eq!(
        actor.send(Apply(wanted("spec-dry"))).await.unwrap(),
        Ok(Applied::Applied)
    );
    assert!(!state.read().dry_run);
}

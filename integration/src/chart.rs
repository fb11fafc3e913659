//! The Helm chart `helm/metal-mesh`, rendered offline for tests by
//! `integration/scripts/render_chart.py` (Helm v4 in-process through the PyPI package
//! `helm-python-sdk`: no `helm` binary, no cluster).

use std::process::Command;

use serde_json::Value;

/// render_chart.py's exit code when its Python packages are missing.
const SKIP: i32 = 77;

/// Every object the chart renders with `set` (`helm --set` pairs), in template order; `None`
/// when helm-python-sdk is missing outside CI (in CI that fails the test).
pub fn render(set: &[&str]) -> Option<Vec<Value>> {
    let root = crate::workspace_root();
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let output = match Command::new(&python)
        .arg(root.join("integration/scripts/render_chart.py"))
        .args(set.iter().flat_map(|s| ["--set", s]))
        .output()
    {
        Ok(output) => output,
        Err(err) => {
            assert!(!crate::in_ci(), "cannot run {python}: {err} (CI is set)");
            eprintln!("SKIPPED: cannot run {python}: {err}");
            return None;
        }
    };
    if output.status.code() == Some(SKIP) {
        assert!(!crate::in_ci(), "helm-python-sdk missing and CI is set");
        eprintln!("SKIPPED: pip install helm-python-sdk to render the chart");
        return None;
    }
    assert!(
        output.status.success(),
        "render_chart.py {set:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("render_chart.py prints a JSON array"))
}

/// The first object of `kind` whose name ends with `suffix`.
pub fn find<'a>(docs: &'a [Value], kind: &str, suffix: &str) -> &'a Value {
    docs.iter()
        .find(|d| {
            d["kind"] == kind
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(suffix))
        })
        .unwrap_or_else(|| panic!("the chart renders no {kind} *{suffix}"))
}

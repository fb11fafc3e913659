//! After an apply, the kernel's table is read back and compared with what was meant: the same
//! chains, sets and maps, by name. Rules, counters and elements are not listed (nft fetches
//! every set element for those listings: seconds for 100 000); they arrive in the same
//! transaction, which the kernel commits whole or not at all. A mismatch means the kernel
//! holds something else than the compiler produced (another writer, a partial load) and the
//! apply counts as failed.

use std::collections::BTreeMap;

use serde_json::Value;

/// What a table consists of, comparable between our text and the kernel's JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// chain → number of rules.
    pub chains: BTreeMap<String, usize>,
    /// set or map → number of elements.
    pub sets: BTreeMap<String, usize>,
    pub counters: Vec<String>,
}

impl Shape {
    /// The shape of a ruleset as the compiler renders it (one statement per line, elements
    /// one per line in maps or inline in sets).
    pub fn of_text(ruleset: &str) -> Self {
        let mut shape = Shape::default();
        let mut chain: Option<String> = None;
        let mut set: Option<String> = None;
        let mut in_elements = false;
        for line in ruleset.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("chain ") {
                let name = rest.trim_end_matches(" {").to_string();
                shape.chains.insert(name.clone(), 0);
                chain = Some(name);
            } else if let Some(rest) = line
                .strip_prefix("set ")
                .or_else(|| line.strip_prefix("map "))
            {
                let name = rest.trim_end_matches(" {").to_string();
                shape.sets.insert(name.clone(), 0);
                set = Some(name);
            } else if let Some(rest) = line
                .strip_prefix("counter ")
                .filter(|_| chain.is_none() && set.is_none())
            {
                shape.counters.push(rest.trim_end_matches(" {").to_string());
            } else if line == "}" {
                if in_elements {
                    in_elements = false;
                } else {
                    chain = None;
                    set = None;
                }
            } else if let Some(name) = &set {
                if line == "elements = {" {
                    in_elements = true;
                } else if in_elements {
                    *shape.sets.get_mut(name).expect("set seen") += 1;
                } else if let Some(inline) = line.strip_prefix("elements = {") {
                    let inner = inline.trim_end_matches('}').trim();
                    *shape.sets.get_mut(name).expect("set seen") += top_level_items(inner);
                }
            } else if let Some(name) = &chain
                && !line.starts_with("type ")
                && !line.is_empty()
            {
                *shape.chains.get_mut(name).expect("chain seen") += 1;
            }
        }
        shape.counters.sort();
        shape
    }

    /// The shape of table `table` in `nft -j list` output.
    pub fn of_json(json: &Value, table: &str) -> Self {
        let mut shape = Shape::default();
        let items = json["nftables"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let ours = |o: &Value| o["family"] == "inet" && o["table"] == table;
        for item in items {
            if let Some(c) = item.get("chain").filter(|c| ours(c)) {
                shape
                    .chains
                    .entry(c["name"].as_str().unwrap_or_default().to_string())
                    .or_insert(0);
            } else if let Some(r) = item.get("rule").filter(|r| ours(r)) {
                *shape
                    .chains
                    .entry(r["chain"].as_str().unwrap_or_default().to_string())
                    .or_insert(0) += 1;
            } else if let Some(s) = item
                .get("set")
                .or_else(|| item.get("map"))
                .filter(|s| ours(s))
            {
                let n = s["elem"].as_array().map_or(0, Vec::len);
                shape
                    .sets
                    .insert(s["name"].as_str().unwrap_or_default().to_string(), n);
            } else if let Some(c) = item.get("counter").filter(|c| ours(c)) {
                shape
                    .counters
                    .push(c["name"].as_str().unwrap_or_default().to_string());
            }
        }
        shape.counters.sort();
        shape
    }

    /// The differences, for the error message; empty when equal. Only names are compared
    /// (the kernel's side is listed by name).
    pub fn differences(&self, kernel: &Shape) -> Vec<String> {
        let mut out = Vec::new();
        if !self.chains.keys().eq(kernel.chains.keys()) {
            let want: Vec<&String> = self.chains.keys().collect();
            let have: Vec<&String> = kernel.chains.keys().collect();
            out.push(format!("chains: want {want:?}, kernel has {have:?}"));
        }
        if !self.sets.keys().eq(kernel.sets.keys()) {
            let want: Vec<&String> = self.sets.keys().collect();
            let have: Vec<&String> = kernel.sets.keys().collect();
            out.push(format!("sets: want {want:?}, kernel has {have:?}"));
        }
        out
    }
}

/// Number of comma-separated items at brace depth 0.
fn top_level_items(text: &str) -> usize {
    if text.is_empty() {
        return 0;
    }
    let mut depth = 0i32;
    let mut n = 1;
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => n += 1,
            _ => {}
        }
    }
    n
}

//! Command-line flag edits on a list of arguments, with the semantics of Gardener's webhook
//! helpers (`extensions/pkg/webhook/utils.go`): a flag is any item starting with `prefix`
//! (`--cloud-provider=`); list flags (`--enable-admission-plugins=A,B`) are split on `sep`.

/// Sets every item starting with `prefix` to `prefix + value`; false when there is none.
pub fn replace_with_prefix(items: &mut [String], prefix: &str, value: &str) -> bool {
    let mut found = false;
    for item in items.iter_mut().filter(|i| i.starts_with(prefix)) {
        *item = format!("{prefix}{value}");
        found = true;
    }
    found
}

/// `prefix + value` is there: existing items with `prefix` are rewritten, else it is appended.
pub fn ensure_with_prefix(items: &mut Vec<String>, prefix: &str, value: &str) {
    if !replace_with_prefix(items, prefix, value) {
        items.push(format!("{prefix}{value}"));
    }
}

/// No item starts with `prefix`.
pub fn remove_with_prefix(items: &mut Vec<String>, prefix: &str) {
    items.retain(|i| !i.starts_with(prefix));
}

/// Adds `value` to the `sep`-separated list of every item with `prefix` that lacks it; false
/// when no item has `prefix`. An empty list (`--flag=`) splits into one empty value, as Go's
/// `strings.Split` does, so the value is appended after a separator.
pub fn add_to_lists_with_prefix(
    items: &mut [String],
    prefix: &str,
    value: &str,
    sep: &str,
) -> bool {
    let mut found = false;
    for item in items.iter_mut() {
        let Some(list) = item.strip_prefix(prefix) else {
            continue;
        };
        found = true;
        let mut values: Vec<&str> = list.split(sep).collect();
        if !values.contains(&value) {
            values.push(value);
            *item = format!("{prefix}{}", values.join(sep));
        }
    }
    found
}

/// Removes the first `value` from the list of every item with `prefix`; the flag itself stays,
/// even when its list becomes empty.
pub fn remove_from_lists(items: &mut [String], prefix: &str, value: &str, sep: &str) {
    for item in items.iter_mut() {
        let Some(list) = item.strip_prefix(prefix) else {
            continue;
        };
        let mut values: Vec<&str> = list.split(sep).collect();
        if let Some(i) = values.iter().position(|v| *v == value) {
            values.remove(i);
            *item = format!("{prefix}{}", values.join(sep));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn ensure_with_prefix_rewrites_every_match_or_appends() {
        let cases: [(&[&str], &[&str]); 3] = [
            (&["a", "--x=1"], &["a", "--x=2"]),
            (&["--x=1", "b", "--x=3"], &["--x=2", "b", "--x=2"]),
            (&["a"], &["a", "--x=2"]),
        ];
        for (before, after) in cases {
            let mut items = list(before);
            ensure_with_prefix(&mut items, "--x=", "2");
            assert_eq!(items, list(after), "{before:?}");
        }
    }

    #[test]
    fn remove_with_prefix_drops_every_match() {
        let mut items = list(&["--x=1", "a", "--x=", "--xy=1"]);
        remove_with_prefix(&mut items, "--x=");
        assert_eq!(items, list(&["a", "--xy=1"]));
    }

    #[test]
    fn add_to_lists_adds_once_and_tells_whether_the_flag_is_there() {
        let cases: [(&[&str], &[&str], bool); 4] = [
            (&["--p=A,B"], &["--p=A,B,V"], true),
            (&["--p=A,V"], &["--p=A,V"], true),
            (&["--p="], &["--p=,V"], true),
            (&["a"], &["a"], false),
        ];
        for (before, after, found) in cases {
            let mut items = list(before);
            assert_eq!(
                add_to_lists_with_prefix(&mut items, "--p=", "V", ","),
                found
            );
            assert_eq!(items, list(after), "{before:?}");
        }
    }

    #[test]
    fn remove_from_lists_keeps_the_flag() {
        let cases: [(&[&str], &[&str]); 4] = [
            (&["--p=A,V,B"], &["--p=A,B"]),
            (&["--p=V"], &["--p="]),
            (&["--p=A"], &["--p=A"]),
            (&["a"], &["a"]),
        ];
        for (before, after) in cases {
            let mut items = list(before);
            remove_from_lists(&mut items, "--p=", "V", ",");
            assert_eq!(items, list(after), "{before:?}");
        }
    }
}

//! Pagination of ListVolumes and ListSnapshots: the token is the offset of the next entry in
//! the id-sorted list, as decimal. Anything else, or an offset past the end, is not a token we
//! gave out (the spec's ABORTED).

/// One page of `items` (sorted by the caller) from `token`, at most `max` (0 = all), and the
/// token of the next page ("" when this is the last).
pub fn page<'a, T>(items: &'a [T], token: &str, max: i32) -> Result<(&'a [T], String), String> {
    if max < 0 {
        return Err(format!("max_entries {max} is negative"));
    }
    let start = if token.is_empty() {
        0
    } else {
        match token.parse::<usize>() {
            Ok(n) if n <= items.len() => n,
            _ => {
                return Err(format!(
                    "starting_token {token:?} is not a token this plugin issued"
                ));
            }
        }
    };
    let end = if max == 0 {
        items.len()
    } else {
        (start + max as usize).min(items.len())
    };
    let next = if end < items.len() {
        end.to_string()
    } else {
        String::new()
    };
    Ok((&items[start..end], next))
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn pages_walk_the_whole_list() {
        let items: Vec<u32> = (0..5).collect();
        let (p, next) = page(&items, "", 2).unwrap();
        assert_eq!((p, next.as_str()), (&[0, 1][..], "2"));
        let (p, next) = page(&items, &next, 2).unwrap();
        assert_eq!((p, next.as_str()), (&[2, 3][..], "4"));
        let (p, next) = page(&items, &next, 2).unwrap();
        assert_eq!((p, next.as_str()), (&[4][..], ""));
        assert_eq!(page(&items, "", 0).unwrap().0.len(), 5);
    }

    #[test]
    fn foreign_tokens_are_rejected() {
        let items = [1, 2];
        assert!(page(&items, "invalid-token", 1).is_err());
        assert!(page(&items, "3", 1).is_err());
        assert!(page(&items, "", -1).is_err());
        assert_eq!(page(&items, "2", 1).unwrap().0.len(), 0);
    }
}

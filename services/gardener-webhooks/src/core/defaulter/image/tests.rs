use proptest::prelude::*;

use super::*;

/// Upstream's test list: two OS groups and a name whose version does not parse.
pub(in crate::core::defaulter) fn upstream_images() -> Vec<&'static str> {
    vec![
        "firewall-2.0.2020121",
        "firewall-2.0.20210207",
        "firewall-2.0dasdf",
        "firewall-ubuntu-2.0.19700101",
        "firewall-ubuntu-2.0.20201126",
        "firewall-ubuntu-2.0.20201023",
        "firewall-ubuntu-2.0.20201214",
        "firewall-ubuntu-2.0.20210304",
        "firewall-ubuntu-2.0.20210131",
        "firewall-ubuntu-2.0.20210216",
        "firewall-ubuntu-2.0.20210207",
        "firewall-ubuntu-2.0.20210316",
    ]
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_latest_image_is_the_highest_version_of_the_first_os() {
    let cases: Vec<(&str, Vec<&str>, Option<&str>)> = vec![
        ("empty", vec![], None),
        (
            "upstream's list",
            upstream_images(),
            Some("firewall-2.0.20210207"),
        ),
        (
            "OS groups ascending",
            vec![
                "firewall-ubuntu-3.0.2",
                "firewall-debian-1.0.0",
                "firewall-ubuntu-3.0.3",
            ],
            Some("firewall-debian-1.0.0"),
        ),
        (
            "byte order: upper case first",
            vec!["fw-a-1.0", "fw-B-1.0"],
            Some("fw-B-1.0"),
        ),
        (
            "a shorter OS prefix first",
            vec!["firewall-ubuntu-9.0.0", "firewall-1.0.0"],
            Some("firewall-1.0.0"),
        ),
        (
            "numeric, not lexical",
            vec!["fw-1.9.0", "fw-1.10.0"],
            Some("fw-1.10.0"),
        ),
        (
            "leading v",
            vec!["fw-v1.2.3", "fw-1.10.0"],
            Some("fw-1.10.0"),
        ),
        ("leading v wins", vec!["fw-1.9.9", "fw-v2"], Some("fw-v2")),
        (
            "two-part versions",
            vec!["fw-1.9", "fw-1.10", "fw-1.9.5"],
            Some("fw-1.10"),
        ),
        (
            "missing minor and patch are 0",
            vec!["fw-2", "fw-1.99.99"],
            Some("fw-2"),
        ),
        ("leading zeros", vec!["fw-01.2", "fw-1.3"], Some("fw-1.3")),
        (
            "build metadata",
            vec!["fw-1.0.0+b2", "fw-1.0.1+b1"],
            Some("fw-1.0.1+b1"),
        ),
        (
            "equal versions: by name",
            vec!["fw-v1.0", "fw-1.0.0"],
            Some("fw-1.0.0"),
        ),
        (
            "one image",
            vec!["firewall-ubuntu-3.0"],
            Some("firewall-ubuntu-3.0"),
        ),
        (
            "nothing parses: the first",
            vec!["latest", "fw-x", "fw-"],
            Some("latest"),
        ),
        (
            "nothing parses: the first, again",
            vec!["fw-x", "latest"],
            Some("fw-x"),
        ),
    ];
    for (name, list, want) in cases {
        assert_eq!(latest_image(&names(&list)), want, "{name}");
        let mut reversed = names(&list);
        reversed.reverse();
        if list.len() > 1 && !name.starts_with("nothing parses") {
            assert_eq!(latest_image(&reversed), want, "{name}, reversed");
        }
    }
}

#[test]
fn unparsable_image_names_never_win_wherever_they_stand() {
    let good = [
        "firewall-ubuntu-2.0.1",
        "firewall-ubuntu-2.0.3",
        "firewall-ubuntu-2.0.2",
    ];
    // Each would sort first by its OS prefix if it parsed.
    for bad in [
        "firewall-2.0dasdf",
        "firewall-latest",
        "firewall",
        "",
        "a-",
        "a-1.2.3.4",
        "a-V1",
        "a-1..2",
        "a-1.2+",
        "a-1.2+b..c",
        "a-99999999999999999999",
        "a- 1.2",
    ] {
        for at in 0..=good.len() {
            let mut list = names(&good);
            list.insert(at, bad.to_string());
            assert_eq!(
                latest_image(&list),
                Some("firewall-ubuntu-2.0.3"),
                "{bad:?} at {at}"
            );
        }
    }
}

const UNPARSABLE: [&str; 4] = [
    "firewall-2.0dasdf",
    "nonsense",
    "fw-",
    "firewall-ubuntu-latest",
];

proptest! {
    #[test]
    fn the_latest_image_does_not_depend_on_the_order(
        list in proptest::sample::subsequence(
            vec![
                "firewall-2.0.2020121", "firewall-ubuntu-2.0.20210316",
                "firewall-ubuntu-v2.0.20210316", "firewall-ubuntu-2.1", "firewall-debian-12",
                "firewall-debian-12.0.0+b1", UNPARSABLE[0], UNPARSABLE[1], UNPARSABLE[2],
                UNPARSABLE[3],
            ],
            1..=10,
        )
        .prop_shuffle()
    ) {
        let shuffled = names(&list);
        let mut sorted = shuffled.clone();
        sorted.sort();
        if list.iter().any(|image| !UNPARSABLE.contains(image)) {
            prop_assert_eq!(latest_image(&shuffled), latest_image(&sorted));
        } else {
            prop_assert_eq!(latest_image(&shuffled), Some(shuffled[0].as_str()));
        }
    }
}

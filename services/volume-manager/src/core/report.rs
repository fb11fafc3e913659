//! lvm2's JSON reports (`--reportformat json --units b --nosuffix`) as plain data. Every number
//! arrives as a string of bytes or a count.

use serde::Deserialize;

/// The `-o` field lists the parsers below expect.
pub const VG_FIELDS: &str =
    "vg_name,vg_uuid,vg_size,vg_free,vg_extent_size,pv_count,lv_count,vg_tags,vg_attr";
pub const PV_FIELDS: &str = "pv_name,vg_name,pv_size,pv_free";
pub const LV_FIELDS: &str =
    "lv_name,vg_name,lv_uuid,lv_size,lv_tags,segtype,origin,lv_attr,lv_time";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Vg {
    pub name: String,
    pub uuid: String,
    pub size: u64,
    pub free: u64,
    pub extent_size: u64,
    pub pv_count: u32,
    pub lv_count: u32,
    pub tags: Vec<String>,
    pub attr: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Pv {
    pub name: String,
    pub vg: String,
    pub size: u64,
    pub free: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lv {
    pub name: String,
    pub vg: String,
    pub uuid: String,
    pub size: u64,
    pub tags: Vec<String>,
    pub segtype: String,
    /// The origin of a snapshot LV.
    pub origin: Option<String>,
    pub attr: String,
    /// Creation time as lvm prints it (`2026-12-02 07:01:30 +0000`).
    pub time: String,
}

impl Lv {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// The value of the first `key=value` tag.
    pub fn tag_value(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }

    /// Creation time in seconds since the epoch, when lvm's text parses.
    pub fn created_unix(&self) -> Option<i64> {
        chrono_free_parse(&self.time)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unexpected lvm report: {0}")]
pub struct ReportError(pub String);

#[derive(Deserialize)]
struct Report<T> {
    report: Vec<T>,
}

#[derive(Deserialize)]
struct VgSection {
    #[serde(default)]
    vg: Vec<RawVg>,
}
#[derive(Deserialize)]
struct PvSection {
    #[serde(default)]
    pv: Vec<RawPv>,
}
#[derive(Deserialize)]
struct LvSection {
    #[serde(default)]
    lv: Vec<RawLv>,
}

#[derive(Deserialize)]
struct RawVg {
    vg_name: String,
    vg_uuid: String,
    vg_size: String,
    vg_free: String,
    vg_extent_size: String,
    pv_count: String,
    lv_count: String,
    vg_tags: String,
    vg_attr: String,
}
#[derive(Deserialize)]
struct RawPv {
    pv_name: String,
    vg_name: String,
    pv_size: String,
    pv_free: String,
}
#[derive(Deserialize)]
struct RawLv {
    lv_name: String,
    vg_name: String,
    lv_uuid: String,
    lv_size: String,
    lv_tags: String,
    segtype: String,
    origin: String,
    lv_attr: String,
    lv_time: String,
}

fn number<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, ReportError> {
    value
        .trim()
        .parse()
        .map_err(|_| ReportError(format!("{field} {value:?} is not a number")))
}

fn tags(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn sections<T: for<'de> Deserialize<'de>>(json: &str) -> Result<Vec<T>, ReportError> {
    serde_json::from_str::<Report<T>>(json)
        .map(|r| r.report)
        .map_err(|e| ReportError(e.to_string()))
}

pub fn parse_vgs(json: &str) -> Result<Vec<Vg>, ReportError> {
    let mut out = Vec::new();
    for section in sections::<VgSection>(json)? {
        for v in section.vg {
            out.push(Vg {
                size: number("vg_size", &v.vg_size)?,
                free: number("vg_free", &v.vg_free)?,
                extent_size: number("vg_extent_size", &v.vg_extent_size)?,
                pv_count: number("pv_count", &v.pv_count)?,
                lv_count: number("lv_count", &v.lv_count)?,
                tags: tags(&v.vg_tags),
                name: v.vg_name,
                uuid: v.vg_uuid,
                attr: v.vg_attr,
            });
        }
    }
    Ok(out)
}

pub fn parse_pvs(json: &str) -> Result<Vec<Pv>, ReportError> {
    let mut out = Vec::new();
    for section in sections::<PvSection>(json)? {
        for p in section.pv {
            out.push(Pv {
                size: number("pv_size", &p.pv_size)?,
                free: number("pv_free", &p.pv_free)?,
                name: p.pv_name,
                vg: p.vg_name,
            });
        }
    }
    Ok(out)
}

/// Parses an LV report. `segtype` is a segment field, so lvm prints one row per segment of a
/// grown LV; the first row stands for the LV.
pub fn parse_lvs(json: &str) -> Result<Vec<Lv>, ReportError> {
    let mut out: Vec<Lv> = Vec::new();
    for section in sections::<LvSection>(json)? {
        for l in section.lv {
            if out.iter().any(|o| o.uuid == l.lv_uuid && o.vg == l.vg_name) {
                continue;
            }
            out.push(Lv {
                size: number("lv_size", &l.lv_size)?,
                tags: tags(&l.lv_tags),
                origin: Some(l.origin).filter(|o| !o.is_empty()),
                name: l.lv_name,
                vg: l.vg_name,
                uuid: l.lv_uuid,
                segtype: l.segtype,
                attr: l.lv_attr,
                time: l.lv_time,
            });
        }
    }
    Ok(out)
}

/// Parses `YYYY-MM-DD HH:MM:SS +HHMM` into Unix seconds (days-from-civil, no calendar crate).
fn chrono_free_parse(text: &str) -> Option<i64> {
    let mut parts = text.split_whitespace();
    let (date, time, zone) = (
        parts.next()?,
        parts.next()?,
        parts.next().unwrap_or("+0000"),
    );
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if d.len() != 3 || t.len() != 3 || zone.len() != 5 {
        return None;
    }
    let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let zh: i64 = zone[1..3].parse().ok()?;
    let zm: i64 = zone[3..5].parse().ok()?;
    Some(days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2] - sign * (zh * 3600 + zm * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_lvm_prints() {
        let vgs = parse_vgs(r#"{"report":[{"vg":[{"vg_name":"vgt","vg_uuid":"u","vg_size":"2139095040","vg_free":"1925185536","vg_extent_size":"4194304","pv_count":"2","lv_count":"2","vg_tags":"vg.metal-stack.io/csi-lvm-driver","vg_attr":"wz--n-"}]}]}"#).unwrap();
        assert_eq!(vgs[0].free, 1_925_185_536);
        assert_eq!(vgs[0].pv_count, 2);
        assert_eq!(vgs[0].tags, ["vg.metal-stack.io/csi-lvm-driver"]);
        let lvs = parse_lvs(r#"{"report":[{"lv":[{"lv_name":"lv1","vg_name":"vgt","lv_uuid":"x","lv_size":"104857600","lv_tags":"a,isBlock=true","segtype":"linear","origin":"","lv_attr":"-wi-XX----","lv_time":"2026-12-02 07:01:30 +0000"}]}]}"#).unwrap();
        assert_eq!(lvs[0].size, 104_857_600);
        assert_eq!(lvs[0].tag_value("isBlock"), Some("true"));
        assert!(lvs[0].origin.is_none());
        assert_eq!(lvs[0].created_unix(), Some(1_796_194_890));
        let two_segments = r#"{"report":[{"lv":[
            {"lv_name":"a","vg_name":"v","lv_uuid":"u1","lv_size":"8","lv_tags":"","segtype":"linear","origin":"","lv_attr":"","lv_time":""},
            {"lv_name":"a","vg_name":"v","lv_uuid":"u1","lv_size":"8","lv_tags":"","segtype":"linear","origin":"","lv_attr":"","lv_time":""},
            {"lv_name":"b","vg_name":"v","lv_uuid":"u2","lv_size":"4","lv_tags":"","segtype":"linear","origin":"","lv_attr":"","lv_time":""}]}]}"#;
        assert_eq!(
            parse_lvs(two_segments).unwrap().len(),
            2,
            "one entry per LV, not per segment"
        );
        assert!(parse_pvs(r#"{"report":[{}]}"#).unwrap().is_empty());
        assert!(parse_vgs("not json").is_err());
        assert!(parse_lvs(r#"{"report":[{"lv":[{"lv_name":"a","vg_name":"v","lv_uuid":"x","lv_size":"big","lv_tags":"","segtype":"","origin":"","lv_attr":"","lv_time":""}]}]}"#).is_err());
    }

    #[test]
    fn time_zones_are_applied() {
        assert_eq!(chrono_free_parse("1970-01-01 01:00:00 +0100"), Some(0));
        assert_eq!(
            chrono_free_parse("2000-03-01 00:00:00 -0000"),
            Some(951_868_800)
        );
        assert_eq!(chrono_free_parse("garbage"), None);
    }
}

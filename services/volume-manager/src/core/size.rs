//! Sizes: a CSI capacity range to the bytes an LV gets. lvm rounds every LV up to whole
//! extents (and striped LVs to whole stripes); the size chosen here is already rounded, so the
//! capacity returned to the CO is the LV's real size (upstream returned the requested bytes).

/// The capacity range of a request, as the CSI spec defines it (0 = unset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub required: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("capacity_range: {0}")]
    Invalid(String),
    #[error("capacity_range: {0}")]
    OutOfRange(String),
}

fn round_up(bytes: u64, unit: u64) -> u64 {
    bytes.div_ceil(unit).saturating_mul(unit)
}

/// The LV size for `range`: `required` (or `default` when 0, capped by `limit`) rounded up to a
/// multiple of `unit` (extent size × stripes); when that exceeds `limit`, the largest multiple
/// within it, which must still hold `required`.
pub fn choose(range: Range, default: u64, unit: u64) -> Result<u64, SizeError> {
    if range.required < 0 || range.limit < 0 {
        return Err(SizeError::Invalid(
            "required_bytes and limit_bytes must not be negative".into(),
        ));
    }
    let (required, limit) = (range.required as u64, range.limit as u64);
    if limit > 0 && required > limit {
        return Err(SizeError::Invalid(format!(
            "required_bytes {required} exceeds limit_bytes {limit}"
        )));
    }
    let unit = unit.max(1);
    let want = match (required, limit) {
        (0, 0) => default,
        (0, limit) => default.min(limit),
        (required, _) => required,
    };
    let size = round_up(want.max(1), unit);
    if limit == 0 || size <= limit {
        return Ok(size);
    }
    let down = limit / unit * unit;
    if down >= required.max(1) {
        Ok(down)
    } else {
        Err(SizeError::OutOfRange(format!(
            "no multiple of the {unit}-byte allocation unit lies between required_bytes \
             {required} and limit_bytes {limit}"
        )))
    }
}

/// Whether an existing LV of `size` bytes satisfies `range`.
pub fn satisfies(size: u64, range: Range) -> bool {
    size >= range.required.max(0) as u64 && (range.limit <= 0 || size <= range.limit as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const EXT: u64 = 4 * MIB;

    fn r(required: i64, limit: i64) -> Range {
        Range { required, limit }
    }

    #[test]
    fn required_is_rounded_up_to_whole_extents() {
        assert_eq!(choose(r(1, 0), GIB, EXT), Ok(EXT));
        assert_eq!(choose(r(100 * MIB as i64 + 1, 0), GIB, EXT), Ok(104 * MIB));
        assert_eq!(choose(r(EXT as i64, 0), GIB, EXT), Ok(EXT));
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn zero_takes_the_default_within_the_limit() {
        assert_eq!(choose(r(0, 0), GIB, EXT), Ok(GIB));
        assert_eq!(choose(r(0, 10 * MIB as i64), GIB, EXT), Ok(8 * MIB));
    }

    #[test]
    fn the_limit_is_honoured() {
        assert_eq!(
            choose(r(5 * MIB as i64, 9 * MIB as i64), GIB, EXT),
            Ok(8 * MIB)
        );
        assert!(matches!(
            choose(r(5 * MIB as i64, 7 * MIB as i64), GIB, EXT),
            Err(SizeError::OutOfRange(_))
        ));
        assert!(matches!(
            choose(r(10, 5), GIB, EXT),
            Err(SizeError::Invalid(_))
        ));
        assert!(matches!(
            choose(r(-1, 0), GIB, EXT),
            Err(SizeError::Invalid(_))
        ));
    }

    #[test]
    fn stripes_round_to_whole_stripes() {
        assert_eq!(choose(r(100 * MIB as i64, 0), GIB, 2 * EXT), Ok(104 * MIB));
        assert_eq!(choose(r(101 * MIB as i64, 0), GIB, 2 * EXT), Ok(104 * MIB));
        assert_eq!(choose(r(105 * MIB as i64, 0), GIB, 2 * EXT), Ok(112 * MIB));
    }

    #[test]
    fn satisfies_checks_both_ends() {
        assert!(satisfies(8 * MIB, r(5 * MIB as i64, 0)));
        assert!(!satisfies(8 * MIB, r(9 * MIB as i64, 0)));
        assert!(!satisfies(8 * MIB, r(0, 7 * MIB as i64)));
        assert!(satisfies(8 * MIB, r(0, 0)));
    }
}

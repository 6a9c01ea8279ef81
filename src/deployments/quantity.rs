//! Kubernetes resource quantities (`500m`, `8Gi`, `1.5`, `2e3`): checked as
//! the API server parses them, and read as numbers to compare a default
//! limit with a quota or a quota's use with its hard limit.

/// The value of a quantity in base units (cores, bytes, counts), or why
/// it is not one. The grammar is the API server's:
/// `<number>[Ki|Mi|Gi|Ti|Pi|Ei | n|u|m|k|M|G|T|P|E | e<exp>|E<exp>]`.
pub fn parse(text: &str) -> Result<f64, String> {
    let bad = || {
        format!(
            "`{text}` is not a Kubernetes quantity (a number with an optional suffix: \
             500m, 2, 1.5, 8Gi, 512Mi, 1e3)"
        )
    };
    let end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '+' || c == '-'))))
        .map_or(text.len(), |(i, _)| i);
    let (number, suffix) = text.split_at(end);
    let digits = number.trim_start_matches(['+', '-']);
    if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with(['e', 'E']) => {
            let exp = &s[1..];
            let digits = exp.trim_start_matches(['+', '-']);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            10f64.powi(exp.parse::<i32>().map_err(|_| bad())?)
        }
        _ => return Err(bad()),
    };
    Ok(value * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_as_the_api_server_reads_them() {
        assert_eq!(parse("4").unwrap(), 4.0);
        assert_eq!(parse("500m").unwrap(), 0.5);
        assert_eq!(parse("8Gi").unwrap(), 8.0 * 1024.0 * 1024.0 * 1024.0);
        assert_eq!(parse("128M").unwrap(), 128e6);
        assert_eq!(parse("1.5").unwrap(), 1.5);
        assert_eq!(parse("2e3").unwrap(), 2000.0);
        assert_eq!(parse("1E-3").unwrap(), 0.001);
        assert_eq!(parse("+1k").unwrap(), 1000.0);
        for bad in [
            "", "Gi", "4 Gi", "4GB", "1..2", "e3", "4x", "1e", "1e+", ".",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}

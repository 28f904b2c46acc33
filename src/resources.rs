//! Compute resources as recipes and the nightly's configuration write them: memory sizes
//! (`4G`) and wall times (`1h30m`, Slurm's `D-HH:MM:SS`), parsed to MiB and minutes.

/// `4G`, `4096M`, `512` (MiB), as MiB.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, factor) = match text.char_indices().last() {
        Some((index, unit)) if unit.is_ascii_alphabetic() => {
            let factor = match unit.to_ascii_uppercase() {
                'K' => return parse_number(&text[..index]).map(|kib| kib.div_ceil(1024)),
                'M' => 1,
                'G' => 1024,
                'T' => 1024 * 1024,
                _ => return Err(format!("`{text}`: the unit is K, M, G or T")),
            };
            (&text[..index], factor)
        }
        _ => (text, 1),
    };
    let value = parse_number(number).map_err(|_| format!("`{text}` is not a size like 4G or 512M"))? * factor;
    if value == 0 {
        return Err(format!("`{text}`: at least 1M"));
    }
    Ok(value)
}

fn parse_number(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| format!("`{text}` is not a whole number"))
}

/// `90m`, `2h`, `1h30m`, `45` (minutes), or Slurm's `[D-]HH:MM[:SS]`, as minutes.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a time like 90m, 2h, 1h30m or 01:30:00");
    if text.contains(':') {
        let (days, clock) = match text.split_once('-') {
            Some((days, clock)) => (parse_number(days).map_err(|_| bad())?, clock),
            None => (0, text),
        };
        let parts: Vec<u64> = clock
            .split(':')
            .map(|part| parse_number(part).map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let minutes = match parts.as_slice() {
            [hours, minutes] => hours * 60 + minutes,
            [hours, minutes, seconds] => hours * 60 + minutes + u64::from(*seconds > 0),
            _ => return Err(bad()),
        };
        return Ok(days * 24 * 60 + minutes)
            .and_then(|total| if total == 0 { Err(bad()) } else { Ok(total) });
    }
    let mut total = 0;
    let mut number = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => number.push(c),
            'd' | 'h' | 'm' if !number.is_empty() => {
                let value = parse_number(&number).map_err(|_| bad())?;
                total += value
                    * match c {
                        'd' => 24 * 60,
                        'h' => 60,
                        _ => 1,
                    };
                number.clear();
            }
            _ => return Err(bad()),
        }
    }
    if !number.is_empty() {
        total += parse_number(&number).map_err(|_| bad())?;
    }
    if total == 0 {
        return Err(bad());
    }
    Ok(total)
}

/// `HH:MM:00` for `sbatch --time`.
pub fn slurm_time(minutes: u64) -> String {
    format!("{:02}:{:02}:00", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times() {
        assert_eq!(parse_memory("4G"), Ok(4096));
        assert_eq!(parse_memory("512M"), Ok(512));
        assert_eq!(parse_memory("2048"), Ok(2048));
        assert!(parse_memory("0").is_err());
        assert!(parse_memory("4X").is_err());
        assert_eq!(parse_time("90m"), Ok(90));
        assert_eq!(parse_time("1h30m"), Ok(90));
        assert_eq!(parse_time("01:30:00"), Ok(90));
        assert_eq!(parse_time("1-00:00"), Ok(1440));
        assert_eq!(parse_time("45"), Ok(45));
        assert!(parse_time("soon").is_err());
        assert!(parse_time("0m").is_err());
        assert_eq!(slurm_time(90), "01:30:00");
    }
}

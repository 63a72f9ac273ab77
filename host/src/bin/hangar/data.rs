//! An app's records and logs.

use std::path::Path;

use anyhow::Result;

use crate::{open, print_json};

/// Dump an app's records.
pub fn data(dir: &Path, app: String, json: bool) -> Result<()> {
    let (host, _) = open(dir)?;
    let records = host.records(&app)?;
    if json {
        let out: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "associations": r.associations,
                    "data": serde_json::from_str::<serde_json::Value>(&r.data).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect();
        return print_json(&out);
    }
    if records.is_empty() {
        say!("app {app} has no records");
    }
    for r in records {
        let assoc: Vec<String> = r
            .associations
            .iter()
            .map(|a| format!("{}:{}", a.model.as_str(), a.id))
            .collect();
        say!("{}  [{}]  {}", r.id, assoc.join(", "), r.data);
    }
    Ok(())
}

/// Show (or follow) an app's logs.
pub fn logs(dir: &Path, app: String, lines: usize, follow: bool, json: bool) -> Result<()> {
    let (host, _) = open(dir)?;
    let mut last = 0;
    let mut batch = host.logs(&app, lines)?;
    loop {
        for l in &batch {
            last = l.seq;
            if json {
                say!("{}", serde_json::to_string(l)?);
            } else {
                say!(
                    "{} {:<5} {:<4} {}",
                    utc(l.time),
                    l.level,
                    l.source,
                    l.message
                );
            }
        }
        if !follow || crate::stdout_gone() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        batch = host.logs_after(&app, last, 1000)?;
    }
    Ok(())
}

/// Milliseconds since the Unix epoch as `2026-11-28 03:21:05.123Z`.
fn utc(ms: u64) -> String {
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_epoch_milliseconds() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00.000Z");
        assert_eq!(super::utc(1_795_835_951_907), "2026-11-28 03:19:11.907Z");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00.000Z");
    }
}

//! The API proxy benchmark's figures (`results.json`'s `proxy`), its targets and its table:
//! what `proxy_bench.rs` measures, as `cargo xtask bench --check` judges and BENCHMARKS.md shows
//! it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::results::{ratio_cell, Check, ServerRuns, Stat};

/// The signer's API proxy.
pub(crate) const SIGNER_PROXY: &str = "grafx-signer proxy";
/// nginx `proxy_pass`.
pub(crate) const NGINX: &str = "nginx proxy_pass";
/// The emulator, asked straight with the bearer.
pub(crate) const DIRECT: &str = "emulator, direct";
/// The ways to the API, in the tables' order.
pub(crate) const WAYS: [&str; 3] = [SIGNER_PROXY, NGINX, DIRECT];
/// The routes measured.
pub(crate) const ROUTES: [&str; 2] = ["GET output/settings", "POST projects"];
/// The connection count the targets are held at.
pub(crate) const CHECK_CONNECTIONS: u32 = 64;
/// The signer's proxy throughput ÷ nginx's, at least.
pub(crate) const MIN_RATIO_TO_NGINX: f64 = 0.80;
/// The p99 the signer adds to the emulator's ÷ the p99 nginx adds, at most.
pub(crate) const MAX_ADDED_P99_RATIO: f64 = 1.5;
/// The signer's RSS growth while it streams the download, at most.
pub(crate) const MAX_DOWNLOAD_RSS_GROWTH_KB: u64 = 4 * 1024;

/// One way's download: MB/s (10⁶ bytes) and, for the signer, its RSS growth.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Download {
    pub mb_per_s: Stat,
    #[serde(default)]
    pub rss_growth_kb: Option<u64>,
}

/// The proxy figures in `results.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ProxyBench {
    /// `nginx -v`.
    pub nginx: String,
    /// Route → connections → way → runs.
    #[serde(deserialize_with = "by_connections")]
    pub routes: ByConnections<ServerRuns>,
    pub download_bytes: u64,
    /// Way → its downloads.
    pub download: BTreeMap<String, Download>,
    /// Route → connections → proxy → CPU µs per request (median of the repeats).
    #[serde(default, deserialize_with = "by_connections")]
    pub cpu_us_per_request: ByConnections<f64>,
}

/// Route → connections → way → `T`.
pub(crate) type ByConnections<T> = BTreeMap<String, BTreeMap<u32, BTreeMap<String, T>>>;

/// A [`ByConnections`] table, its connection counts read from JSON's string keys by hand:
/// inside the untagged [`crate::results::Measured`], serde cannot turn a string key into a
/// number itself.
fn by_connections<'de, D, T>(d: D) -> Result<ByConnections<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let raw = BTreeMap::<String, BTreeMap<String, BTreeMap<String, T>>>::deserialize(d)?;
    raw.into_iter()
        .map(|(route, by)| {
            let by = by
                .into_iter()
                .map(|(c, row)| {
                    c.parse::<u32>()
                        .map(|c| (c, row))
                        .map_err(|_| serde::de::Error::custom(format!("connections {c:?}")))
                })
                .collect::<Result<_, _>>()?;
            Ok((route, by))
        })
        .collect()
}

impl ProxyBench {
    /// The median of `way` on `route` at `c` connections.
    fn runs(&self, route: &str, c: u32, way: &str) -> Option<&ServerRuns> {
        self.routes.get(route)?.get(&c)?.get(way)
    }

    /// The signer's req/s ÷ nginx's in each repeat, in repeat order: the two ways ran in the
    /// same repeat (from 8b6ab14 on one right after the other, each first in every other
    /// repeat: `proxy_bench::way_order`), so a slow stretch of the machine weighs on both sides of a
    /// pair. `None` unless both have the same number of runs,
    /// two or more.
    fn paired_ratios(&self, route: &str, c: u32) -> Option<Vec<f64>> {
        let signer = &self.runs(route, c, SIGNER_PROXY)?.rps.runs;
        let nginx = &self.runs(route, c, NGINX)?.rps.runs;
        (signer.len() > 1 && signer.len() == nginx.len())
            .then(|| signer.iter().zip(nginx).map(|(s, n)| s / n).collect())
    }

    /// The repeat-by-repeat ratios, said beside the ratio of the medians the target is judged
    /// on (the two read differently when the machine drifts during a run): their median and
    /// range; nothing without [`paired_ratios`](Self::paired_ratios).
    fn paired_note(&self, route: &str, c: u32) -> String {
        self.paired_ratios(route, c).map_or(String::new(), |pairs| {
            let s = Stat::of(&pairs);
            format!(
                " (repeat by repeat: median {:.2}×, {:.2}–{:.2})",
                s.median, s.min, s.max
            )
        })
    }

    /// The list of every route's and connection count's repeat-by-repeat ratios, under the
    /// proxy's table; nothing when no runs pair up.
    fn paired_list(&self) -> String {
        let mut lines = String::new();
        for (route, by_conns) in &self.routes {
            for c in by_conns.keys() {
                let Some(pairs) = self.paired_ratios(route, *c) else {
                    continue;
                };
                let shown: Vec<String> = pairs.iter().map(|r| format!("{r:.2}")).collect();
                lines += &format!(
                    "- `{route}` at {c}: {} (median {:.2})\n",
                    shown.join(", "),
                    Stat::of(&pairs).median
                );
            }
        }
        if lines.is_empty() {
            return lines;
        }
        format!("\ngrafx-signer ÷ nginx req/s repeat by repeat (the two ran in the same repeat; the ratios above are of the medians):\n\n{lines}")
    }

    /// The proxy's targets; `None` (not measured) misses every one.
    pub(crate) fn checks(bench: Option<&Self>) -> Vec<Check> {
        let mut checks = Vec::new();
        let c = CHECK_CONNECTIONS;
        let shown = |v: Option<f64>, unit: &str| {
            v.map_or("not measured".into(), |v| format!("{v:.2}{unit}"))
        };
        for route in ROUTES {
            let runs = |way| bench.and_then(|b| b.runs(route, c, way));
            let rps = |way| runs(way).map(|r| r.rps.median);
            let ratio = rps(SIGNER_PROXY).zip(rps(NGINX)).map(|(s, n)| s / n);
            checks.push(Check {
                what: format!(
                    "`{route}` through the proxy at {c} connections: grafx-signer ÷ nginx"
                ),
                target: format!("at least {MIN_RATIO_TO_NGINX:.2}×"),
                measured: shown(ratio, "×")
                    + &bench.map_or(String::new(), |b| b.paired_note(route, c)),
                met: ratio.is_some_and(|r| r >= MIN_RATIO_TO_NGINX),
            });
            // What a proxy adds to the emulator's own p99; a run where the emulator alone was
            // slower than through a proxy measured the emulator's hiccups, not the proxies.
            let p99 = |way| runs(way).map(|r| r.p99_us.median);
            let added = |way| p99(way).zip(p99(DIRECT)).map(|(p, d)| p - d);
            let (measured, met) = match added(SIGNER_PROXY).zip(added(NGINX)) {
                None => ("not measured".to_owned(), false),
                Some((s, n)) if s <= 0.0 || n <= 0.0 => (
                    "not measured (the emulator's own p99 exceeded a proxy's)".to_owned(),
                    false,
                ),
                Some((s, n)) => (format!("{:.2}×", s / n), s / n <= MAX_ADDED_P99_RATIO),
            };
            checks.push(Check {
                what: format!("`{route}` at {c} connections: p99 the signer adds ÷ p99 nginx adds"),
                target: format!("at most {MAX_ADDED_P99_RATIO:.2}×"),
                measured,
                met,
            });
        }
        let speed = |way| {
            bench
                .and_then(|b| b.download.get(way))
                .map(|d| d.mb_per_s.median)
        };
        let ratio = speed(SIGNER_PROXY).zip(speed(NGINX)).map(|(s, n)| s / n);
        checks.push(Check {
            what: "64 MiB download through the proxy: grafx-signer ÷ nginx MB/s".into(),
            target: format!("at least {MIN_RATIO_TO_NGINX:.2}×"),
            measured: shown(ratio, "×"),
            met: ratio.is_some_and(|r| r >= MIN_RATIO_TO_NGINX),
        });
        let growth = bench
            .and_then(|b| b.download.get(SIGNER_PROXY))
            .and_then(|d| d.rss_growth_kb);
        checks.push(Check {
            what: "64 MiB download through the proxy: signer RSS growth".into(),
            target: format!("at most {MAX_DOWNLOAD_RSS_GROWTH_KB} KB"),
            measured: growth.map_or("not measured".into(), |kb| format!("{kb} KB")),
            met: growth.is_some_and(|kb| kb <= MAX_DOWNLOAD_RSS_GROWTH_KB),
        });
        checks
    }

    /// The section of `results.md` and BENCHMARKS.md.
    pub(crate) fn markdown(&self) -> String {
        let mut md = format!(
            "## The API proxy against nginx\n\nThe emulator as upstream, on the proxy's core; nginx {} (`proxy_pass` with `proxy_set_header Authorization`, one worker, upstream keep-alive for every connection, no per-connection request limit, access log on); `emulator, direct` is the same request with the bearer, no proxy. \"added p99\" is the way's p99 minus the direct p99; \"CPU µs/req\" is the proxy's own user + system time per request (the throughput ratio is diluted by the emulator's share of the core; this is not).\n\n| route | connections | way | req/s median (min–max) | p50 µs | p99 µs | added p99 µs | CPU µs/req | signer ÷ way |\n|---|---|---|---|---|---|---|---|---|\n",
            self.nginx
        );
        for (route, by_conns) in &self.routes {
            for (c, row) in by_conns {
                let direct_p99 = row.get(DIRECT).map_or(f64::NAN, |r| r.p99_us.median);
                let signer = row.get(SIGNER_PROXY).map_or(f64::NAN, |r| r.rps.median);
                for way in WAYS {
                    let Some(r) = row.get(way) else { continue };
                    let ratio = ratio_cell(way == SIGNER_PROXY, signer, r.rps.median);
                    let added = if way == DIRECT {
                        "–".into()
                    } else {
                        format!("{:.0}", r.p99_us.median - direct_p99)
                    };
                    let cpu = self
                        .cpu_us_per_request
                        .get(route)
                        .and_then(|by| by.get(c))
                        .and_then(|row| row.get(way))
                        .map_or("–".into(), |us| format!("{us:.1}"));
                    md += &format!(
                        "| `{route}` | {c} | {way} | {:.0} ({:.0}–{:.0}) | {:.0} | {:.0} | {added} | {cpu} | {ratio} |\n",
                        r.rps.median, r.rps.min, r.rps.max, r.p50_us.median, r.p99_us.median
                    );
                }
            }
        }
        md += &self.paired_list();
        md += &format!(
            "\n| {} MiB download | MB/s median (min–max) | signer RSS growth |\n|---|---|---|\n",
            self.download_bytes / (1024 * 1024)
        );
        for way in WAYS {
            let Some(d) = self.download.get(way) else {
                continue;
            };
            md += &format!(
                "| {way} | {:.0} ({:.0}–{:.0}) | {} |\n",
                d.mb_per_s.median,
                d.mb_per_s.min,
                d.mb_per_s.max,
                d.rss_growth_kb.map_or("–".into(), |kb| format!("{kb} KB"))
            );
        }
        md + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(rps: f64, p99: f64) -> ServerRuns {
        ServerRuns {
            rps: Stat::of(&[rps]),
            p50_us: Stat::of(&[p99 / 2.0]),
            p99_us: Stat::of(&[p99]),
        }
    }

    fn bench(signer: (f64, f64), speed: f64, growth: u64) -> ProxyBench {
        let row: BTreeMap<String, ServerRuns> = [
            (SIGNER_PROXY.to_owned(), runs(signer.0, signer.1)),
            (NGINX.to_owned(), runs(1000.0, 600.0)),
            (DIRECT.to_owned(), runs(2000.0, 400.0)),
        ]
        .into_iter()
        .collect();
        let routes = ROUTES
            .iter()
            .map(|r| {
                let by: BTreeMap<u32, _> = [(CHECK_CONNECTIONS, row_clone(&row))].into();
                ((*r).to_owned(), by)
            })
            .collect();
        let download = [
            (
                SIGNER_PROXY.to_owned(),
                Download {
                    mb_per_s: Stat::of(&[speed]),
                    rss_growth_kb: Some(growth),
                },
            ),
            (
                NGINX.to_owned(),
                Download {
                    mb_per_s: Stat::of(&[1000.0]),
                    rss_growth_kb: None,
                },
            ),
        ]
        .into();
        ProxyBench {
            nginx: "nginx/1.26.3".into(),
            routes,
            download_bytes: 64 * 1024 * 1024,
            download,
            cpu_us_per_request: BTreeMap::new(),
        }
    }

    fn row_clone(row: &BTreeMap<String, ServerRuns>) -> BTreeMap<String, ServerRuns> {
        row.iter()
            .map(|(k, r)| (k.clone(), runs(r.rps.median, r.p99_us.median)))
            .collect()
    }

    fn met(checks: &[Check]) -> Vec<bool> {
        checks.iter().map(|c| c.met).collect()
    }

    #[test]
    fn the_targets_hold_the_signer_to_nginx_at_their_bounds() {
        // nginx: 1000 req/s, adds 200 µs of p99; 1000 MB/s.
        let at_bounds = bench((800.0, 700.0), 800.0, 4096);
        assert_eq!(met(&ProxyBench::checks(Some(&at_bounds))), vec![true; 6]);
        let slower = bench((799.0, 701.0), 799.0, 4097);
        assert_eq!(met(&ProxyBench::checks(Some(&slower))), vec![false; 6]);
        let checks = ProxyBench::checks(Some(&at_bounds));
        assert_eq!(checks[0].measured, "0.80×");
        assert_eq!(checks[1].measured, "1.50×");
        assert_eq!(checks[5].measured, "4096 KB");
        // The emulator alone slower than through nginx: the p99 checks say so and fail.
        let mut noisy = bench((900.0, 700.0), 900.0, 100);
        for by in noisy.routes.values_mut() {
            let row = by.get_mut(&CHECK_CONNECTIONS).unwrap();
            row.insert(DIRECT.to_owned(), runs(2000.0, 650.0));
        }
        let checks = ProxyBench::checks(Some(&noisy));
        assert_eq!(met(&checks), vec![true, false, true, false, true, true]);
        assert!(
            checks[1].measured.contains("exceeded"),
            "{}",
            checks[1].measured
        );
        // Not measured: every target missed, and said so.
        let none = ProxyBench::checks(None);
        assert_eq!(met(&none), vec![false; 6]);
        assert!(none.iter().all(|c| c.measured == "not measured"));
    }

    #[test]
    fn the_ratio_is_also_said_repeat_by_repeat() {
        let with_rps = |rps: &[f64]| ServerRuns {
            rps: Stat::of(rps),
            p50_us: Stat::of(&[300.0]),
            p99_us: Stat::of(&[600.0]),
        };
        let mut b = bench((800.0, 700.0), 800.0, 100);
        // Pairs of 0.90×, 0.80× and 0.60×; the medians' ratio is 630 ÷ 900.
        for by in b.routes.values_mut() {
            let row = by.get_mut(&CHECK_CONNECTIONS).unwrap();
            row.insert(SIGNER_PROXY.to_owned(), with_rps(&[630.0, 800.0, 540.0]));
            row.insert(NGINX.to_owned(), with_rps(&[700.0, 1000.0, 900.0]));
        }
        let checks = ProxyBench::checks(Some(&b));
        assert_eq!(
            checks[0].measured,
            "0.70× (repeat by repeat: median 0.80×, 0.60–0.90)"
        );
        assert!(!checks[0].met, "judged on the medians' ratio");
        let md = b.markdown();
        assert!(
            md.contains("- `GET output/settings` at 64: 0.90, 0.80, 0.60 (median 0.80)\n"),
            "{md}"
        );
        // Runs that cannot be paired are not.
        for by in b.routes.values_mut() {
            let row = by.get_mut(&CHECK_CONNECTIONS).unwrap();
            row.insert(NGINX.to_owned(), with_rps(&[1000.0, 1000.0]));
        }
        assert_eq!(ProxyBench::checks(Some(&b))[0].measured, "0.63×");
        assert!(!b.markdown().contains("at 64:"));
    }
}

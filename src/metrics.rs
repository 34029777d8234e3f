//! `GET /metrics`: counters and latency histograms of the requests served and the Airbyte calls
//! made, kept in memory and rendered in the Prometheus text format (version 0.0.4).
//!
//! Labels come from fixed sets (the routes, the Airbyte calls, the outcomes), never from client
//! input, so the number of series stays bounded whatever clients send.

use crate::sync::{lock, Mutex};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

#[derive(Default, Clone)]
struct Histogram {
    /// Observations at or below each bucket's bound (not cumulative; summed when rendered).
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|&bound| seconds <= bound) {
            self.buckets[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn add(&mut self, other: &Histogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// A label (a route, a call, a status or an outcome) compared by where its text is rather than by
/// the text: labels are the program's own constants, so a request's lookups compare numbers, not
/// strings. Two constants with the same text may sit at two addresses; [`Series::merged`] adds
/// them up by text when the metrics are rendered.
#[derive(Debug, Clone, Copy)]
struct Label(&'static str);

impl PartialEq for Label {
    fn eq(&self, other: &Label) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

/// How one series is counted and timed: a few dozen entries at most (routes or calls, times the
/// statuses or outcomes they have had), in the order first seen, found by a scan of addresses.
#[derive(Default)]
struct Series {
    counts: Vec<((Label, Label), u64)>,
    latency: Vec<(Label, Histogram)>,
}

/// A series as it is rendered: by text, in order.
struct Merged {
    counts: BTreeMap<(&'static str, &'static str), u64>,
    latency: BTreeMap<&'static str, Histogram>,
}

/// The value `entries` keeps for `key`, added as its default the first time.
fn entry<K: PartialEq, V: Default>(entries: &mut Vec<(K, V)>, key: K) -> &mut V {
    let i = match entries.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            entries.push((key, V::default()));
            entries.len() - 1
        }
    };
    &mut entries[i].1
}

impl Series {
    fn observe(&mut self, key: &'static str, label: &'static str, elapsed: Duration) {
        *entry(&mut self.counts, (Label(key), Label(label))) += 1;
        entry(&mut self.latency, Label(key)).observe(elapsed.as_secs_f64());
    }

    fn merged(&self) -> Merged {
        let mut merged = Merged {
            counts: BTreeMap::new(),
            latency: BTreeMap::new(),
        };
        for &((key, label), n) in &self.counts {
            *merged.counts.entry((key.0, label.0)).or_default() += n;
        }
        for (key, histogram) in &self.latency {
            merged.latency.entry(key.0).or_default().add(histogram);
        }
        merged
    }
}

/// The service's metrics. One per process, shared by the server and the Airbyte client.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<Series>,
    airbyte: Mutex<Series>,
    in_flight: AtomicI64,
    waiting: AtomicI64,
}

/// Counts one in a gauge until dropped.
pub struct Counted<'a>(&'a AtomicI64);

impl<'a> Counted<'a> {
    fn new(gauge: &'a AtomicI64) -> Counted<'a> {
        gauge.fetch_add(1, Ordering::Relaxed);
        Counted(gauge)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// HTTP status codes as static labels (the service answers only these).
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        400 => "400",
        401 => "401",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        413 => "413",
        414 => "414",
        415 => "415",
        417 => "417",
        422 => "422",
        431 => "431",
        500 => "500",
        501 => "501",
        502 => "502",
        503 => "503",
        504 => "504",
        505 => "505",
        _ => "other",
    }
}

impl Metrics {
    /// Counts a request as in flight for the guard's lifetime.
    pub fn start_request(&self) -> Counted<'_> {
        Counted::new(&self.in_flight)
    }

    /// Counts a request as waiting on a job between two reads (in flight, holding no worker
    /// slot) for the guard's lifetime.
    pub fn start_waiting(&self) -> Counted<'_> {
        Counted::new(&self.waiting)
    }

    /// Records an answered request; `route` is a route path or `unmatched`.
    pub fn observe_request(&self, route: &'static str, status: u16, elapsed: Duration) {
        lock(&self.requests).observe(route, status_label(status), elapsed);
    }

    /// Records an Airbyte call and how it ended.
    pub fn observe_airbyte(&self, call: &'static str, outcome: &'static str, elapsed: Duration) {
        lock(&self.airbyte).observe(call, outcome, elapsed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let families = [
            (
                &self.requests,
                "requests",
                "route",
                "status",
                "HTTP requests answered",
            ),
            (
                &self.airbyte,
                "airbyte_calls",
                "call",
                "outcome",
                "Airbyte API calls made",
            ),
        ];
        for (series, name, key, label, help) in families {
            let series = lock(series).merged();
            let _ = writeln!(
                out,
                "# HELP airbyte_wrapper_{name}_total {help}, by {key} and {label}."
            );
            let _ = writeln!(out, "# TYPE airbyte_wrapper_{name}_total counter");
            for ((k, l), n) in &series.counts {
                let _ = writeln!(
                    out,
                    "airbyte_wrapper_{name}_total{{{key}=\"{k}\",{label}=\"{l}\"}} {n}"
                );
            }
            let histogram = format!(
                "airbyte_wrapper_{}_duration_seconds",
                name.trim_end_matches('s')
            );
            let _ = writeln!(
                out,
                "# HELP {histogram} Latency of {}, by {key}.",
                help.to_lowercase()
            );
            let _ = writeln!(out, "# TYPE {histogram} histogram");
            for (k, h) in &series.latency {
                h.render(&mut out, &histogram, &format!("{key}=\"{k}\""));
            }
        }
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        gauge(
            &mut out,
            "in_flight_requests",
            "Requests being handled now.",
            "",
            in_flight,
        );
        gauge(
            &mut out,
            "waiting_requests",
            "Requests in flight that wait on an Airbyte job between two reads of it (?wait=), holding no worker slot.",
            "",
            self.waiting.load(Ordering::Relaxed),
        );
        let version = format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
        gauge(&mut out, "build_info", "The running version.", &version, 1);
        out
    }
}

/// One gauge, with its help and type lines.
fn gauge(out: &mut String, name: &str, help: &str, labels: &str, value: i64) {
    let _ = writeln!(out, "# HELP airbyte_wrapper_{name} {help}");
    let _ = writeln!(out, "# TYPE airbyte_wrapper_{name} gauge");
    let _ = writeln!(out, "airbyte_wrapper_{name}{labels} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.observe_request("/sink", 201, Duration::from_millis(3));
        m.observe_request("/sink", 201, Duration::from_millis(30));
        m.observe_request("/sink", 422, Duration::from_millis(1));
        m.observe_airbyte("destinations/create", "success", Duration::from_millis(2));
        let _guard = m.start_request();
        let text = m.render();
        assert!(
            text.contains("airbyte_wrapper_requests_total{route=\"/sink\",status=\"201\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("airbyte_wrapper_requests_total{route=\"/sink\",status=\"422\"} 1\n"));
        assert!(text.contains(
            "airbyte_wrapper_request_duration_seconds_bucket{route=\"/sink\",le=\"0.005\"} 2\n"
        ));
        assert!(text.contains(
            "airbyte_wrapper_request_duration_seconds_bucket{route=\"/sink\",le=\"+Inf\"} 3\n"
        ));
        assert!(
            text.contains("airbyte_wrapper_request_duration_seconds_count{route=\"/sink\"} 3\n")
        );
        assert!(text.contains("airbyte_wrapper_airbyte_calls_total{call=\"destinations/create\",outcome=\"success\"} 1\n"));
        assert!(text.contains(
            "airbyte_wrapper_airbyte_call_duration_seconds_count{call=\"destinations/create\"} 1\n"
        ));
        assert!(text.contains("airbyte_wrapper_in_flight_requests 1\n"));
        assert!(text.contains("airbyte_wrapper_build_info{version=\""));
    }

    #[test]
    fn labels_with_the_same_text_at_two_addresses_are_one_series() {
        let m = Metrics::default();
        let elsewhere: &'static str = Box::leak(String::from("/sink").into_boxed_str());
        assert_ne!(elsewhere.as_ptr(), "/sink".as_ptr());
        m.observe_request("/sink", 201, Duration::from_millis(3));
        m.observe_request(elsewhere, 201, Duration::from_millis(30));
        let text = m.render();
        assert!(
            text.contains("airbyte_wrapper_requests_total{route=\"/sink\",status=\"201\"} 2\n"),
            "{text}"
        );
        assert_eq!(text.matches("requests_total{route=\"/sink\"").count(), 1);
        assert!(
            text.contains("airbyte_wrapper_request_duration_seconds_count{route=\"/sink\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("airbyte_wrapper_request_duration_seconds_sum{route=\"/sink\"} 0.033\n")
        );
    }

    #[test]
    fn waiting_requests_are_counted_while_they_wait() {
        let m = Metrics::default();
        let waiting = m.start_waiting();
        assert!(m.render().contains("airbyte_wrapper_waiting_requests 1\n"));
        drop(waiting);
        assert!(m.render().contains("airbyte_wrapper_waiting_requests 0\n"));
    }

    #[test]
    fn in_flight_falls_when_requests_end() {
        let m = Metrics::default();
        drop(m.start_request());
        assert!(m
            .render()
            .contains("airbyte_wrapper_in_flight_requests 0\n"));
    }
}

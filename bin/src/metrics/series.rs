//! Labelled integer gauges and counters that cost little per series.
//!
//! A hub has some 30 series per peer (state, prefixes per family, messages
//! and NOTIFICATIONs by type, ...). The `prometheus` crate's `IntGaugeVec`
//! keeps each series as its own metric: a copy of the family's descriptor
//! (name and help text included), a `LabelPair` with two `String`s per
//! label, hashes and an `Arc`: about 700 bytes a series, 23 KB a peer
//! (heaptrack, 300 peers). Here a series is its label values joined in one
//! string and an atomic: about 100 bytes. The exposition is built when
//! scraped, as `prometheus` would build it (labels sorted by name; the
//! registry sorts the series).
//!
//! The handles have the methods of the `prometheus` ones the daemon uses
//! (`with_label_values(..).set/inc/inc_by/get`), so call sites don't change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};

/// Separates label values in a series' key; label values never contain it
/// (peer names, addresses, numbers, fixed words).
const SEP: char = '\u{1f}';

#[derive(Debug)]
struct Family {
    desc: Desc,
    /// Label names, as declared.
    labels: Vec<String>,
    /// Sorted label name order: `order[i]` is the declared index of the
    /// i-th label by name.
    order: Vec<usize>,
    kind: MetricType,
    series: Mutex<HashMap<Box<str>, Arc<AtomicI64>>>,
}

impl Family {
    fn new(
        name: &str,
        help: &str,
        labels: &[&str],
        kind: MetricType,
    ) -> prometheus::Result<Family> {
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        let desc = Desc::new(name.into(), help.into(), labels.clone(), HashMap::new())?;
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.sort_by(|a, b| labels[*a].cmp(&labels[*b]));
        Ok(Family {
            desc,
            labels,
            order,
            kind,
            series: Mutex::new(HashMap::new()),
        })
    }

    /// The key of the series with these label values.
    fn key<V: AsRef<str>>(&self, values: &[V]) -> String {
        assert_eq!(
            values.len(),
            self.labels.len(),
            "{}: {} label values for {} labels",
            self.desc.fq_name,
            values.len(),
            self.labels.len()
        );
        let mut key = String::with_capacity(values.iter().map(|v| v.as_ref().len() + 1).sum());
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                key.push(SEP);
            }
            key.push_str(v.as_ref());
        }
        key
    }

    /// The series with these label values, created at 0.
    fn series<V: AsRef<str>>(&self, values: &[V]) -> Arc<AtomicI64> {
        let key = self.key(values);
        let mut series = self.series.lock().unwrap();
        if let Some(s) = series.get(key.as_str()) {
            return s.clone();
        }
        let s = Arc::new(AtomicI64::new(0));
        series.insert(key.into_boxed_str(), s.clone());
        s
    }

    fn remove<V: AsRef<str>>(&self, values: &[V]) -> bool {
        let key = self.key(values);
        self.series.lock().unwrap().remove(key.as_str()).is_some()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let series = self.series.lock().unwrap();
        let mut metrics = Vec::with_capacity(series.len());
        for (key, value) in series.iter() {
            let values: Vec<&str> = key.split(SEP).collect();
            debug_assert_eq!(values.len(), self.labels.len());
            let mut m = proto::Metric::default();
            m.set_label(
                self.order
                    .iter()
                    .map(|&i| {
                        let mut l = proto::LabelPair::default();
                        l.set_name(self.labels[i].clone());
                        l.set_value(values.get(i).copied().unwrap_or("").to_string());
                        l
                    })
                    .collect(),
            );
            let v = value.load(Ordering::Relaxed) as f64;
            if self.kind == MetricType::COUNTER {
                let mut c = proto::Counter::default();
                c.set_value(v);
                m.set_counter(c);
            } else {
                let mut g = proto::Gauge::default();
                g.set_value(v);
                m.set_gauge(g);
            }
            metrics.push(m);
        }
        if metrics.is_empty() {
            return Vec::new();
        }
        let mut mf = MetricFamily::default();
        mf.set_name(self.desc.fq_name.clone());
        mf.set_help(self.desc.help.clone());
        mf.set_field_type(self.kind);
        mf.set_metric(metrics);
        vec![mf]
    }
}

/// Integer gauges by label values (`prometheus::IntGaugeVec`'s use here).
#[derive(Debug, Clone)]
pub struct GaugeVec(Arc<Family>);

/// Integer counters by label values (`prometheus::IntCounterVec`'s use here).
#[derive(Debug, Clone)]
pub struct CounterVec(Arc<Family>);

/// One gauge series.
#[derive(Debug, Clone)]
pub struct Gauge(Arc<AtomicI64>);

/// One counter series.
#[derive(Debug, Clone)]
pub struct Counter(Arc<AtomicI64>);

impl GaugeVec {
    pub fn new(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<GaugeVec> {
        Family::new(name, help, labels, MetricType::GAUGE).map(|f| GaugeVec(Arc::new(f)))
    }

    /// The series with these label values (in declared order), at 0 when new.
    pub fn with_label_values<V: AsRef<str>>(&self, values: &[V]) -> Gauge {
        Gauge(self.0.series(values))
    }

    /// Drops the series with these label values; false if there was none.
    pub fn remove_label_values<V: AsRef<str>>(&self, values: &[V]) -> bool {
        self.0.remove(values)
    }
}

impl CounterVec {
    pub fn new(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<CounterVec> {
        Family::new(name, help, labels, MetricType::COUNTER).map(|f| CounterVec(Arc::new(f)))
    }

    /// The series with these label values (in declared order), at 0 when new.
    pub fn with_label_values<V: AsRef<str>>(&self, values: &[V]) -> Counter {
        Counter(self.0.series(values))
    }

    /// Drops the series with these label values; false if there was none.
    pub fn remove_label_values<V: AsRef<str>>(&self, values: &[V]) -> bool {
        self.0.remove(values)
    }
}

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Counter {
    pub fn inc(&self) {
        self.inc_by(1);
    }

    pub fn inc_by(&self, v: u64) {
        self.0.fetch_add(v as i64, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed) as u64
    }
}

impl Collector for GaugeVec {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.0.collect()
    }
}

impl Collector for CounterVec {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.0.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Encoder, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

    fn text(r: &Registry) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&r.gather(), &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    /// The same series through these types and through `prometheus`'s
    /// own give the same exposition, byte for byte.
    #[test]
    fn exposition_is_what_prometheus_vecs_give() {
        let ours = Registry::new_custom(Some("wgbgp".into()), None).unwrap();
        let theirs = Registry::new_custom(Some("wgbgp".into()), None).unwrap();
        let labels = ["peer", "peer_as", "name", "afi"];
        let g = GaugeVec::new("prefixes", "Prefixes", &labels).unwrap();
        let c = CounterVec::new("messages_total", "Messages", &["peer", "type"]).unwrap();
        ours.register(Box::new(g.clone())).unwrap();
        ours.register(Box::new(c.clone())).unwrap();
        let pg = IntGaugeVec::new(Opts::new("prefixes", "Prefixes"), &labels).unwrap();
        let pc =
            IntCounterVec::new(Opts::new("messages_total", "Messages"), &["peer", "type"]).unwrap();
        theirs.register(Box::new(pg.clone())).unwrap();
        theirs.register(Box::new(pc.clone())).unwrap();
        for (peer, n) in [("3.3.3.3", 7), ("2.2.2.2", -1)] {
            for afi in ["ipv6", "ipv4"] {
                let l = [peer, "65501", "s", afi];
                g.with_label_values(&l).set(n);
                pg.with_label_values(&l).set(n);
            }
            c.with_label_values(&[peer, "update"]).inc_by(3);
            c.with_label_values(&[peer, "update"]).inc();
            pc.with_label_values(&[peer, "update"]).inc_by(4);
            c.with_label_values(&[peer, "open"]);
            pc.with_label_values(&[peer, "open"]);
        }
        assert_eq!(text(&ours), text(&theirs));
        assert!(text(&ours).contains(
            "wgbgp_prefixes{afi=\"ipv4\",name=\"s\",peer=\"2.2.2.2\",peer_as=\"65501\"} -1"
        ));
        assert_eq!(c.with_label_values(&["2.2.2.2", "update"]).get(), 4);
        assert_eq!(
            g.with_label_values(&["3.3.3.3", "65501", "s", "ipv4"])
                .get(),
            7
        );
    }

    #[test]
    fn a_family_without_series_is_not_exposed() {
        let r = Registry::new();
        r.register(Box::new(GaugeVec::new("x", "X", &["a"]).unwrap()))
            .unwrap();
        assert_eq!(text(&r), "");
    }
}

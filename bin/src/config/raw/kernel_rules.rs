//! Validation of `kernel:`: the FIB table and metric, loop prevention (`fwmark`, the underlay
//! table) and the `rules:` list of ip rules.

use rib::kernel::IpRule;
use rib::kernel::rules::Family;

use super::*;

/// One entry of `kernel.rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIpRule {
    from: Option<String>,
    to: Option<String>,
    fwmark: Option<u32>,
    iif: Option<String>,
    priority: Option<u32>,
    table: Option<u32>,
}

pub(super) fn kernel(cx: &mut Ctx, raw: Option<&RawKernel>) -> KernelConfig {
    let d = KernelConfig::default();
    let get = |f: fn(&RawKernel) -> Option<u32>, default| raw.and_then(f).unwrap_or(default);
    let k = KernelConfig {
        table: get(|k| k.table, d.table),
        metric: get(|k| k.metric, d.metric),
        fwmark: get(|k| k.fwmark, d.fwmark),
        underlay_table: get(|k| k.underlay_table, d.underlay_table),
        underlay_priority: get(|k| k.underlay_priority, d.underlay_priority),
        nexthop_objects: raw
            .and_then(|k| k.nexthop_objects)
            .unwrap_or(d.nexthop_objects),
        rules: raw.map_or(Vec::new(), |k| {
            (k.rules.iter().enumerate())
                .flat_map(|(i, r)| rule(cx, format!("kernel.rules[{i}]"), r))
                .collect()
        }),
    };
    if reserved(k.table) {
        cx.err("kernel.table", Problem::ReservedTable(k.table));
    }
    if k.fwmark != 0 && reserved(k.underlay_table) {
        cx.err(
            "kernel.underlay_table",
            Problem::ReservedTable(k.underlay_table),
        );
    }
    if k.fwmark != 0 && k.underlay_table == k.table {
        cx.err(
            "kernel.underlay_table",
            Problem::Other(format!(
                "must differ from kernel.table ({}): the underlay table must not hold BGP routes",
                k.table
            )),
        );
    }
    k
}

/// Table 0 is "unspecified" and 255 the kernel's `local` table.
fn reserved(table: u32) -> bool {
    table == 0 || table == 255
}

/// One `kernel.rules` entry as one rule, or two (IPv4 and IPv6) when it names no prefix.
fn rule(cx: &mut Ctx, key: String, r: &RawIpRule) -> Vec<IpRule> {
    let mut ok = true;
    let mut prefix = |cx: &mut Ctx, field: &str, v: &Option<String>| {
        let p = v
            .as_ref()
            .and_then(|s| cx.prefix(format!("{key}.{field}"), s));
        ok &= v.is_none() || p.is_some();
        p
    };
    let from = prefix(cx, "from", &r.from);
    let to = prefix(cx, "to", &r.to);
    let table = match r.table {
        None => {
            cx.err(key.clone(), Problem::Missing("table"));
            None
        }
        Some(t) if reserved(t) => {
            cx.err(format!("{key}.table"), Problem::ReservedTable(t));
            None
        }
        Some(t) => Some(t),
    };
    let priority = r.priority;
    if priority.is_none() {
        cx.err(key.clone(), Problem::Missing("priority"));
    }
    if let Some(iif) = &r.iif
        && let Err(reason) = check_ifname(iif)
    {
        cx.err(
            format!("{key}.iif"),
            Problem::BadInterfaceName {
                name: iif.clone(),
                reason,
            },
        );
        ok = false;
    }
    let families = match (from, to) {
        (Some(f), Some(t)) if f.addr().is_ipv4() != t.addr().is_ipv4() => {
            cx.err(format!("{key}.to"), Problem::MixedFamilies);
            return Vec::new();
        }
        (Some(p), _) | (None, Some(p)) if p.addr().is_ipv4() => vec![Family::V4],
        (Some(_), _) | (None, Some(_)) => vec![Family::V6],
        (None, None) => vec![Family::V4, Family::V6],
    };
    let (Some(table), Some(priority), true) = (table, priority, ok) else {
        return Vec::new();
    };
    families
        .into_iter()
        .map(|family| IpRule {
            family,
            priority,
            from,
            to,
            fwmark: r.fwmark,
            iif: r.iif.clone(),
            table,
        })
        .collect()
}

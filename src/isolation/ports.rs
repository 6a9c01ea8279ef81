//! Sets of (protocol, port): what a rule allows, what a connection may use.

use std::fmt;

use crate::deployments::Protocol;

const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

fn index(p: Protocol) -> usize {
    match p {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
        Protocol::Sctp => 2,
    }
}

/// A protocol as a NetworkPolicy or a container port spells it (`TCP` when
/// absent); `None` for anything else.
pub fn protocol(s: Option<&str>) -> Option<Protocol> {
    match s.unwrap_or("TCP") {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        _ => None,
    }
}

/// Ports per protocol, as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSet {
    ranges: [Vec<(u16, u16)>; 3],
}

impl PortSet {
    pub fn none() -> Self {
        Self::default()
    }

    /// Every port of every protocol.
    pub fn all() -> Self {
        Self {
            ranges: [
                vec![(1, u16::MAX)],
                vec![(1, u16::MAX)],
                vec![(1, u16::MAX)],
            ],
        }
    }

    /// Every port of one protocol.
    pub fn protocol(p: Protocol) -> Self {
        Self::range(p, 1, u16::MAX)
    }

    pub fn range(p: Protocol, from: u16, to: u16) -> Self {
        let mut s = Self::none();
        if from <= to {
            s.ranges[index(p)].push((from.max(1), to));
        }
        s
    }

    pub fn port(p: Protocol, port: u16) -> Self {
        Self::range(p, port, port)
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.iter().all(Vec::is_empty)
    }

    pub fn is_all(&self) -> bool {
        *self == Self::all()
    }

    pub fn contains(&self, p: Protocol, port: u16) -> bool {
        self.ranges[index(p)]
            .iter()
            .any(|&(a, b)| a <= port && port <= b)
    }

    pub fn union_with(&mut self, other: &PortSet) {
        for (mine, theirs) in self.ranges.iter_mut().zip(&other.ranges) {
            if theirs.is_empty() {
                continue;
            }
            mine.extend_from_slice(theirs);
            mine.sort_unstable();
            let mut merged: Vec<(u16, u16)> = Vec::with_capacity(mine.len());
            for &(a, b) in mine.iter() {
                match merged.last_mut() {
                    Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                    _ => merged.push((a, b)),
                }
            }
            *mine = merged;
        }
    }

    /// Whether some port is in both (without building the intersection).
    pub fn intersects(&self, other: &PortSet) -> bool {
        self.ranges.iter().zip(&other.ranges).any(|(x, y)| {
            let (mut a, mut b) = (0, 0);
            while a < x.len() && b < y.len() {
                if x[a].0.max(y[b].0) <= x[a].1.min(y[b].1) {
                    return true;
                }
                if x[a].1 < y[b].1 {
                    a += 1;
                } else {
                    b += 1;
                }
            }
            false
        })
    }

    pub fn intersect(&self, other: &PortSet) -> PortSet {
        let mut out = PortSet::none();
        for (i, (x, y)) in self.ranges.iter().zip(&other.ranges).enumerate() {
            let (mut a, mut b) = (0, 0);
            while a < x.len() && b < y.len() {
                let lo = x[a].0.max(y[b].0);
                let hi = x[a].1.min(y[b].1);
                if lo <= hi {
                    out.ranges[i].push((lo, hi));
                }
                if x[a].1 < y[b].1 {
                    a += 1;
                } else {
                    b += 1;
                }
            }
        }
        out
    }

    /// `TCP 8080`, `TCP 32000-32768`, `UDP all`: one entry per range.
    pub fn describe(&self) -> Vec<String> {
        if self.is_all() {
            return vec!["all".into()];
        }
        let mut out = Vec::new();
        for p in PROTOCOLS {
            for &(a, b) in &self.ranges[index(p)] {
                out.push(match (a, b) {
                    (1, u16::MAX) => format!("{} all", p.as_str()),
                    (a, b) if a == b => format!("{} {a}", p.as_str()),
                    (a, b) => format!("{} {a}-{b}", p.as_str()),
                });
            }
        }
        out
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.describe().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unions_merge_and_intersections_cut() {
        let mut s = PortSet::port(Protocol::Tcp, 80);
        s.union_with(&PortSet::range(Protocol::Tcp, 81, 90));
        s.union_with(&PortSet::port(Protocol::Tcp, 443));
        s.union_with(&PortSet::port(Protocol::Udp, 53));
        assert_eq!(s.describe(), ["TCP 80-90", "TCP 443", "UDP 53"]);
        let cut = s.intersect(&PortSet::range(Protocol::Tcp, 85, 500));
        assert_eq!(cut.to_string(), "TCP 85-90, TCP 443");
        assert!(cut.contains(Protocol::Tcp, 443) && !cut.contains(Protocol::Tcp, 80));
        assert!(PortSet::all().intersect(&PortSet::none()).is_empty());
        assert!(s.intersects(&PortSet::port(Protocol::Tcp, 85)));
        assert!(!s.intersects(&PortSet::range(Protocol::Tcp, 91, 442)));
        assert!(!s.intersects(&PortSet::port(Protocol::Sctp, 80)));
        assert_eq!(PortSet::all().intersect(&s), s);
        assert_eq!(PortSet::protocol(Protocol::Sctp).to_string(), "SCTP all");
    }
}

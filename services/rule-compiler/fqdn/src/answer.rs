//! Pure DNS message work for the proxy: what an answer teaches, and the replies it builds.

use std::net::IpAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record};

use crate::selector::normalize;

/// CNAME hops followed inside one answer, as upstream.
pub(crate) const MAX_HOPS: usize = 10;

/// The normalized text form of a DNS name.
pub(crate) fn fqdn(name: &Name) -> String {
    normalize(&name.to_ascii())
}

/// What one answer teaches: the names of a CNAME chain and the addresses at them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Chain {
    /// Normalized; the queried name first.
    pub names: Vec<String>,
    /// `(address, TTL in seconds)`.
    pub ips: Vec<(IpAddr, u32)>,
}

/// The CNAME chain from `qname` through the answer section and the addresses at its names.
/// Loops end the chain; so do [`MAX_HOPS`] hops. Records not on the chain are ignored, so an
/// answer cannot attach addresses to names nobody asked for.
pub(crate) fn chain(qname: &str, answers: &[Record]) -> Chain {
    let mut names = vec![normalize(qname)];
    for _ in 0..MAX_HOPS {
        let current = names.last().expect("non-empty");
        let next = answers.iter().find_map(|r| match r.data() {
            RData::CNAME(target) if fqdn(r.name()) == *current => Some(fqdn(&target.0)),
            _ => None,
        });
        match next {
            Some(next) if !names.contains(&next) => names.push(next),
            _ => break,
        }
    }
    let ips = answers
        .iter()
        .filter_map(|r| {
            let ip = match r.data() {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
                _ => return None,
            };
            names.contains(&fqdn(r.name())).then_some((ip, r.ttl()))
        })
        .collect();
    Chain { names, ips }
}

/// The REFUSED reply to `query` (same id, opcode, RD and question).
pub(crate) fn refused(query: &Message) -> Message {
    let mut reply = Message::error_msg(query.id(), query.op_code(), ResponseCode::Refused);
    reply
        .set_recursion_desired(query.recursion_desired())
        .add_queries(query.queries().iter().cloned());
    reply
}

/// `response` as sent over UDP to a client that accepts `limit` bytes: unchanged when it
/// fits, otherwise with TC set and the record sections dropped, so the client retries over
/// TCP. Returns the bytes and whether it truncated.
pub(crate) fn fit_udp(raw: Vec<u8>, response: &Message, limit: u16) -> (Vec<u8>, bool) {
    if raw.len() <= usize::from(limit) {
        return (raw, false);
    }
    match response.truncate().to_vec() {
        Ok(bytes) => (bytes, true),
        // Cannot happen for a message that was just parsed; an empty TC header is still right.
        Err(_) => {
            let mut header = raw[..12.min(raw.len())].to_vec();
            header.resize(12, 0);
            header[2] |= 0x02;
            header[4..].fill(0);
            (header, true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode, Query};
    use hickory_proto::rr::RecordType;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, TXT};

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }
    fn a(owner: &str, ip: &str, ttl: u32) -> Record {
        Record::from_rdata(n(owner), ttl, RData::A(A(ip.parse().unwrap())))
    }
    fn aaaa(owner: &str, ip: &str, ttl: u32) -> Record {
        Record::from_rdata(n(owner), ttl, RData::AAAA(AAAA(ip.parse().unwrap())))
    }
    fn cname(owner: &str, target: &str) -> Record {
        Record::from_rdata(n(owner), 60, RData::CNAME(CNAME(n(target))))
    }

    #[test]
    fn direct_addresses_of_the_qname() {
        let Chain { names, ips } = chain(
            "Example.COM",
            &[
                a("example.com.", "192.0.2.1", 30),
                aaaa("EXAMPLE.com.", "2001:db8::1", 40),
            ],
        );
        assert_eq!(names, ["example.com."]);
        assert_eq!(
            ips,
            [
                ("192.0.2.1".parse().unwrap(), 30),
                ("2001:db8::1".parse().unwrap(), 40)
            ]
        );
    }

    #[test]
    fn cname_chain_in_any_order() {
        let answers = [
            a("c.net.", "192.0.2.9", 20),
            cname("b.org.", "c.net."),
            cname("www.example.com.", "B.org."),
            a("unrelated.com.", "198.51.100.1", 20),
            Record::from_rdata(n("c.net."), 5, RData::TXT(TXT::new(vec!["x".into()]))),
        ];
        let Chain { names, ips } = chain("www.example.com.", &answers);
        assert_eq!(names, ["www.example.com.", "b.org.", "c.net."]);
        assert_eq!(ips, [("192.0.2.9".parse().unwrap(), 20)]);
    }

    #[test]
    fn cname_loops_and_long_chains_end() {
        let Chain { names, ips } = chain(
            "a.com.",
            &[
                cname("a.com.", "b.com."),
                cname("b.com.", "a.com."),
                a("b.com.", "192.0.2.1", 5),
            ],
        );
        assert_eq!(names, ["a.com.", "b.com."]);
        assert_eq!(ips.len(), 1);

        let long: Vec<Record> = (0..20)
            .map(|i| cname(&format!("h{i}.com."), &format!("h{}.com.", i + 1)))
            .chain([a("h20.com.", "192.0.2.1", 5)])
            .collect();
        let Chain { names, ips } = chain("h0.com.", &long);
        assert_eq!(names.len(), MAX_HOPS + 1);
        assert_eq!(names.last().unwrap(), "h10.com.");
        assert!(
            ips.is_empty(),
            "addresses beyond the hop limit are not learned"
        );
    }

    fn query(id: u16) -> Message {
        let mut q = Message::new();
        q.set_id(id)
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(true)
            .add_query(Query::query(n("example.com."), RecordType::A));
        q
    }

    #[test]
    fn refused_keeps_id_and_question() {
        let reply = Message::from_vec(&refused(&query(4711)).to_vec().unwrap()).unwrap();
        assert_eq!(reply.id(), 4711);
        assert_eq!(reply.message_type(), MessageType::Response);
        assert_eq!(reply.response_code(), ResponseCode::Refused);
        assert!(reply.recursion_desired());
        assert_eq!(reply.queries(), query(4711).queries());
    }

    #[test]
    fn fit_udp_truncates_only_what_does_not_fit() {
        let mut response = query(7);
        response.set_message_type(MessageType::Response);
        for i in 0..40u8 {
            response.add_answer(a("example.com.", &format!("192.0.2.{i}"), 60));
        }
        let raw = response.to_vec().unwrap();
        assert!(raw.len() > 512);

        let (same, truncated) = fit_udp(raw.clone(), &response, 4096);
        assert!(!truncated);
        assert_eq!(same, raw);

        let (bytes, truncated) = fit_udp(raw, &response, 512);
        assert!(truncated);
        assert!(bytes.len() <= 512);
        let cut = Message::from_vec(&bytes).unwrap();
        assert!(cut.truncated());
        assert_eq!(cut.id(), 7);
        assert!(cut.answers().is_empty());
        assert_eq!(cut.queries(), response.queries());
    }
}

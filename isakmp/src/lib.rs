//! ISAKMP/IKEv1 wire format (RFC 2408/2407/2409, NAT-T): headers, payloads, attributes; no crypto state.

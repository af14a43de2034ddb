//! PF_KEY v2 (RFC 2367 + KAME/Linux extensions): typed messages, codec, client transport.

//! Userspace IPsec "kernel": SAD and SPD with PF_KEY semantics (sans-I/O core),
//! and, behind the `io` feature, the PF_KEY unix-socket server used by `ipsecd`.
